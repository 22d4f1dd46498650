import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { certificateSource, webhookConfigurationsOwner } from '../operator/swell.js';
import { crdsDirOf, parseOperatorFlags, type OperatorFlags } from './operator.js';

describe('swell operator flags', () => {
  it('defaults: all namespaces, ports 8080/8081, leader election on, own namespace from POD_NAMESPACE', () => {
    expect(parseOperatorFlags([], { POD_NAMESPACE: 'autoscaling', KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toMatchObject({
      metricsPort: 8080,
      healthPort: 8081,
      leaderElect: true,
      shards: 1,
      leaseNamespace: 'autoscaling',
      clusterAuthNamespace: 'autoscaling',
      maxReconciles: 5,
      logLevel: 'info',
      local: false,
      metricsApi: { enabled: true, port: 6443, serviceName: 'swell-metrics-apiserver', publishCaBundle: true },
      webhooks: { enabled: true, port: 9443, serviceName: 'swell-webhooks', configurationName: 'swell-admission', validateKeda: true },
      certSecret: 'swell-certs',
      burst: true,
      shutdownDelayMs: 5000,
      installCrds: false,
    });
    expect(parseOperatorFlags([], {})).toMatchObject({ leaseNamespace: 'swell-system', clusterAuthNamespace: 'swell-system' });
  });

  it('reads every flag', () => {
    const argv = [
      '--kubeconfig',
      '/k',
      '--namespace',
      'team-a',
      '--metrics-port',
      '0',
      '--health-port',
      '9',
      '--leader-elect',
      'false',
      '--lease-namespace',
      'l',
      '--cluster-auth-namespace',
      'c',
      '--max-reconciles',
      '20',
      '--log-level',
      'debug',
    ];
    expect(parseOperatorFlags(argv, {})).toMatchObject({
      kubeconfig: '/k',
      namespace: 'team-a',
      metricsPort: 0,
      healthPort: 9,
      leaderElect: false,
      leaseNamespace: 'l',
      clusterAuthNamespace: 'c',
      maxReconciles: 20,
      logLevel: 'debug',
    });
  });

  it('splits the ScaledObjects into shards only with leader election', () => {
    expect(parseOperatorFlags(['--shards', '6'], {})).toMatchObject({ shards: 6 });
    expect(parseOperatorFlags([], { SWELL_SHARDS: '4' })).toMatchObject({ shards: 4 });
    expect(parseOperatorFlags(['--shards', '2'], { SWELL_SHARDS: '4' })).toMatchObject({ shards: 2 });
    expect(() => parseOperatorFlags(['--shards', '0'], {})).toThrow('--shards: "0" is not a positive integer');
    expect(() => parseOperatorFlags(['--shards', '3', '--leader-elect', 'false'], {})).toThrow('--shards: sharding needs --leader-elect true');
    expect(parseOperatorFlags(['--shards', '1', '--leader-elect', 'false'], {})).toMatchObject({ shards: 1, leaderElect: false });
  });

  it('takes an upstream metrics server as a Service or a URL, with the pod token by default', () => {
    const upstreamOf = (argv: string[], env: Record<string, string>) => (parseOperatorFlags(argv, env) as OperatorFlags).upstreamMetrics;
    expect(upstreamOf([], {})).toBeUndefined();
    expect(upstreamOf(['--upstream-metrics-service', 'monitoring/prometheus-adapter'], {})).toEqual({
      url: 'https://prometheus-adapter.monitoring.svc:443',
      tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    });
    const env = {
      SWELL_UPSTREAM_METRICS_URL: 'https://127.0.0.1:6443',
      SWELL_UPSTREAM_METRICS_CA_FILE: '/ca.crt',
      SWELL_UPSTREAM_METRICS_TOKEN_FILE: '/token',
    };
    expect(upstreamOf([], env)).toEqual({ url: 'https://127.0.0.1:6443', caFile: '/ca.crt', tokenFile: '/token' });
    expect(upstreamOf(['--upstream-metrics-service', 'm/a:8443'], env)).toMatchObject({ url: 'https://a.m.svc:8443', caFile: '/ca.crt' });
  });

  it('outside a pod runs locally: free ports for the metrics API and webhooks', () => {
    expect(parseOperatorFlags([], {})).toMatchObject({ local: true, metricsApi: { port: 0 }, webhooks: { port: 0 }, shutdownDelayMs: 0 });
    expect(parseOperatorFlags(['--shutdown-delay', '2'], {})).toMatchObject({ shutdownDelayMs: 2000 });
  });

  it('reads the chart environment, flags winning', () => {
    const env = {
      KUBERNETES_SERVICE_HOST: 'x',
      SWELL_METRICS_API_PORT: '7443',
      SWELL_METRICS_API_SERVICE: 'm',
      SWELL_PUBLISH_APISERVICE_CA: 'false',
      SWELL_WEBHOOKS_PORT: '10443',
      SWELL_WEBHOOKS_SERVICE: 'w',
      SWELL_WEBHOOK_CONFIGURATION: 'cfg',
      SWELL_VALIDATE_KEDA: 'false',
      SWELL_CERT_DIR: '/certs',
      SWELL_CERT_SECRET: 's',
      SWELL_BURST: 'false',
      SWELL_VIRTUAL_NODE_METRICS_URL: 'http://vn:10255/metrics',
    };
    expect(parseOperatorFlags([], env)).toMatchObject({
      metricsApi: { port: 7443, serviceName: 'm', publishCaBundle: false },
      webhooks: { port: 10443, serviceName: 'w', configurationName: 'cfg', validateKeda: false },
      certDir: '/certs',
      certSecret: 's',
      burst: false,
      virtualNodeMetricsUrl: 'http://vn:10255/metrics',
    });
    expect(parseOperatorFlags(['--metrics-api-port', '1', '--burst', 'true', '--install-crds', '--crds-dir', '/c'], env)).toMatchObject({
      metricsApi: { port: 1 },
      burst: true,
      installCrds: true,
      crdsDir: '/c',
    });
  });

  it.each([
    { argv: ['--metrics-port', '70000'], error: '--metrics-port' },
    { argv: ['--health-port', 'x'], error: '--health-port' },
    { argv: ['--leader-elect', 'maybe'], error: '--leader-elect' },
    { argv: ['--max-reconciles', '0'], error: '--max-reconciles' },
    { argv: ['--log-level', 'loud'], error: '--log-level' },
    { argv: ['--local', 'perhaps'], error: '--local' },
    { argv: ['--metrics-api-port', '-1'], error: '--metrics-api-port' },
    { argv: ['--webhooks-port', '99999'], error: '--webhooks-port' },
    { argv: ['--virtual-node-metrics-url', 'not a url'], error: '--virtual-node-metrics-url' },
    { argv: ['--shutdown-delay', '1.5'], error: '--shutdown-delay' },
    { argv: ['--shutdown-delay', '25'], error: '--shutdown-delay' },
    { argv: ['--bogus'], error: 'bogus' },
    { argv: ['--upstream-metrics-service', 'prometheus-adapter'], error: '--upstream-metrics-service' },
    { argv: ['--upstream-metrics-url', 'http://adapter:443'], error: '--upstream-metrics-url' },
    { argv: ['--upstream-metrics-url', 'https://a', '--upstream-metrics-service', 'm/a'], error: 'give one, not both' },
  ])('rejects $argv naming the flag', ({ argv, error }) => {
    expect(() => parseOperatorFlags(argv, {})).toThrow(error);
  });

  it('asks for help', () => {
    expect(parseOperatorFlags(['--help'], {})).toBe('help');
  });
});

function flagsOf(argv: string[], env: Record<string, string> = {}): OperatorFlags {
  const flags = parseOperatorFlags(argv, env);
  if (flags === 'help') throw new Error('unexpected help');
  return flags;
}

describe('the certificate both TLS servers share', () => {
  it('is generated into one Secret naming the metrics API and webhooks Services of the own namespace', () => {
    const env = {
      KUBERNETES_SERVICE_HOST: 'x',
      POD_NAMESPACE: 'autoscaling',
      SWELL_CERT_SECRET: 'r-certs',
      SWELL_METRICS_API_SERVICE: 'r-metrics',
      SWELL_WEBHOOKS_SERVICE: 'r-webhooks',
    };
    expect(certificateSource(flagsOf([], env))).toEqual({
      kind: 'generated',
      identity: { serviceName: 'r-metrics', additionalServiceNames: ['r-webhooks'], namespace: 'autoscaling' },
      secretName: 'r-certs',
    });
  });

  it("is cert-manager's files when a cert dir is given", () => {
    expect(certificateSource(flagsOf(['--cert-dir', '/certs']))).toEqual({
      kind: 'files',
      files: { certificateFile: '/certs/tls.crt', privateKeyFile: '/certs/tls.key', caFile: '/certs/ca.crt' },
    });
  });
});

describe('who owns the webhook configurations', () => {
  it.each([
    ['a local run', ['--local', 'true'], 'local'],
    ['a local run with certificate files', ['--local', 'true', '--cert-dir', '/c'], 'local'],
    ['a pod with a generated certificate: only the caBundles are written', ['--local', 'false'], 'chart'],
    ["a pod with cert-manager's files: its CA injector writes the caBundles", ['--local', 'false', '--cert-dir', '/c'], 'injected'],
  ])('%s: %s', (_, argv, owner) => {
    expect(webhookConfigurationsOwner(flagsOf(argv))).toBe(owner);
  });
});

describe('where --install-crds finds the CRDs', () => {
  const repo = join(import.meta.dirname, '..', '..');
  it.each([
    { layout: 'the TypeScript sources', module: join(repo, 'src', 'cli', 'operator.ts') },
    { layout: 'the compiled CLI (dist/)', module: join(repo, 'dist', 'src', 'cli', 'operator.js') },
  ])('from $layout: the crds/ folder of the checkout', ({ module }) => {
    expect(crdsDirOf({}, pathToFileURL(module).href)).toBe(join(repo, 'crds'));
  });

  it('--crds-dir wins', () => {
    expect(crdsDirOf({ crdsDir: '/somewhere' }, pathToFileURL(join(repo, 'src', 'cli', 'operator.ts')).href)).toBe('/somewhere');
  });

  it('in a layout without crds/ (the image) says so, where it looked, and what to do instead', () => {
    const image = pathToFileURL('/app/dist/src/cli/operator.js').href;
    expect(() => crdsDirOf({}, image)).toThrow(/no CRD files found \(looked in \/app\/dist\/crds, \/app\/crds\).*kubectl apply -f crds\/.*--crds-dir/);
  });
});
