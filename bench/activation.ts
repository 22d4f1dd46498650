/*
 * How fast work is picked up, on the sandbox (kube + redis), with the whole operator (createSwell, as `swell
 * operator --local` runs it, its external metrics API registered on the sandbox) in this process and the
 * sandbox's real HPA controller:
 *
 * 1. Activation latency: N ScaledObjects (default 100) at pollingInterval 1 s, each on its own Redis list and its
 *    own Deployment at zero. One item is pushed onto each list in turn, at random moments, and a watch on the
 *    Deployments records when each reaches 1 replica: RPUSH → replicas ≥ 1, p50/p99/max. At pollingInterval
 *    1 s the floor is about half a second on average (the next poll) plus the read and the /scale write.
 * 2. Time to N: a list filled at once with 1,000 items at listLength 10 (maxReplicaCount 100), once with
 *    `scaledobject.swell.dev/activation-replicas: demand` and once with KEDA's default (0 → 1, then the HPA's
 *    scale-up ramp of at most 4 pods or 100% per 15 s, paced by the controller manager's HPA sync period).
 *
 *   npx tsx src/cli/main.ts dev up --components kube,redis --hpa-sync-period 15
 *   npx tsx bench/activation.ts [--objects 100] [--items 1000] [--ramp-timeout 300] [--skip-ramp] [--poll-concurrency N]
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import type { ScaledObject } from '../src/apis/keda/v1alpha1/scaledobject.js';
import { Informer } from '../src/controller/informer.js';
import { isNotFound } from '../src/kube/errors.js';
import { createKubeListWatchSource } from '../src/kube/list-watch.js';
import { createLogger } from '../src/log.js';
import { createHttpKubeClient, resourcePath, type KubeClient, type KubeWatchClient } from '../src/kube/client.js';
import { createSwell, type SwellPorts } from '../src/operator/swell.js';
import { installCrds, waitFor } from '../test/integration/operator-support.js';
import { latenessBuckets, latenessPercentileMs } from './operator-metrics.js';

const repo = join(import.meta.dirname, '..');

interface Options {
  objects: number;
  items: number;
  listLength: number;
  rampTimeoutS: number;
  skipRamp: boolean;
  pollConcurrency: number | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string', default: '100' },
      items: { type: 'string', default: '1000' },
      'list-length': { type: 'string', default: '10' },
      'ramp-timeout': { type: 'string', default: '300' },
      'skip-ramp': { type: 'boolean', default: false },
      'poll-concurrency': { type: 'string' },
    },
  });
  const int = (name: string, raw: string): number => {
    if (!/^[1-9]\d*$/.test(raw)) throw new Error(`--${name}: "${raw}" is not a positive integer`);
    return Number(raw);
  };
  return {
    objects: int('objects', values.objects),
    items: int('items', values.items),
    listLength: int('list-length', values['list-length']),
    rampTimeoutS: int('ramp-timeout', values['ramp-timeout']),
    skipRamp: values['skip-ramp'],
    pollConcurrency: values['poll-concurrency'] === undefined ? undefined : int('poll-concurrency', values['poll-concurrency']),
  };
}

async function sandboxEnv(): Promise<{ kubeconfig: string; redisUrl: string }> {
  const env = await readFile(join(repo, '.swell', 'dev', 'env'), 'utf8').catch(() => '');
  const value = (name: string): string | undefined => process.env[name] ?? new RegExp(`${name}='([^']+)'`).exec(env)?.[1];
  const kubeconfig = value('KUBECONFIG');
  const redisUrl = value('REDIS_URL');
  if (!kubeconfig || !redisUrl)
    throw new Error('no sandbox: run `npx tsx src/cli/main.ts dev up --components kube,redis` first (or set KUBECONFIG and REDIS_URL)');
  return { kubeconfig, redisUrl };
}

/** When each Deployment first reached each replica count, from a watch. */
class ReplicaWatch {
  readonly reachedAt = new Map<string, Map<number, number>>();
  readonly trajectory = new Map<string, { at: number; replicas: number }[]>();

  record(d: KubernetesObject): void {
    const name = d.metadata?.name ?? '';
    const replicas = (d as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
    const now = Date.now();
    const reached = this.reachedAt.get(name) ?? new Map<number, number>();
    if (!reached.has(replicas)) reached.set(replicas, now);
    this.reachedAt.set(name, reached);
    const path = this.trajectory.get(name) ?? [];
    if (path.at(-1)?.replicas !== replicas) path.push({ at: now, replicas });
    this.trajectory.set(name, path);
  }

  /** When `name` was first seen at `atLeast` replicas or more. */
  firstAtLeast(name: string, atLeast: number): number | undefined {
    let first: number | undefined;
    for (const [replicas, at] of this.reachedAt.get(name) ?? []) if (replicas >= atLeast && (first === undefined || at < first)) first = at;
    return first;
  }
}

/** The operator's apiserver requests, timed by verb and kind: a slow status write holds its poll's slot. */
function timingClient(inner: KubeWatchClient): KubeWatchClient & { timings: Map<string, number[]>; scaleWrites: Map<string, number> } {
  const timings = new Map<string, number[]>();
  /** When the first /scale write of each Deployment was sent: the moment swell had decided. */
  const scaleWrites = new Map<string, number>();
  return {
    timings,
    scaleWrites,
    async request(method, path, opts) {
      const kind = /\/(status|scale)$/.exec(path)?.[1] ?? /\/namespaces\/[^/]+\/([^/]+)/.exec(path)?.[1] ?? path.split('/').at(-1) ?? '';
      const target = /\/deployments\/([^/]+)\/scale$/.exec(path)?.[1];
      if (target && method !== 'GET' && !scaleWrites.has(target)) scaleWrites.set(target, Date.now());
      const started = performance.now();
      try {
        return await inner.request(method, path, opts);
      } finally {
        const key = `${method} ${kind}`;
        const list = timings.get(key) ?? [];
        list.push(performance.now() - started);
        timings.set(key, list);
      }
    },
    watch: (path, query, onLine, onClose) => inner.watch(path, query, onLine, onClose),
  };
}

function summarizeTimings(timings: Map<string, number[]>): Record<string, { count: number; p50Ms: number; p99Ms: number }> {
  const out: Record<string, { count: number; p50Ms: number; p99Ms: number }> = {};
  for (const [key, list] of timings) {
    const sorted = [...list].sort((a, b) => a - b);
    out[key] = { count: sorted.length, p50Ms: Math.round(percentile(sorted, 50)), p99Ms: Math.round(percentile(sorted, 99)) };
  }
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function forEachLimited(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const demand = { 'scaledobject.swell.dev/activation-replicas': 'demand' };

async function createTarget(
  client: KubeClient,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): Promise<void> {
  await client.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      // Pods that no node runs: the bench measures the replica count swell and the HPA set, not pod start-up.
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { nodeSelector: { 'swell.dev/bench': 'none' }, containers: [{ name: 'main', image: 'registry.invalid/app:1' }] },
        },
      },
    },
  });
  await client.request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }), {
    body: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec: { scaleTargetRef: { name }, ...spec },
    },
  });
}

async function main(): Promise<void> {
  const opts = options();
  const env = await sandboxEnv();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env.kubeconfig);
  const client = createHttpKubeClient(kubeConfig, { maxSockets: 64 });
  const suffix = randomUUID().slice(0, 6);
  const namespace = `bench-act-${suffix}`;
  const progress = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);
  const log = createLogger({ name: 'bench', level: process.env.SWELL_LOG_LEVEL ?? 'warn' });
  const redisAddress = new URL(env.redisUrl);
  const address = `${redisAddress.hostname}:${redisAddress.port}`;
  const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: 1 });
  const listOf = (name: string): string => `${namespace}:${name}`;

  await installCrds(client);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const operatorClient = timingClient(createHttpKubeClient(kubeConfig, { maxSockets: 64 }));
  const registration = { namespace: 'swell-system', serviceName: `swell-bench-${suffix}` };
  const stopping = new AbortController();
  let started: (ports: SwellPorts) => void = () => undefined;
  const ports = new Promise<SwellPorts>((resolve) => (started = resolve));
  const running = createSwell(
    {
      settings: {
        namespace,
        metricsPort: 0,
        healthPort: 0,
        leaderElect: false,
        leaseNamespace: registration.namespace,
        clusterAuthNamespace: namespace,
        maxReconciles: 5,
        ...(opts.pollConcurrency ? { pollConcurrency: opts.pollConcurrency } : {}),
        local: true,
        metricsApi: { enabled: true, port: 0, serviceName: registration.serviceName, publishCaBundle: true },
        webhooks: {
          enabled: false,
          port: 0,
          serviceName: `${registration.serviceName}-webhooks`,
          configurationName: registration.serviceName,
          validateKeda: false,
        },
        certSecret: `${registration.serviceName}-certs`,
        burst: false,
        shutdownDelayMs: 0,
      },
      client: operatorClient,
      log,
      version: 'bench',
      onStarted: started,
    },
    stopping.signal,
  );
  const { metricsPort } = await Promise.race([ports, running.then(() => Promise.reject(new Error('the operator stopped before it started')))]);
  const lateness = async () => latenessBuckets(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
  const watch = new ReplicaWatch();
  const deployments = new Informer<KubernetesObject>({
    name: 'bench-deployments',
    source: createKubeListWatchSource(client, resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace })),
    log,
  });
  deployments.addHandler({ add: (d) => watch.record(d), update: (_old, d) => watch.record(d) });
  deployments.start();
  await deployments.synced();

  try {
    progress(`creating ${opts.objects} ScaledObjects at pollingInterval 1 s, each on its own list`);
    const names = Array.from({ length: opts.objects }, (_, i) => `a-${i}`);
    await forEachLimited(names.length, 16, async (i) => {
      const name = names[i]!;
      await createTarget(
        client,
        namespace,
        name,
        {
          pollingInterval: 1,
          cooldownPeriod: 3_600,
          triggers: [{ type: 'redis', metadata: { address, listName: listOf(name), listLength: String(opts.listLength) } }],
        },
        demand,
      );
    });
    await waitReady(client, namespace, opts.objects + 0, progress);
    // Every object has polled a few times: the next poll of each is on its own schedule, not a first one.
    await new Promise((r) => setTimeout(r, 5_000));

    progress('pushing one item onto each list in turn, at random moments');
    operatorClient.timings.clear();
    const latenessBefore = await lateness();
    const pushedAt = new Map<string, number>();
    for (const name of names) {
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
      pushedAt.set(name, Date.now());
      await redis.rpush(listOf(name), 'job');
    }
    await waitFor('every target at 1 replica', 60_000, () =>
      Promise.resolve(names.every((n) => watch.firstAtLeast(n, 1) !== undefined) ? true : undefined),
    ).catch((err: unknown) => progress(String(err)));
    const delays = names
      .flatMap((n) => {
        const at = watch.firstAtLeast(n, 1);
        return at === undefined ? [] : [at - pushedAt.get(n)!];
      })
      .sort((a, b) => a - b);
    const decided = names
      .flatMap((n) => {
        const at = operatorClient.scaleWrites.get(n);
        return at === undefined ? [] : [at - pushedAt.get(n)!];
      })
      .sort((a, b) => a - b);
    const activation = {
      objects: opts.objects,
      pollingIntervalSeconds: 1,
      activated: delays.length,
      // RPUSH → the Deployment seen at 1 replica through a watch: what a user sees.
      p50Ms: percentile(delays, 50),
      p99Ms: percentile(delays, 99),
      maxMs: delays.at(-1) ?? 0,
      overOneIntervalPlus50Ms: delays.filter((d) => d > 1_050).length,
      // RPUSH → swell sending the /scale write: the poll's share, without the apiserver's time to apply it.
      toScaleWriteP50Ms: percentile(decided, 50),
      toScaleWriteP99Ms: percentile(decided, 99),
      toScaleWriteMaxMs: decided.at(-1) ?? 0,
      pollLatenessMs: await lateness().then((after) => ({
        p50AtMost: latenessPercentileMs(latenessBefore, after, 50),
        p99AtMost: latenessPercentileMs(latenessBefore, after, 99),
      })),
      operatorRequests: summarizeTimings(operatorClient.timings),
    };
    progress(`activation: ${JSON.stringify(activation)}`);

    const step = async (name: string, annotations: Record<string, string> | undefined, timeoutS: number) => {
      await createTarget(
        client,
        namespace,
        name,
        {
          pollingInterval: 1,
          cooldownPeriod: 3_600,
          maxReplicaCount: 100,
          triggers: [{ type: 'redis', metadata: { address, listName: listOf(name), listLength: String(opts.listLength) } }],
        },
        annotations,
      );
      return { name, timeoutS };
    };
    const target = Math.min(100, Math.ceil(opts.items / opts.listLength));
    const steps = [await step('step-demand', demand, 60), ...(opts.skipRamp ? [] : [await step('step-keda', undefined, opts.rampTimeoutS)])];
    await waitReady(client, namespace, opts.objects + steps.length, progress);
    await new Promise((r) => setTimeout(r, 3_000));
    progress(`pushing ${opts.items} items at once onto ${steps.map((s) => s.name).join(' and ')}; waiting for ${target} replicas`);
    const filledAt = Date.now();
    await Promise.all(steps.map((s) => redis.rpush(listOf(s.name), ...Array.from({ length: opts.items }, (_, i) => `job-${i}`))));
    const timeToN: Record<string, unknown> = {};
    await Promise.all(
      steps.map(async (s) => {
        await waitFor(`${s.name} at ${target} replicas`, s.timeoutS * 1_000, () =>
          Promise.resolve(watch.firstAtLeast(s.name, target) !== undefined ? true : undefined),
        ).catch((err: unknown) => progress(String(err)));
        const first = watch.firstAtLeast(s.name, 1);
        const full = watch.firstAtLeast(s.name, target);
        timeToN[s.name] = {
          items: opts.items,
          listLength: opts.listLength,
          targetReplicas: target,
          toFirstReplicaMs: first === undefined ? null : first - filledAt,
          toTargetMs: full === undefined ? null : full - filledAt,
          steps: (watch.trajectory.get(s.name) ?? []).map((p) => `${p.replicas}@${p.at - filledAt}ms`),
        };
        progress(`${s.name}: ${JSON.stringify(timeToN[s.name])}`);
      }),
    );

    const result = { node: process.version, activation, timeToN };
    await mkdir(join(repo, 'bench', 'results'), { recursive: true });
    const out = join(repo, 'bench', 'results', `activation-${opts.objects}.json`);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
  } finally {
    progress('cleaning up');
    await redis
      .del(...[...Array.from({ length: opts.objects }, (_, i) => listOf(`a-${i}`)), listOf('step-demand'), listOf('step-keda')])
      .catch(() => undefined);
    redis.disconnect();
    await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await waitFor('bench namespace gone', 5 * 60_000, async () => {
      try {
        await client.request('GET', `/api/v1/namespaces/${namespace}`);
        return undefined;
      } catch (err) {
        return isNotFound(err) ? true : undefined;
      }
    }).catch((err: unknown) => progress(String(err)));
    await deployments.stop();
    stopping.abort();
    await running;
    await client.request('DELETE', `/api/v1/namespaces/${registration.namespace}/secrets/${registration.serviceName}-certs`).catch(() => undefined);
    await client.request('DELETE', `/api/v1/namespaces/${registration.namespace}/services/${registration.serviceName}`).catch(() => undefined);
  }
}

async function waitReady(client: KubeClient, namespace: string, count: number, progress: (m: string) => void): Promise<void> {
  await waitFor(`${count} ScaledObjects Ready`, 10 * 60_000, async () => {
    const list = await client.request<{ items: ScaledObject[] }>(
      'GET',
      resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }),
    );
    const ready = list.items.filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    if (ready >= count) return true;
    progress(`${ready}/${count} Ready`);
    await new Promise((r) => setTimeout(r, 1_000));
    return undefined;
  });
}

await main();
