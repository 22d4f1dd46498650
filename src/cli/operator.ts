import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createScaler } from '../../scalers/registry.js';
import { ConnectionPool } from '../../scalers/connection-pool.js';
import { SharedReads } from '../../scalers/shared-reads.js';
import { loadKubeConfig } from '../kube/config.js';
import { createKubeLeaseStore } from '../kube/lease-store.js';
import { createKubeListWatchSource } from '../kube/list-watch.js';
import { createLogger } from '../log.js';
import { serveHealth, serveMetrics } from '../operator/http-endpoints.js';
import { createHttpKubeClient } from '../operator/kube-client.js';
import { Operator } from '../operator/operator.js';

const help = `usage: swell operator [options]

Runs the ScaledObject operator: watches KEDA ScaledObjects, owns their HPAs, polls their triggers and scales
their targets to and from zero. Works in a pod (service account) or from a workstation (kubeconfig).

options:
  --kubeconfig FILE            kubeconfig to use (default: KUBECONFIG, in-cluster, ~/.kube/config)
  --namespace NS               watch only this namespace (default: all namespaces)
  --metrics-port PORT          serve /metrics on this port (default 8080; 0 picks a free port)
  --health-port PORT           serve /healthz and /readyz on this port (default 8081; 0 picks a free port)
  --leader-elect BOOL          campaign on a Lease so only one replica acts (default true)
  --lease-namespace NS         namespace of the Lease (default: POD_NAMESPACE or swell-system)
  --cluster-auth-namespace NS  where ClusterTriggerAuthentication secrets live (default: POD_NAMESPACE or swell-system)
  --max-reconciles N           ScaledObjects reconciled at once (default 5)
  --log-level LEVEL            trace, debug, info, warn or error (default info)
`;

const LEASE_NAME = 'swell-operator';

interface OperatorFlags {
  kubeconfig?: string;
  namespace?: string;
  metricsPort: number;
  healthPort: number;
  leaderElect: boolean;
  leaseNamespace: string;
  clusterAuthNamespace: string;
  maxReconciles: number;
  logLevel: string;
}

/** Parses the flags; throws with a message naming the bad flag. */
export function parseOperatorFlags(argv: string[], env: Record<string, string | undefined> = process.env): OperatorFlags | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'leader-elect': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'cluster-auth-namespace': { type: 'string' },
      'max-reconciles': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const ownNamespace = env.POD_NAMESPACE || 'swell-system';
  const level = values['log-level'] ?? env.SWELL_LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new Error(`--log-level: unknown level "${level}"`);
  return {
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    metricsPort: port('--metrics-port', values['metrics-port'] ?? '8080'),
    healthPort: port('--health-port', values['health-port'] ?? '8081'),
    leaderElect: bool('--leader-elect', values['leader-elect'] ?? 'true'),
    leaseNamespace: values['lease-namespace'] ?? ownNamespace,
    clusterAuthNamespace: values['cluster-auth-namespace'] ?? ownNamespace,
    maxReconciles: positiveInt('--max-reconciles', values['max-reconciles'] ?? '5'),
    logLevel: level,
  };
}

function port(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65535) throw new Error(`${flag}: "${raw}" is not a port number`);
  return value;
}

function positiveInt(flag: string, raw: string): number {
  if (!/^[1-9]\d*$/.test(raw)) throw new Error(`${flag}: "${raw}" is not a positive integer`);
  return Number(raw);
}

function bool(flag: string, raw: string): boolean {
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new Error(`${flag}: "${raw}" is not true or false`);
}

function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'swell' && parsed.version) return parsed.version;
    } catch {
      // not in this layout; try the next
    }
  }
  return 'unknown';
}

export async function operatorCommand(argv: string[]): Promise<number> {
  let flags: OperatorFlags | 'help';
  try {
    flags = parseOperatorFlags(argv);
  } catch (err) {
    process.stderr.write(`swell operator: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if (flags === 'help') {
    process.stdout.write(help);
    return 0;
  }
  const log = createLogger({ name: 'operator', level: flags.logLevel });
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig({ ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}) });
  } catch (err) {
    process.stderr.write(`swell operator: ${(err as Error).message}\n`);
    return 2;
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const clock = { now: () => new Date() };
  const scalerDeps = { clock, log: log.child({ component: 'scalers' }), reads: new SharedReads(clock), connections: new ConnectionPool({ maxConcurrentPerServer: 16 }) };
  const identity = `${process.env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`;
  const operator = new Operator({
    client: createHttpKubeClient(kubeConfig),
    listWatch: (path) => createKubeListWatchSource(kubeConfig, path),
    ...(flags.leaderElect ? { leaseStore: createKubeLeaseStore(kubeConfig, { namespace: flags.leaseNamespace, name: LEASE_NAME }) } : {}),
    identity,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    clusterAuthNamespace: flags.clusterAuthNamespace,
    scalerFactory: (context) => createScaler(context, scalerDeps),
    log,
    registry,
    version: packageVersion(),
    workers: flags.maxReconciles,
  });
  const metricsEndpoint = await serveMetrics(registry, flags.metricsPort);
  const healthEndpoint = await serveHealth(() => operator.ready(), flags.healthPort);
  log.info({ identity, metricsPort: metricsEndpoint.port, healthPort: healthEndpoint.port, namespace: flags.namespace ?? '(all)', leaderElect: flags.leaderElect }, 'swell operator starting');
  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    void operator.stop();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  try {
    await operator.start();
    return 0;
  } catch (err) {
    log.error({ err }, 'operator failed');
    return 1;
  } finally {
    await Promise.all([metricsEndpoint.close(), healthEndpoint.close()]);
    log.info('swell operator stopped');
  }
}
