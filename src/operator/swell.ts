import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { ConnectionPool } from '../../scalers/connection-pool.js';
import { SharedReads } from '../../scalers/shared-reads.js';
import { startBurstPlacement } from '../burst/index.js';
import type { CertificateSource } from '../certificates/index.js';
import { createSystemClock } from '../controller/clock.js';
import { Leadership } from '../controller/leadership.js';
import type { KubeClient, KubeWatchClient } from '../kube/client.js';
import { createKubeLeaseCollection, createKubeLeaseStore } from '../kube/lease-store.js';
import { ShardClaims } from '../controller/shard-claims.js';
import { createKubeListWatchSource } from '../kube/list-watch.js';
import type { Logger } from '../log.js';
import { startMetricsApi, type ExternalMetricsSource, type MetricsApiOptions, type UpstreamOptions } from '../metrics-api/index.js';
import { tokenFromFile } from '../metrics-api/upstream.js';
import { ensureNamespace } from '../metrics-api/register.js';
import { cachedClusterReader, startWebhooks, type AdmissionHandler, type WebhookConfigurations, type WebhooksDeps } from '../webhooks/index.js';
import { serveHealth, serveMetrics } from './http-endpoints.js';
import { installCrds } from './install-crds.js';
import { createKeyCaches } from './key-caches.js';
import { NamespacePodInformers } from './namespace-pods.js';
import { Operator } from './operator.js';
import { ApiserverProbe, readiness } from './readiness.js';
import { startScaledJobController } from './scaledjob/index.js';
import { externalMetricsSourceOf } from './scaledobject/external-metrics-adapter.js';

/** What `swell operator` runs, as its flags say (see its --help). */
export interface SwellSettings {
  namespace?: string;
  metricsPort: number;
  healthPort: number;
  leaderElect: boolean;
  /** ScaledObjects split over this many shards, each claimed through a Lease; 1 or unset: the leader runs them all. */
  shards?: number;
  leaseNamespace: string;
  clusterAuthNamespace: string;
  maxReconciles: number;
  /** Scale-loop runs in flight at once per controller; each controller's default when unset. */
  pollConcurrency?: number;
  local: boolean;
  metricsApi: { enabled: boolean; port: number; serviceName: string; publishCaBundle: boolean };
  /** Another external metrics server for the metrics swell does not own. */
  upstreamMetrics?: { url: string; caFile?: string; tokenFile: string };
  webhooks: { enabled: boolean; port: number; serviceName: string; configurationName: string; validateKeda: boolean };
  certDir?: string;
  certSecret: string;
  burst: boolean;
  virtualNodeMetricsUrl?: string;
  /** How long a process stopped by its signal goes on serving after stepping down. */
  shutdownDelayMs: number;
}

export interface SwellOptions {
  readonly settings: SwellSettings;
  readonly client: KubeWatchClient;
  readonly log: Logger;
  /** Reported in metrics and status. */
  readonly version: string;
  /** Apply the CRDs in this folder before starting (sandboxes and demos). */
  readonly installCrdsFrom?: string;
  /** Called once every part is up, with the ports they listen on. */
  readonly onStarted?: (ports: SwellPorts) => void;
}

export interface SwellPorts {
  readonly metricsPort: number;
  readonly healthPort: number;
  readonly metricsApiPort?: number;
  readonly webhooksPort?: number;
}

const LEASE_NAME = 'swell-operator';

/**
 * Wires and runs the whole process: the ScaledObject operator, the ScaledJob controller, the metrics and health
 * endpoints, the external metrics API, burst placement and the webhooks, leader-only parts behind one Lease.
 * Resolves once `signal` aborts (or a controller ends) and every part has stopped (after the shutdown delay when
 * `signal` stopped it); rejects, after stopping what
 * had started, when a part fails.
 */
export async function createSwell(options: SwellOptions, signal: AbortSignal): Promise<void> {
  const { settings: flags, client, log, onStarted } = options;
  const parts = new StartedParts(log);
  const clock = createSystemClock();
  const connections = new ConnectionPool({ clock, maxConcurrentPerServer: 16 });
  const stopping = new AbortController();
  const stop = (): void => stopping.abort();
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });
  try {
    if (options.installCrdsFrom) await installCrds(client, options.installCrdsFrom, log);
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const pods = new NamespacePodInformers({
      listWatch: (path) => createKubeListWatchSource<V1Pod>(client, path),
      log: log.child({ component: 'pod-informers' }),
    });
    parts.add('pod informers', () => pods.stopAll());
    const scalerDeps = { clock, log: log.child({ component: 'scalers' }), reads: new SharedReads(clock), connections, pods };
    const apiserver = new ApiserverProbe({ probe: (signal) => client.request('GET', '/readyz', { signal }), clock, log });
    apiserver.start();
    parts.add('apiserver probe', () => Promise.resolve(apiserver.stop()));
    const identity = `${process.env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`;
    // One Lease for every leader-only part: they lead and step down together, renewing once per period.
    const leadership = new Leadership({
      ...(flags.leaderElect ? { store: createKubeLeaseStore(client, { namespace: flags.leaseNamespace, name: LEASE_NAME }) } : {}),
      identity,
      log,
    });
    const listWatch = <T extends KubernetesObject>(path: string) => createKubeListWatchSource<T>(client, path);
    const keyScope = { ...(flags.namespace ? { namespace: flags.namespace } : {}), clusterAuthNamespace: flags.clusterAuthNamespace };
    // One watch of Secrets and ConfigMaps for both kinds of scalable object.
    const keyCaches = createKeyCaches({ listWatch, log, ...keyScope }, clock);
    keyCaches.start();
    parts.add('secret and config map informers', () => keyCaches.stop());
    const common = {
      client,
      listWatch,
      keyCaches,
      identity,
      leadership,
      ...keyScope,
      ...(flags.pollConcurrency ? { pollConcurrency: flags.pollConcurrency } : {}),
      scalerFactory: (context: ScalerContext) => createScaler(context, scalerDeps),
      log,
      registry,
      version: options.version,
    };
    // The ScaledObject operator first: its metric families are registered before the ScaledJob controller's.
    const operator = new Operator({ ...common, workers: flags.maxReconciles, ...shardingOf(flags, client, identity, log) });
    const scaledJobs = startScaledJobController(common);
    parts.add('scaledjob controller', () => scaledJobs.stop());
    const metricsEndpoint = await serveMetrics(registry, flags.metricsPort, flags.local ? '127.0.0.1' : '0.0.0.0');
    parts.add('metrics endpoint', () => metricsEndpoint.close());
    const ready = () =>
      stopping.signal.aborted
        ? { ok: false, reason: 'shutting down' }
        : readiness(apiserver.contact, [operator.ready(), scaledJobs.ready()], clock.now(), apiserver.staleAfterMs);
    const healthEndpoint = await serveHealth(ready, flags.healthPort, flags.local ? '127.0.0.1' : '0.0.0.0');
    parts.add('health endpoint', () => healthEndpoint.close());
    // Local runs keep the certificate Secret in a namespace that may not exist yet; the chart creates its own.
    if (flags.local && !flags.certDir) await ensureNamespace(client, flags.leaseNamespace);
    const certificates = certificateSource(flags);
    const metricsApi = flags.metricsApi.enabled
      ? await startMetricsApi({ ...metricsApiOptions(flags, client, certificates, externalMetricsSourceOf(operator.metricsSource), log), clock })
      : undefined;
    if (metricsApi) parts.add('metrics API', () => metricsApi.stop());
    const placement = flags.burst
      ? await startBurstPlacement({
          client,
          listWatch: common.listWatch,
          log,
          registry,
          ...(flags.virtualNodeMetricsUrl ? { costMetricsUrl: flags.virtualNodeMetricsUrl } : {}),
        })
      : undefined;
    if (placement) parts.add('burst placement', () => placement.stop());
    const clusterReader = cachedClusterReader(operator.admissionCaches(), client);
    const webhooks = flags.webhooks.enabled
      ? await startWebhooks({ ...webhooksOptions(flags, client, certificates, log, placement?.podMutator), clusterReader, clock })
      : undefined;
    if (webhooks) parts.add('webhooks', () => webhooks.stop());
    log.info(
      {
        identity,
        metricsPort: metricsEndpoint.port,
        healthPort: healthEndpoint.port,
        metricsApiPort: metricsApi?.port,
        webhooksPort: webhooks?.port,
        namespace: flags.namespace ?? '(all)',
        leaderElect: flags.leaderElect,
        shards: flags.shards,
        local: flags.local,
      },
      'swell operator started',
    );
    onStarted?.({
      metricsPort: metricsEndpoint.port,
      healthPort: healthEndpoint.port,
      ...(metricsApi ? { metricsApiPort: metricsApi.port } : {}),
      ...(webhooks ? { webhooksPort: webhooks.port } : {}),
    });
    const burstLoop = placement ? leadership.run((signal) => placement.run(signal), stopping.signal) : Promise.resolve();
    const operatorDone = operator.start();
    await Promise.race([abortedPromise(stopping.signal), operatorDone, scaledJobs.done]);
    stopping.abort();
    // Every part that leads stops first, so the one Lease is released before the servers wind down.
    await Promise.all([operator.stop(), scaledJobs.stop(), burstLoop]);
    // The pod's endpoints leave the Services (and every node's forwarding rules) a moment after it is told to
    // stop; the apiserver may still send metric reads and admission reviews here until then.
    if (signal.aborted && flags.shutdownDelayMs > 0) {
      log.info({ delayMs: flags.shutdownDelayMs }, 'stepped down; serving until the endpoints are gone');
      await sleep(flags.shutdownDelayMs);
    }
  } finally {
    signal.removeEventListener('abort', stop);
    stopping.abort();
    await parts.stopAll();
    await connections.closeAll();
  }
}

/** With more than one shard, replicas share the ScaledObjects by shard; ScaledJobs and burst placement stay with the leader. */
function shardingOf(flags: SwellSettings, client: KubeClient, identity: string, log: Logger): { sharding?: { shards: number; claims: ShardClaims } } {
  if (flags.shards === undefined || flags.shards <= 1 || !flags.leaderElect) return {};
  const claims = new ShardClaims({
    shards: flags.shards,
    leases: createKubeLeaseCollection(client, flags.leaseNamespace),
    identity,
    log: log.child({ component: 'shards' }),
  });
  return { sharding: { shards: flags.shards, claims } };
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/**
 * One certificate for both TLS servers: cert-manager's files, or one generated CA and certificate naming both
 * Services, kept in one Secret that every replica converges on.
 */
export function certificateSource(flags: SwellSettings): CertificateSource {
  if (flags.certDir)
    return {
      kind: 'files',
      files: { certificateFile: join(flags.certDir, 'tls.crt'), privateKeyFile: join(flags.certDir, 'tls.key'), caFile: join(flags.certDir, 'ca.crt') },
    };
  const identity = { serviceName: flags.metricsApi.serviceName, additionalServiceNames: [flags.webhooks.serviceName], namespace: flags.leaseNamespace };
  return { kind: 'generated', identity, secretName: flags.certSecret };
}

/** Local runs serve on loopback and register themselves; in a pod the chart's Service routes to us. */
function metricsApiOptions(
  flags: SwellSettings,
  client: KubeWatchClient,
  certificates: CertificateSource,
  source: ExternalMetricsSource,
  log: Logger,
): MetricsApiOptions {
  return {
    client,
    source,
    log: log.child({ component: 'metrics-api' }),
    certificates,
    host: flags.local ? '127.0.0.1' : '0.0.0.0',
    port: flags.metricsApi.port,
    publishCaBundle: flags.metricsApi.publishCaBundle,
    ...(flags.local ? { registerLocally: { serviceName: flags.metricsApi.serviceName, namespace: flags.leaseNamespace } } : {}),
    ...(flags.upstreamMetrics ? { upstream: upstreamOptions(flags.upstreamMetrics, flags.namespace) } : {}),
  };
}

function upstreamOptions(upstream: NonNullable<SwellSettings['upstreamMetrics']>, namespace: string | undefined): UpstreamOptions {
  return {
    target: { url: upstream.url, ...(upstream.caFile ? { caPem: readFileSync(upstream.caFile, 'utf8') } : {}), token: tokenFromFile(upstream.tokenFile) },
    ...(namespace ? { namespace } : {}),
  };
}

/**
 * Local runs register their own configurations at a loopback URL. In a pod the chart owns them: swell writes
 * only their caBundles, or nothing at all when cert-manager's files are served (its CA injector writes them).
 */
export function webhookConfigurationsOwner(flags: Pick<SwellSettings, 'local' | 'certDir'>): WebhookConfigurations {
  if (flags.local) return 'local';
  return flags.certDir ? 'injected' : 'chart';
}

function webhooksOptions(
  flags: SwellSettings,
  client: KubeClient,
  certificate: CertificateSource,
  log: Logger,
  podMutator: AdmissionHandler | undefined,
): WebhooksDeps {
  return {
    client,
    log,
    host: flags.local ? '127.0.0.1' : '0.0.0.0',
    port: flags.webhooks.port,
    configurationName: flags.webhooks.configurationName,
    validateKeda: flags.webhooks.validateKeda,
    ...(podMutator ? { podMutator } : {}),
    certificate,
    configurations: webhookConfigurationsOwner(flags),
  };
}

/** What has been started, stopped in reverse order on the way out, each failure logged and the rest still stopped. */
class StartedParts {
  readonly #parts: { name: string; stop: () => Promise<void> }[] = [];

  constructor(private readonly log: Logger) {}

  add(name: string, stop: () => Promise<void>): void {
    this.#parts.push({ name, stop });
  }

  async stopAll(): Promise<void> {
    for (const part of this.#parts.reverse()) {
      const started = Date.now();
      await part.stop().catch((error: unknown) => this.log.warn({ err: error, part: part.name }, 'could not stop cleanly'));
      this.log.debug({ part: part.name, ms: Date.now() - started }, 'stopped');
    }
  }
}
