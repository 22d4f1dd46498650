import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CoreV1Api, KubeConfig, Log } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { isNotFound } from '../kube/errors.js';
import type { Logger } from '../log.js';
import { createHttpKubeClient, resourcePath, type KubeClient } from '../kube/client.js';
import type { ComponentName } from '../sandbox/component.js';
import { sandboxComponents } from '../sandbox/components.js';
import { exposeHostService } from '../sandbox/host-service.js';
import { buildConsumerImage, consumerImageDir } from '../sandbox/images.js';
import { nodeContainerdEnvVar } from '../sandbox/node.js';
import { realNodeName, realNodeTaint } from '../sandbox/node-config.js';
import { importImage } from '../sandbox/node-image.js';
import { defaultCacheDir, sandboxPaths } from '../sandbox/paths.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { sandboxVirtualNodeName } from '../sandbox/virtual-node.js';
import { parseCostMetrics } from '../virtual-node/cost/report.js';
import { renderDemoChart } from './chart.js';
import { startSwellProcess, type SwellProcess } from './processes.js';
import { summarize, type DemoSample } from './sample.js';

export interface DemoOptions {
  /** Items put on the queue. */
  jobs: number;
  /** Leave the sandbox, operator, virtual node and demo objects running. */
  keep: boolean;
  /** Where the chart and the logs go. */
  outDir: string;
  /** The sandbox's state directory (default .swell/dev). */
  sandboxStateDir?: string;
  /** Give up (and drain the queue ourselves) after this long. */
  timeoutMs: number;
  repoDir: string;
  log: Logger;
  /** One line of live output. */
  print: (line: string) => void;
}

export interface DemoResult {
  chartPath: string;
  samples: DemoSample[];
  /** The queue emptied by the consumers (false: the demo drained it after the timeout). */
  drainedByConsumers: boolean;
  /** Items each tier's pods logged as processed: read from the pods' own logs while they ran. */
  popped: { regular: number; virtual: number };
  /** Whether the regular tier ran as real pods on the sandbox's real node (false: simulated kwok nodes). */
  realNode: boolean;
}

const NAMESPACE = 'swell-demo';
/** The operator's own objects (Leases, the metrics API's Service and certificate Secret) live apart from the demo's. */
const SYSTEM_NAMESPACE = 'swell-demo-system';
const APP = 'consumer';
const LIST = 'jobs';
const VIRTUAL_NODE = sandboxVirtualNodeName;
/** The consumer's image where the regular tier is simulated: kwok pulls nothing and the virtual node runs the command. */
const UNPULLED_IMAGE = 'docker.io/local/swell-consumer:demo';
/** Milliseconds each consumer spends per item: about two items a second per replica. */
const WORK_MS = 500;

type Cleanup = { name: string; run: () => Promise<unknown> }[];

/** Where the consumers find Redis and which image they run. */
interface ConsumerSetup {
  redisAddress: string;
  image: string;
  realNode: boolean;
}

/**
 * `swell demo`: a Redis-list ScaledObject with a BurstPolicy on the sandbox, filled once and watched until it is
 * back to zero, then drawn as an SVG. Everything it starts is stopped on the way out unless `keep`.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const cleanup: Cleanup = [];
  const print = options.print;
  try {
    await mkdir(options.outDir, { recursive: true });
    const { env, costUrl } = await sandboxUp(options, cleanup);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(env.KUBECONFIG ?? '');
    const client = createHttpKubeClient(kubeConfig);
    const childEnv = { ...process.env, ...env };
    cleanup.push({ name: `namespace ${SYSTEM_NAMESPACE}`, run: () => deleteNamespace(client, SYSTEM_NAMESPACE) });
    print('starting swell operator (ScaledObjects, metrics API, webhooks, burst placement)');
    const operator = await startSwellProcess({
      repoDir: options.repoDir,
      env: childEnv,
      args: [
        'operator',
        '--install-crds',
        '--namespace',
        NAMESPACE,
        '--lease-namespace',
        SYSTEM_NAMESPACE,
        '--cluster-auth-namespace',
        SYSTEM_NAMESPACE,
        '--metrics-port',
        '0',
        '--health-port',
        '0',
        '--webhook-configuration',
        'swell-demo',
        '--virtual-node-metrics-url',
        costUrl,
      ],
      logFile: join(options.outDir, 'operator.log'),
      readyLine: /"msg":"leading: reconciling and polling"/,
      timeoutMs: 90_000,
    });
    cleanup.push({ name: 'operator', run: () => stopped(operator) });
    // Deleted while the operator and virtual node still run: the ScaledObject's finalizer and the pods' processes.
    cleanup.push({ name: `namespace ${NAMESPACE}`, run: () => deleteNamespace(client, NAMESPACE) });
    await recreateNamespace(client);
    const consumers = await consumerSetup(options, kubeConfig, client, env, cleanup);
    await applyDemoObjects(client, env.REDIS_URL ?? '', consumers, options.repoDir);
    const redis = new Redis(env.REDIS_URL ?? '', { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    cleanup.push({ name: 'redis client', run: () => Promise.resolve(redis.disconnect()) });
    const run = await watchScaling({ client, redis, costUrl, options, realNode: consumers.realNode, logs: new Log(kubeConfig) });
    const chartPath = join(options.outDir, `demo-${new Date().toISOString().replace(/[:.]/g, '-')}.svg`);
    await writeFile(chartPath, renderDemoChart(run.samples, `swell demo: ${options.jobs} jobs, Redis list → regular + virtual node`));
    const s = summarize(run.samples);
    print(`peak: queue ${s.peakQueue}, ${s.peakRegular} regular + ${s.peakVirtual} virtual replicas; burst cost $${(s.final?.cost ?? 0).toFixed(6)}`);
    print(
      `items the pods logged as processed: ${run.popped.regular} by regular pods${consumers.realNode ? '' : ' (none: simulated)'}, ${run.popped.virtual} by virtual-node pods, of ${options.jobs}`,
    );
    print(`chart: ${chartPath}`);
    return { chartPath, realNode: consumers.realNode, ...run };
  } finally {
    if (options.keep) print('--keep: leaving the sandbox, operator and demo namespace running');
    else await runCleanup(cleanup, options.log);
  }
}

/**
 * Starts (or reuses) kube, redis and the sandbox's virtual node, and the real node when this runs as root (it
 * needs root) or it already runs. Returns the sandbox's environment and the virtual node's cost metrics URL.
 */
async function sandboxUp(options: DemoOptions, cleanup: Cleanup): Promise<{ env: Record<string, string>; costUrl: string }> {
  const sandbox = new Sandbox({
    paths: sandboxPaths(options.sandboxStateDir ? { stateDir: options.sandboxStateDir } : {}),
    components: sandboxComponents(),
    log: options.log,
    progress: (m) => options.print(`sandbox: ${m}`),
  });
  const running = new Set((await sandbox.status()).filter((s) => s.state === 'running').map((s) => s.name));
  const withNode = process.getuid?.() === 0 || running.has('node');
  const wanted: ComponentName[] = ['kube', ...(withNode ? (['node'] as const) : []), 'redis', 'virtual-node'];
  const toStart = wanted.filter((n) => !running.has(n));
  if (toStart.length > 0) options.print(`sandbox: starting ${toStart.join(', ')} (first run builds Kubernetes: minutes)`);
  const env = await sandbox.up(wanted);
  if (toStart.length > 0) cleanup.unshift({ name: `sandbox (${toStart.join(', ')})`, run: () => sandbox.down(toStart) });
  const costUrl = (await sandbox.status()).find((s) => s.name === 'virtual-node')?.endpoints?.endpoints.metrics;
  if (!costUrl) throw new Error("the sandbox's virtual node reports no metrics endpoint; try `swell dev down` and run the demo again");
  options.print(`virtual node ${VIRTUAL_NODE} ready (process provider: its pods run as local processes)`);
  return { env, costUrl };
}

/**
 * With a real node: the consumer image imported into its containerd, and Redis published to pods as a Service
 * (the relay binds the node's bridge address only). Without one, the regular tier is simulated and says so.
 */
async function consumerSetup(
  options: DemoOptions,
  kubeConfig: KubeConfig,
  client: KubeClient,
  env: Record<string, string>,
  cleanup: Cleanup,
): Promise<ConsumerSetup> {
  const { hostname, port } = new URL(env.REDIS_URL ?? '');
  const containerdSocket = env[nodeContainerdEnvVar];
  if (!containerdSocket) {
    options.print('note: no real node (it needs root), so the regular nodes are simulated (kwok): their pods run no process, and the');
    options.print('      demo pops 1 item/s per Running regular pod in their place; virtual-node pods run the real consumer locally');
    return { redisAddress: `${hostname}:${port}`, image: UNPULLED_IMAGE, realNode: false };
  }
  options.print('consumer image: building or finding it in the cache, then importing it into the real node');
  const image = await buildConsumerImage({ paths: { repoDir: options.repoDir, cacheDir: defaultCacheDir() }, progress: (m) => options.print(`image: ${m}`) });
  await importImage(containerdSocket, image.archive, image.name);
  const node = await client.request<{ status?: { addresses?: { type: string; address: string }[] } }>('GET', `/api/v1/nodes/${realNodeName}`);
  const nodeIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!nodeIp) throw new Error(`node ${realNodeName} has no InternalIP; is it Ready? (swell dev status)`);
  const service = await exposeHostService({
    core: kubeConfig.makeApiClient(CoreV1Api),
    namespace: NAMESPACE,
    name: 'redis',
    nodeIp,
    port: Number(port),
    servicePort: 6379,
  });
  cleanup.push({ name: 'redis relay', run: () => service.stop() });
  options.print(`regular pods: ${image.name} on ${realNodeName}, popping Redis through Service ${NAMESPACE}/redis (${service.address})`);
  return { redisAddress: service.address, image: image.name, realNode: true };
}

async function recreateNamespace(client: KubeClient): Promise<void> {
  // A namespace left terminating by an earlier run takes no new objects.
  const previous = await client.request<{ status?: { phase?: string } }>('GET', `/api/v1/namespaces/${NAMESPACE}`).catch((e: unknown) => {
    if (!isNotFound(e)) throw e;
    return undefined;
  });
  if (previous) await deleteNamespace(client, NAMESPACE);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } });
  // Pods are refused until the namespace's default ServiceAccount exists.
  for (const deadline = Date.now() + 30_000; ;) {
    const found = await client.request('GET', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/default`).then(
      () => true,
      (e: unknown) => (isNotFound(e) ? false : Promise.reject(e as Error)),
    );
    if (found) return;
    if (Date.now() > deadline) throw new Error(`namespace ${NAMESPACE} has no default ServiceAccount after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function applyDemoObjects(client: KubeClient, redisUrl: string, consumers: ConsumerSetup, repoDir: string): Promise<void> {
  const { hostname, port } = new URL(redisUrl);
  const objects: { path: string; body: Record<string, unknown> }[] = [
    {
      path: resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace: NAMESPACE }),
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: APP },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: APP } },
          template: {
            metadata: { labels: { app: APP } },
            spec: {
              // The burst tier's placement replaces the hostname with the virtual node's, so only regular pods go here.
              ...(consumers.realNode
                ? { nodeSelector: { 'kubernetes.io/hostname': realNodeName }, tolerations: [{ ...realNodeTaint, operator: 'Equal' }] }
                : {}),
              terminationGracePeriodSeconds: 5,
              containers: [
                {
                  name: 'consumer',
                  image: consumers.image,
                  imagePullPolicy: 'Never',
                  // One template for both tiers: in the image the consumer is /app/consumer.mjs; the virtual node runs
                  // the command as a local process, which finds the same file in this checkout.
                  command: ['sh', '-c', 'if [ -f /app/consumer.mjs ]; then exec node /app/consumer.mjs; fi; exec node "$CONSUMER_ON_HOST"'],
                  env: [
                    { name: 'REDIS_ADDRESS', value: consumers.redisAddress },
                    { name: 'LIST_NAME', value: LIST },
                    { name: 'WORK_MS', value: String(WORK_MS) },
                    { name: 'CONSUMER_ON_HOST', value: join(repoDir, consumerImageDir, 'consumer.mjs') },
                  ],
                  resources: { requests: { cpu: '10m', memory: '48Mi' } },
                  securityContext: {
                    runAsNonRoot: true,
                    runAsUser: 10001,
                    readOnlyRootFilesystem: true,
                    allowPrivilegeEscalation: false,
                    capabilities: { drop: ['ALL'] },
                  },
                },
              ],
            },
          },
        },
      },
    },
    {
      path: resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace: NAMESPACE }),
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: APP },
        spec: {
          scaleTargetRef: { name: APP },
          pollingInterval: 1,
          cooldownPeriod: 10,
          minReplicaCount: 0,
          maxReplicaCount: 10,
          advanced: {
            horizontalPodAutoscalerConfig: {
              behavior: { scaleDown: { stabilizationWindowSeconds: 5, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] } },
            },
          },
          triggers: [{ type: 'redis', metadata: { address: `${hostname}:${port}`, listName: LIST, listLength: '5' } }],
        },
      },
    },
    {
      path: resourcePath({ group: 'swell.dev', version: 'v1alpha1', resource: 'burstpolicies', namespace: NAMESPACE }),
      body: {
        apiVersion: 'swell.dev/v1alpha1',
        kind: 'BurstPolicy',
        metadata: { name: APP },
        spec: {
          scaleTargetRef: { name: APP },
          baseReplicas: 2,
          virtualNode: { nodeSelector: { 'kubernetes.io/hostname': VIRTUAL_NODE, type: 'virtual-kubelet' } },
        },
      },
    },
  ];
  for (const o of objects) {
    const name = (o.body.metadata as { name: string }).name;
    await client.request('DELETE', `${o.path}/${name}`).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    await client.request('POST', o.path, { body: o.body });
  }
}

interface WatchDeps {
  client: KubeClient;
  redis: Redis;
  costUrl: string;
  options: DemoOptions;
  /** The regular tier runs real pods; otherwise the demo pops items in place of its simulated pods. */
  realNode: boolean;
  logs: Log;
}

type Tier = 'regular' | 'virtual';

/** Fills the queue, then samples once a second until the consumer is back to zero replicas with an empty queue. */
async function watchScaling({
  client,
  redis,
  costUrl,
  options,
  realNode,
  logs,
}: WatchDeps): Promise<{ samples: DemoSample[]; drainedByConsumers: boolean; popped: Record<Tier, number> }> {
  const print = options.print;
  await redis.del(LIST);
  await redis.rpush(LIST, ...Array.from({ length: options.jobs }, (_, i) => `job-${i}`));
  print(`queued ${options.jobs} jobs on the Redis list "${LIST}" (5 per replica, at most 10 replicas; the first 2 on regular nodes)`);
  // The sandbox's virtual node may have billed earlier runs in this namespace; the chart shows this run's cost.
  const costBefore = await burstCost(costUrl);
  const started = Date.now();
  const samples: DemoSample[] = [];
  const popped = new PoppedItems(logs);
  let scaled = false;
  let drainedByConsumers = true;
  let last = '';
  for (;;) {
    const { sample, live } = await takeSample(client, redis, () => burstCost(costUrl).then((c) => Math.max(0, c - costBefore)), (Date.now() - started) / 1000);
    samples.push(sample);
    for (const p of live) if (p.pod.spec.nodeName && p.pod.status?.phase === 'Running') popped.follow(p.pod.metadata.name, p.tier);
    scaled ||= sample.regular + sample.virtual > 0;
    const line = `queue ${String(sample.queueDepth).padStart(4)} | replicas regular ${sample.regular} virtual ${sample.virtual} | burst cost $${sample.cost.toFixed(6)}`;
    if (line !== last) print(`t=${sample.t.toFixed(0).padStart(4)}s  ${line}`);
    last = line;
    if (scaled && sample.queueDepth === 0 && sample.regular + sample.virtual === 0) break;
    const elapsed = Date.now() - started;
    if (elapsed > 2 * options.timeoutMs) throw new Error(`the consumer did not return to zero replicas within ${(2 * options.timeoutMs) / 1000} s`);
    if (elapsed > options.timeoutMs && drainedByConsumers) {
      drainedByConsumers = false;
      print(`the queue was not drained within ${options.timeoutMs / 1000} s; emptying it so the demo can finish`);
      await redis.del(LIST);
    }
    const runningSimulated = realNode ? 0 : live.filter((p) => p.tier === 'regular' && p.pod.status?.phase === 'Running').length;
    if (runningSimulated > 0 && sample.queueDepth > 0) await redis.rpop(LIST, runningSimulated);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  popped.stop();
  const unseen = Array.from({ length: options.jobs }, (_, i) => `job-${i}`).filter((item) => !popped.has(item));
  if (unseen.length > 0) print(`not in any pod's log: ${unseen.join(', ')} (a log can go with its pod before it is read)`);
  return { samples, drainedByConsumers, popped: popped.counts() };
}

interface LivePod {
  pod: PodView;
  tier: Tier;
}

async function takeSample(client: KubeClient, redis: Redis, cost: () => Promise<number>, t: number): Promise<{ sample: DemoSample; live: LivePod[] }> {
  const [queueDepth, pods, dollars] = await Promise.all([redis.llen(LIST), consumerPods(client), cost()]);
  const isVirtual = (p: PodView) => (p.spec.nodeName ? p.spec.nodeName === VIRTUAL_NODE : p.metadata.labels?.['swell.dev/tier'] === 'burst');
  const present = pods
    .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .map((pod): LivePod => ({ pod, tier: isVirtual(pod) ? 'virtual' : 'regular' }));
  const live = present.filter((p) => !p.pod.metadata.deletionTimestamp);
  const virtual = live.filter((p) => p.tier === 'virtual').length;
  // Terminating pods still finish their item and log it, so their logs are read too.
  return { sample: { t: Math.round(t * 10) / 10, queueDepth, regular: live.length - virtual, virtual, cost: dollars }, live: present };
}

/**
 * The items each tier's pods logged as processed (the consumer logs one JSON line per item). Each pod's log is
 * followed from its start, since a pod's log goes with it at scale-in.
 */
class PoppedItems {
  private readonly tierOf = new Map<string, Tier>();
  private readonly following = new Map<string, AbortController | 'starting'>();

  constructor(private readonly logs: Log) {}

  follow(pod: string, tier: Tier): void {
    if (this.following.has(pod)) return;
    this.following.set(pod, 'starting');
    let rest = '';
    const lines = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        const text = rest + chunk.toString('utf8');
        const complete = text.split('\n');
        rest = complete.pop() ?? '';
        for (const line of complete) {
          const item = processedItem(line);
          if (item !== undefined) this.tierOf.set(item, tier);
        }
        done();
      },
    });
    this.logs.log(NAMESPACE, pod, 'consumer', lines, { follow: true }).then(
      (controller) => this.following.set(pod, controller),
      // Not streaming yet (the container may be starting): tried again on the next sample.
      () => this.following.delete(pod),
    );
  }

  has(item: string): boolean {
    return this.tierOf.has(item);
  }

  counts(): Record<Tier, number> {
    const count = (tier: Tier) => [...this.tierOf.values()].filter((t) => t === tier).length;
    return { regular: count('regular'), virtual: count('virtual') };
  }

  stop(): void {
    for (const controller of this.following.values()) if (controller !== 'starting') controller.abort();
  }
}

function processedItem(line: string): string | undefined {
  if (!line.includes('"processed"')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; item?: unknown };
    return entry.msg === 'processed' && typeof entry.item === 'string' ? entry.item : undefined;
  } catch {
    return undefined;
  }
}

interface PodView {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { phase?: string };
}

async function consumerPods(client: KubeClient): Promise<PodView[]> {
  const list = await client.request<{ items: PodView[] }>('GET', `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3D${APP}`);
  return list.items;
}

async function burstCost(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return 0;
    return parseCostMetrics(await response.text())
      .filter((r) => r.namespace === NAMESPACE)
      .reduce((sum, r) => sum + r.dollars, 0);
  } catch {
    return 0;
  }
}

/** Deletes the namespace and waits (bounded) until it is gone. */
async function deleteNamespace(client: KubeClient, name: string): Promise<void> {
  const gone = (e: unknown) => {
    if (!isNotFound(e)) throw e;
    return 'gone' as const;
  };
  await client.request('DELETE', `/api/v1/namespaces/${name}`).catch(gone);
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    if ((await client.request('GET', `/api/v1/namespaces/${name}`).catch(gone)) === 'gone') return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`namespace ${name} still terminating after 60 s`);
}

async function stopped(p: SwellProcess): Promise<void> {
  const code = await p.stop();
  if (code !== 0) throw new Error(`exited with ${String(code)}; see ${p.logFile}`);
}

async function runCleanup(steps: { name: string; run: () => Promise<unknown> }[], log: Logger): Promise<void> {
  for (const step of steps.reverse()) {
    await step.run().catch((error: unknown) => log.warn({ err: error, step: step.name }, 'could not clean up'));
  }
}
