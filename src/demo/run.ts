import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { isNotFound } from '../kube/errors.js';
import type { Logger } from '../log.js';
import { createHttpKubeClient, resourcePath, type KubeClient } from '../kube/client.js';
import type { ComponentName } from '../sandbox/component.js';
import { sandboxComponents } from '../sandbox/components.js';
import { sandboxPaths } from '../sandbox/paths.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { parseCostMetrics } from '../virtual-node/cost/report.js';
import { renderDemoChart } from './chart.js';
import { freePort, startSwellProcess, type SwellProcess } from './processes.js';
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
  /** The queue emptied by the virtual-node consumers (false: the demo drained it after the timeout). */
  drainedByConsumers: boolean;
}

const NAMESPACE = 'swell-demo';
/** The operator's own objects (Leases, the metrics API's Service and certificate Secret) live apart from the demo's. */
const SYSTEM_NAMESPACE = 'swell-demo-system';
const APP = 'consumer';
const LIST = 'jobs';
const VIRTUAL_NODE = 'swell-demo-virtual-node';

/**
 * `swell demo`: a Redis-list ScaledObject with a BurstPolicy on the sandbox, filled once and watched until it is
 * back to zero, then drawn as an SVG. Everything it starts is stopped on the way out unless `keep`.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const cleanup: { name: string; run: () => Promise<unknown> }[] = [];
  const print = options.print;
  try {
    await mkdir(options.outDir, { recursive: true });
    const env = await sandboxUp(options, cleanup);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(env.KUBECONFIG ?? '');
    const client = createHttpKubeClient(kubeConfig);
    const childEnv = { ...process.env, ...env };
    const metricsPort = await freePort();
    const costUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    print(`starting a virtual node (${VIRTUAL_NODE}, process provider: its pods run as local processes)`);
    const virtualNode = await startSwellProcess({
      repoDir: options.repoDir,
      env: childEnv,
      args: ['virtual-node', '--provider', 'process', '--name', VIRTUAL_NODE, '--port', '0', '--metrics-port', String(metricsPort), '--state-dir', join(options.outDir, 'virtual-node'), '--minimum-billed', '0s'],
      logFile: join(options.outDir, 'virtual-node.log'),
      readyLine: /virtual node running/,
      timeoutMs: 60_000,
    });
    cleanup.push({ name: `node ${VIRTUAL_NODE}`, run: () => client.request('DELETE', `/api/v1/nodes/${VIRTUAL_NODE}`).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e as Error))) });
    cleanup.push({ name: 'virtual node', run: () => stopped(virtualNode) });
    print('starting swell operator (ScaledObjects, metrics API, webhooks, burst placement)');
    const operator = await startSwellProcess({
      repoDir: options.repoDir,
      env: childEnv,
      args: ['operator', '--install-crds', '--namespace', NAMESPACE, '--lease-namespace', SYSTEM_NAMESPACE, '--cluster-auth-namespace', SYSTEM_NAMESPACE, '--metrics-port', '0', '--health-port', '0', '--webhook-configuration', 'swell-demo', '--virtual-node-metrics-url', costUrl],
      logFile: join(options.outDir, 'operator.log'),
      readyLine: /"msg":"leading: reconciling and polling"/,
      timeoutMs: 90_000,
    });
    cleanup.push({ name: `namespace ${SYSTEM_NAMESPACE}`, run: () => deleteNamespace(client, SYSTEM_NAMESPACE) });
    cleanup.push({ name: 'operator', run: () => stopped(operator) });
    // Deleted while the operator and virtual node still run: the ScaledObject's finalizer and the pods' processes.
    cleanup.push({ name: `namespace ${NAMESPACE}`, run: () => deleteNamespace(client, NAMESPACE) });
    await applyDemoObjects(client, env.REDIS_URL ?? '');
    const redis = new Redis(env.REDIS_URL ?? '', { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    cleanup.push({ name: 'redis client', run: () => Promise.resolve(redis.disconnect()) });
    const run = await watchScaling({ client, redis, costUrl, options });
    const chartPath = join(options.outDir, `demo-${new Date().toISOString().replace(/[:.]/g, '-')}.svg`);
    await writeFile(chartPath, renderDemoChart(run.samples, `swell demo: ${options.jobs} jobs, Redis list → regular + virtual node`));
    const s = summarize(run.samples);
    print(`peak: queue ${s.peakQueue}, ${s.peakRegular} regular + ${s.peakVirtual} virtual replicas; burst cost $${(s.final?.cost ?? 0).toFixed(6)}`);
    print(`chart: ${chartPath}`);
    return { chartPath, ...run };
  } finally {
    if (options.keep) print('--keep: leaving the sandbox, operator and virtual node running');
    else await runCleanup(cleanup, options.log);
  }
}

async function sandboxUp(options: DemoOptions, cleanup: { name: string; run: () => Promise<unknown> }[]): Promise<Record<string, string>> {
  const sandbox = new Sandbox({ paths: sandboxPaths(options.sandboxStateDir ? { stateDir: options.sandboxStateDir } : {}), components: sandboxComponents(), log: options.log, progress: (m) => options.print(`sandbox: ${m}`) });
  const wanted: ComponentName[] = ['kube', 'redis'];
  const running = new Set((await sandbox.status()).filter((s) => s.state === 'running').map((s) => s.name));
  const toStart = wanted.filter((n) => !running.has(n));
  if (toStart.length > 0) options.print(`sandbox: starting ${toStart.join(', ')} (first run builds Kubernetes: minutes)`);
  const env = await sandbox.up(wanted);
  if (toStart.length > 0) cleanup.unshift({ name: `sandbox (${toStart.join(', ')})`, run: () => sandbox.down(toStart) });
  return env;
}

async function applyDemoObjects(client: KubeClient, redisUrl: string): Promise<void> {
  // A namespace left terminating by an earlier run takes no new objects.
  const previous = await client.request<{ status?: { phase?: string } }>('GET', `/api/v1/namespaces/${NAMESPACE}`).catch((e: unknown) => {
    if (!isNotFound(e)) throw e;
    return undefined;
  });
  if (previous?.status?.phase === 'Terminating') await deleteNamespace(client, NAMESPACE);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } }).catch((e: unknown) => {
    if ((e as { code?: number }).code !== 409) throw e;
  });
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
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'consumer',
                  image: 'debian:stable-slim',
                  // Takes one job at a time, about two a second per replica.
                  command: ['sh', '-c', `while true; do redis-cli -u "$REDIS_URL" BRPOP ${LIST} 5 >/dev/null; sleep 0.5; done`],
                  env: [{ name: 'REDIS_URL', value: redisUrl }],
                  resources: { requests: { cpu: '1', memory: '256Mi' } },
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
          advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] } } } },
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
        spec: { scaleTargetRef: { name: APP }, baseReplicas: 2, virtualNode: { nodeSelector: { 'kubernetes.io/hostname': VIRTUAL_NODE, type: 'virtual-kubelet' } } },
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
}

/** Fills the queue, then samples once a second until the consumer is back to zero replicas with an empty queue. */
async function watchScaling({ client, redis, costUrl, options }: WatchDeps): Promise<{ samples: DemoSample[]; drainedByConsumers: boolean }> {
  const print = options.print;
  await redis.del(LIST);
  await redis.rpush(LIST, ...Array.from({ length: options.jobs }, (_, i) => `job-${i}`));
  print(`queued ${options.jobs} jobs on the Redis list "${LIST}" (5 per replica, at most 10 replicas; the first 2 on regular nodes)`);
  print('note: the sandbox\'s regular nodes are simulated (kwok): their pods run no process, so the demo takes 1 job/s from the queue');
  print('      for each Running regular pod on its behalf; the virtual-node pods are real local processes (redis-cli BRPOP)');
  const started = Date.now();
  const samples: DemoSample[] = [];
  let scaled = false;
  let drainedByConsumers = true;
  let last = '';
  for (;;) {
    const { sample, runningRegular } = await takeSample(client, redis, costUrl, (Date.now() - started) / 1000);
    samples.push(sample);
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
    if (runningRegular > 0 && sample.queueDepth > 0) await redis.rpop(LIST, runningRegular);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return { samples, drainedByConsumers };
}

async function takeSample(client: KubeClient, redis: Redis, costUrl: string, t: number): Promise<{ sample: DemoSample; runningRegular: number }> {
  const [queueDepth, pods, cost] = await Promise.all([redis.llen(LIST), consumerPods(client), burstCost(costUrl)]);
  const live = pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const isVirtual = (p: PodView) => (p.spec.nodeName ? p.spec.nodeName === VIRTUAL_NODE : p.metadata.labels?.['swell.dev/tier'] === 'burst');
  const virtual = live.filter(isVirtual).length;
  const runningRegular = live.filter((p) => !isVirtual(p) && p.status?.phase === 'Running').length;
  return { sample: { t: Math.round(t * 10) / 10, queueDepth, regular: live.length - virtual, virtual, cost }, runningRegular };
}

interface PodView {
  metadata: { labels?: Record<string, string>; deletionTimestamp?: string };
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
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
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
