import { describe, expect, it } from 'vitest';
import { parseOperatorFlags } from './operator.js';

describe('swell operator flags', () => {
  it('defaults: all namespaces, ports 8080/8081, leader election on, own namespace from POD_NAMESPACE', () => {
    expect(parseOperatorFlags([], { POD_NAMESPACE: 'autoscaling' })).toEqual({
      metricsPort: 8080,
      healthPort: 8081,
      leaderElect: true,
      leaseNamespace: 'autoscaling',
      clusterAuthNamespace: 'autoscaling',
      maxReconciles: 5,
      logLevel: 'info',
    });
    expect(parseOperatorFlags([], {})).toMatchObject({ leaseNamespace: 'swell-system', clusterAuthNamespace: 'swell-system' });
  });

  it('reads every flag', () => {
    const argv = ['--kubeconfig', '/k', '--namespace', 'team-a', '--metrics-port', '0', '--health-port', '9', '--leader-elect', 'false', '--lease-namespace', 'l', '--cluster-auth-namespace', 'c', '--max-reconciles', '20', '--log-level', 'debug'];
    expect(parseOperatorFlags(argv, {})).toEqual({ kubeconfig: '/k', namespace: 'team-a', metricsPort: 0, healthPort: 9, leaderElect: false, leaseNamespace: 'l', clusterAuthNamespace: 'c', maxReconciles: 20, logLevel: 'debug' });
  });

  it.each([
    { argv: ['--metrics-port', '70000'], error: '--metrics-port' },
    { argv: ['--health-port', 'x'], error: '--health-port' },
    { argv: ['--leader-elect', 'maybe'], error: '--leader-elect' },
    { argv: ['--max-reconciles', '0'], error: '--max-reconciles' },
    { argv: ['--log-level', 'loud'], error: '--log-level' },
    { argv: ['--bogus'], error: 'bogus' },
  ])('rejects $argv naming the flag', ({ argv, error }) => {
    expect(() => parseOperatorFlags(argv, {})).toThrow(error);
  });

  it('asks for help', () => {
    expect(parseOperatorFlags(['--help'], {})).toBe('help');
  });
});
