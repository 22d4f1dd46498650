import { parseArgs } from 'node:util';
import { reportUsageError } from './usage.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/config.js';
import { createLogger, type Logger } from '../log.js';
import { createHttpKubeClient } from '../kube/client.js';
import { locateCrdsDir, noCrdsError } from '../operator/install-crds.js';
import { serviceUrl } from '../metrics-api/upstream.js';
import { createSwell, type SwellSettings } from '../operator/swell.js';
import { packageVersion } from './version.js';

const help = `usage: swell operator [options]

Runs swell in one process: the ScaledObject operator (owns the HPAs, polls triggers, scales to and from zero),
the ScaledJob controller, the external metrics API (external.metrics.k8s.io, served by every replica), the
admission webhooks (KEDA validation and the burst pod mutator) and the burst placement controller. Polling
and placement run only on the replica that leads; with --shards, replicas share the ScaledObjects' polling. Works in a pod (service account) or from a workstation
(kubeconfig; --local). The CRDs are the user's to apply (kubectl apply -f crds/) unless --install-crds.

options:
  --kubeconfig FILE             kubeconfig to use (default: KUBECONFIG, in-cluster, ~/.kube/config)
  --namespace NS                watch only this namespace (default: all namespaces)
  --metrics-port PORT           serve /metrics on this port (default 8080; 0 picks a free port)
  --health-port PORT            serve /healthz and /readyz on this port (default 8081; 0 picks a free port)
  --leader-elect BOOL           campaign on one Lease so only one replica acts (default true)
  --shards N                    split the ScaledObjects into N shards, each claimed by one replica through a Lease
                                swell-shard-<i>, so replicas share the polling (env SWELL_SHARDS; default 1: the
                                leader polls every object); needs --leader-elect
  --lease-namespace NS          namespace of the Leases (default: POD_NAMESPACE or swell-system)
  --cluster-auth-namespace NS   where ClusterTriggerAuthentication secrets live (default: POD_NAMESPACE or swell-system)
  --max-reconciles N            ScaledObjects reconciled at once (default 5)
  --local BOOL                  run from outside the cluster: serve on 127.0.0.1 and register the APIService and
                                webhooks with loopback addresses, removing them on shutdown; in a pod the chart
                                owns them and only their caBundles are written (default: true when not in a pod)
  --metrics-api BOOL            serve external.metrics.k8s.io (default true)
  --metrics-api-port PORT       its HTTPS port (env SWELL_METRICS_API_PORT; default 6443, --local 0 = free port)
  --metrics-api-service NAME    its Service (env SWELL_METRICS_API_SERVICE; default swell-metrics-apiserver)
  --upstream-metrics-service NS/NAME[:PORT]  another external metrics server (e.g. prometheus-adapter) that keeps
                                serving every metric no ScaledObject names; swell forwards those to it after the same
                                authorization check (env SWELL_UPSTREAM_METRICS_SERVICE; port default 443)
  --upstream-metrics-url URL    the same, as an https:// URL (env SWELL_UPSTREAM_METRICS_URL)
  --upstream-metrics-ca-file FILE  CA of its serving certificate (env SWELL_UPSTREAM_METRICS_CA_FILE; default: system roots)
  --upstream-metrics-token-file FILE  bearer token swell presents to it (env SWELL_UPSTREAM_METRICS_TOKEN_FILE;
                                default: the pod's ServiceAccount token)
  --publish-apiservice-ca BOOL  write the serving CA into the APIService (env SWELL_PUBLISH_APISERVICE_CA; default true)
  --webhooks BOOL               serve the admission webhooks (default true)
  --webhooks-port PORT          their HTTPS port (env SWELL_WEBHOOKS_PORT; default 9443, --local 0 = free port)
  --webhooks-service NAME       their Service (env SWELL_WEBHOOKS_SERVICE; default swell-webhooks)
  --webhook-configuration NAME  name of the webhook configurations (env SWELL_WEBHOOK_CONFIGURATION; default swell-admission)
  --validate-keda BOOL          validate KEDA objects on admission (env SWELL_VALIDATE_KEDA; default true)
  --cert-dir DIR                serve tls.crt/tls.key/ca.crt from DIR, e.g. cert-manager's, whose CA injector
                                also writes the caBundles (env SWELL_CERT_DIR; default: generate a CA and
                                certificate and publish the CA in the APIService and webhook configurations)
  --cert-secret NAME            Secret the generated CA and certificate, shared by the metrics API, the webhooks
                                and every replica, are kept in (env SWELL_CERT_SECRET; default swell-certs)
  --burst BOOL                  burst placement: pod mutator and BurstPolicy controller (env SWELL_BURST; default true)
  --virtual-node-metrics-url URL  the virtual node's /metrics, for burst cost (env SWELL_VIRTUAL_NODE_METRICS_URL)
  --shutdown-delay SECONDS      on SIGTERM, step down at once but go on serving the metrics API and webhooks
                                this long, not ready, while the pod leaves its Services' endpoints on every
                                node (default 5 in a pod, 0 with --local)
  --install-crds                apply crds/*.yaml before starting (sandboxes and demos)
  --crds-dir DIR                where --install-crds reads them (default: the crds/ folder of this checkout)
  --log-level LEVEL             trace, debug, info, warn or error (default info)
`;

export interface OperatorFlags extends SwellSettings {
  kubeconfig?: string;
  logLevel: string;
  installCrds: boolean;
  /** Unset: found beside the sources or the compiled CLI (see locateCrdsDir). */
  crdsDir?: string;
}

/** Parses the flags (env variables as the chart sets them, flags winning); throws naming the bad flag. */
export function parseOperatorFlags(argv: string[], env: Record<string, string | undefined> = process.env): OperatorFlags | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'leader-elect': { type: 'string' },
      shards: { type: 'string' },
      'lease-namespace': { type: 'string' },
      'cluster-auth-namespace': { type: 'string' },
      'max-reconciles': { type: 'string' },
      'log-level': { type: 'string' },
      local: { type: 'string' },
      'metrics-api': { type: 'string' },
      'metrics-api-port': { type: 'string' },
      'metrics-api-service': { type: 'string' },
      'publish-apiservice-ca': { type: 'string' },
      'upstream-metrics-service': { type: 'string' },
      'upstream-metrics-url': { type: 'string' },
      'upstream-metrics-ca-file': { type: 'string' },
      'upstream-metrics-token-file': { type: 'string' },
      webhooks: { type: 'string' },
      'webhooks-port': { type: 'string' },
      'webhooks-service': { type: 'string' },
      'webhook-configuration': { type: 'string' },
      'validate-keda': { type: 'string' },
      'cert-dir': { type: 'string' },
      'cert-secret': { type: 'string' },
      burst: { type: 'string' },
      'virtual-node-metrics-url': { type: 'string' },
      'shutdown-delay': { type: 'string' },
      'install-crds': { type: 'boolean' },
      'crds-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const ownNamespace = env.POD_NAMESPACE || 'swell-system';
  const level = values['log-level'] ?? env.SWELL_LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new Error(`--log-level: unknown level "${level}"`);
  const local = bool('--local', values.local ?? (env.KUBERNETES_SERVICE_HOST ? 'false' : 'true'));
  const certDir = values['cert-dir'] ?? env.SWELL_CERT_DIR;
  const certSecret = values['cert-secret'] ?? env.SWELL_CERT_SECRET ?? 'swell-certs';
  const virtualNodeMetricsUrl = values['virtual-node-metrics-url'] ?? env.SWELL_VIRTUAL_NODE_METRICS_URL;
  const upstreamMetrics = upstreamMetricsFlags(values, env);
  const leaderElect = bool('--leader-elect', values['leader-elect'] ?? 'true');
  const shards = positiveInt('--shards', values.shards ?? env.SWELL_SHARDS ?? '1');
  if (shards > 1 && !leaderElect) throw new Error('--shards: sharding needs --leader-elect true (the shards are claimed through Leases)');
  return {
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    metricsPort: port('--metrics-port', values['metrics-port'] ?? '8080'),
    healthPort: port('--health-port', values['health-port'] ?? '8081'),
    leaderElect,
    shards,
    leaseNamespace: values['lease-namespace'] ?? ownNamespace,
    clusterAuthNamespace: values['cluster-auth-namespace'] ?? ownNamespace,
    maxReconciles: positiveInt('--max-reconciles', values['max-reconciles'] ?? '5'),
    logLevel: level,
    local,
    metricsApi: {
      enabled: bool('--metrics-api', values['metrics-api'] ?? 'true'),
      port: port('--metrics-api-port', values['metrics-api-port'] ?? env.SWELL_METRICS_API_PORT ?? (local ? '0' : '6443')),
      serviceName: values['metrics-api-service'] ?? env.SWELL_METRICS_API_SERVICE ?? 'swell-metrics-apiserver',
      publishCaBundle: bool('--publish-apiservice-ca', values['publish-apiservice-ca'] ?? env.SWELL_PUBLISH_APISERVICE_CA ?? 'true'),
    },
    ...(upstreamMetrics ? { upstreamMetrics } : {}),
    webhooks: {
      enabled: bool('--webhooks', values.webhooks ?? 'true'),
      port: port('--webhooks-port', values['webhooks-port'] ?? env.SWELL_WEBHOOKS_PORT ?? (local ? '0' : '9443')),
      serviceName: values['webhooks-service'] ?? env.SWELL_WEBHOOKS_SERVICE ?? 'swell-webhooks',
      configurationName: values['webhook-configuration'] ?? env.SWELL_WEBHOOK_CONFIGURATION ?? 'swell-admission',
      validateKeda: bool('--validate-keda', values['validate-keda'] ?? env.SWELL_VALIDATE_KEDA ?? 'true'),
    },
    ...(certDir ? { certDir } : {}),
    certSecret,
    burst: bool('--burst', values.burst ?? env.SWELL_BURST ?? 'true'),
    ...(virtualNodeMetricsUrl ? { virtualNodeMetricsUrl: url('--virtual-node-metrics-url', virtualNodeMetricsUrl) } : {}),
    shutdownDelayMs: seconds('--shutdown-delay', values['shutdown-delay'] ?? (local ? '0' : '5')) * 1000,
    installCrds: values['install-crds'] ?? false,
    ...(values['crds-dir'] ? { crdsDir: values['crds-dir'] } : {}),
  };
}

const serviceAccountTokenFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

function upstreamMetricsFlags(values: Record<string, string | boolean | undefined>, env: Record<string, string | undefined>): OperatorFlags['upstreamMetrics'] {
  const text = (name: string, envName: string) => {
    const value = values[name];
    return typeof value === 'string' && value !== '' ? value : env[envName] || undefined;
  };
  // Flags win over the environment as a pair: a Service flag overrides a URL from the chart, and the other way round.
  const fromFlags = [values['upstream-metrics-service'], values['upstream-metrics-url']].some((v) => typeof v === 'string' && v !== '');
  const pick = (name: string, envName: string) =>
    fromFlags ? (typeof values[name] === 'string' && values[name] !== '' ? values[name] : undefined) : env[envName] || undefined;
  const service = pick('upstream-metrics-service', 'SWELL_UPSTREAM_METRICS_SERVICE');
  const rawUrl = pick('upstream-metrics-url', 'SWELL_UPSTREAM_METRICS_URL');
  if (service && rawUrl) throw new Error('--upstream-metrics-service and --upstream-metrics-url: give one, not both');
  let target: string | undefined;
  try {
    target = service ? serviceUrl(service) : rawUrl;
  } catch (error) {
    throw new Error(`--upstream-metrics-service: ${(error as Error).message}`, { cause: error });
  }
  if (!target) return undefined;
  if (!URL.canParse(target) || new URL(target).protocol !== 'https:') throw new Error(`--upstream-metrics-url: "${target}" is not an https:// URL`);
  const caFile = text('upstream-metrics-ca-file', 'SWELL_UPSTREAM_METRICS_CA_FILE');
  return {
    url: target,
    ...(caFile ? { caFile } : {}),
    tokenFile: text('upstream-metrics-token-file', 'SWELL_UPSTREAM_METRICS_TOKEN_FILE') ?? serviceAccountTokenFile,
  };
}

function url(flag: string, raw: string): string {
  if (!URL.canParse(raw)) throw new Error(`${flag}: "${raw}" is not a URL`);
  return raw;
}

function port(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value > 65535) throw new Error(`${flag}: "${raw}" is not a port number`);
  return value;
}

function seconds(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) * 1000 >= SHUTDOWN_DEADLINE_MS)
    throw new Error(`${flag}: "${raw}" is not a whole number of seconds below ${SHUTDOWN_DEADLINE_MS / 1000}`);
  return Number(raw);
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

export async function operatorCommand(argv: string[]): Promise<number> {
  let flags: OperatorFlags | 'help';
  try {
    flags = parseOperatorFlags(argv);
  } catch (err) {
    return reportUsageError('operator', err);
  }
  if (flags === 'help') {
    process.stdout.write(help);
    return 0;
  }
  const log = createLogger({ name: 'operator', level: flags.logLevel });
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig({ ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}) });
  } catch (err) {
    process.stderr.write(`swell operator: ${(err as Error).message}\n`);
    return 2;
  }
  const client = createHttpKubeClient(kubeConfig);
  const stopping = new AbortController();
  const shutdown = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    stopping.abort();
    // A part that cannot stop (an apiserver that never answers) must not hold the pod until it is killed.
    exitIfStillRunning(log, 1, SHUTDOWN_DEADLINE_MS, 'shutdown did not finish in time; exiting now');
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  let code = 0;
  try {
    const installCrdsFrom = flags.installCrds ? crdsDirOf(flags) : undefined;
    await createSwell({ settings: flags, client, log, version: packageVersion(), ...(installCrdsFrom ? { installCrdsFrom } : {}) }, stopping.signal);
  } catch (err) {
    log.error({ err }, 'operator failed');
    code = 1;
  }
  log.info('swell operator stopped');
  exitIfStillRunning(log, code, STOPPED_EXIT_GRACE_MS, 'still running after stopping; exiting now');
  return code;
}

/** After "stopped" is logged, the process should end by itself at once; this long is the most it may take. */
const STOPPED_EXIT_GRACE_MS = 3_000;
/** From SIGTERM to exit at most, within Kubernetes' default 30 s grace period. */
const SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * The last resort after a clean stop: everything was closed, so nothing should keep the event loop alive; if
 * something still does (a socket or timer of a library), say what it is and exit anyway, so an orchestrator
 * never waits for its kill timeout. The timer is unref'd: it never keeps the process alive itself.
 */
function exitIfStillRunning(log: Logger, code: number, graceMs: number, message: string): void {
  setTimeout(() => {
    log.warn({ resources: process.getActiveResourcesInfo(), graceMs }, message);
    process.exit(code);
  }, graceMs).unref();
}

/** --crds-dir, else crds/ beside this module's sources or compiled output; throws saying where it looked. */
export function crdsDirOf(flags: Pick<OperatorFlags, 'crdsDir'>, moduleUrl = import.meta.url): string {
  if (flags.crdsDir) return flags.crdsDir;
  const { found, searched } = locateCrdsDir(moduleUrl);
  if (!found) throw noCrdsError(searched);
  return found;
}
