/*
 * How the operator holds up with many ScaledObjects: creates N cron ScaledObjects (each on its own scale
 * target) in the sandbox, runs the whole operator in this process (createSwell, as `swell operator` does, with
 * the metrics API, webhooks and burst placement off), waits until every object is Ready, then measures a
 * steady-state window: operator CPU, RSS, polls and poll lateness p50/p99 (upper bounds, from the
 * swell_poll_lateness_seconds buckets of its /metrics), and apiserver requests per second.
 *
 *   npx tsx src/cli/main.ts dev up --components kube
 *   npx tsx bench/scaledobjects.ts --count 1000 [--polling-interval 30] [--window S] [--workers 20]
 *   node --expose-gc --import tsx bench/scaledobjects.ts ...   # adds heap bytes per object, measured after a GC
 *
 * Each ScaledObject scales its own Deployment, at zero replicas (no pods) as most event-driven workloads are
 * most of the time; the triggers are cron windows that are closed, so every poll reads its target (from the
 * operator's Deployment cache) and its trigger, and writes nothing. The HPA controller of the sandbox syncs
 * every HPA each 2 s, which loads the shared apiserver far more than a real cluster's 15 s.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { ScaledObject } from '../src/apis/keda/v1alpha1/scaledobject.js';
import { isNotFound } from '../src/kube/errors.js';
import { createLogger } from '../src/log.js';
import { createHttpKubeClient, resourcePath, type KubeClient, type KubeWatchClient } from '../src/kube/client.js';
import { createSwell, type SwellPorts } from '../src/operator/swell.js';
import { installCrds, waitFor } from '../test/integration/operator-support.js';
import { latenessBuckets, latenessPercentileMs, pollRuns, scheduledKeys } from './operator-metrics.js';
import { sandboxKubeconfig } from './sandbox-kubeconfig.js';

const repo = join(import.meta.dirname, '..');

interface Options {
  count: number;
  pollingIntervalS: number;
  windowS: number;
  workers: number;
  keep: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '1000' },
      'polling-interval': { type: 'string', default: '30' },
      window: { type: 'string' },
      workers: { type: 'string', default: '20' },
      keep: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, raw: string): number => {
    if (!/^[1-9]\d*$/.test(raw)) throw new Error(`--${name}: "${raw}" is not a positive integer`);
    return Number(raw);
  };
  const count = int('count', values.count);
  const pollingIntervalS = int('polling-interval', values['polling-interval']);
  // Long enough for a few thousand polls inside the window.
  const defaultWindowS = Math.max(60, Math.ceil((4096 * pollingIntervalS) / count) + 10);
  return {
    count,
    pollingIntervalS,
    windowS: values.window === undefined ? defaultWindowS : int('window', values.window),
    workers: int('workers', values.workers),
    keep: values.keep,
  };
}

/** Counts the operator's apiserver requests by method (watches apart), to report the steady-state request rate. */
function countingClient(inner: KubeWatchClient): KubeWatchClient & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    counts,
    request(method, path, opts) {
      const kind = /\/(status|scale)$/.exec(path)?.[1] ?? /\/namespaces\/[^/]+\/([^/]+)/.exec(path)?.[1] ?? path.split('/').at(-1) ?? '';
      const key = `${method} ${kind}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return inner.request(method, path, opts);
    },
    watch: (path, query, onLine, onClose) => inner.watch(path, query, onLine, onClose),
  };
}

/** Runs `task` for 0..count-1 with at most `limit` in flight. */
async function forEachLimited(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function createObjects(client: KubeClient, namespace: string, count: number, pollingIntervalS: number): Promise<void> {
  // A one-minute window on the first day of a month half a year away: closed however long the run takes.
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
  const trigger = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: `0 0 1 ${month} *`, end: `1 0 1 ${month} *`, desiredReplicas: '2' } };
  const targets = resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace });
  const scaledObjects = resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace });
  await forEachLimited(count, 32, async (i) => {
    const name = `t-${i}`;
    const conflictOk = (err: unknown): void => {
      if ((err as { code?: number }).code !== 409) throw err;
    };
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1' }] } },
      },
    };
    await client.request('POST', targets, { body: deployment }).catch(conflictOk);
    await client
      .request('POST', scaledObjects, {
        body: {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: { name },
          spec: { scaleTargetRef: { name }, pollingInterval: pollingIntervalS, triggers: [trigger] },
        },
      })
      .catch(conflictOk);
  });
}

/** Heap in use after a full collection, when the process was started with --expose-gc. */
function settledHeap(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function readyCount(objects: readonly ScaledObject[]): number {
  return objects.filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

async function main(): Promise<void> {
  const opts = options();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(await sandboxKubeconfig(repo));
  const setupClient = createHttpKubeClient(kubeConfig, { maxSockets: 64 });
  const namespace = `bench-so-${opts.count}`;
  const log = createLogger({ name: 'bench', level: process.env.SWELL_LOG_LEVEL ?? 'warn' });
  const progress = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);

  await installCrds(setupClient);
  await setupClient
    .request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });

  const client = countingClient(createHttpKubeClient(kubeConfig, { maxSockets: 64 }));
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
        leaseNamespace: namespace,
        clusterAuthNamespace: namespace,
        maxReconciles: opts.workers,
        local: true,
        metricsApi: { enabled: false, port: 0, serviceName: 'swell-bench-metrics', publishCaBundle: false },
        webhooks: { enabled: false, port: 0, serviceName: 'swell-bench-webhooks', configurationName: 'swell-bench', validateKeda: false },
        certSecret: 'swell-bench-certs',
        burst: false,
        shutdownDelayMs: 0,
      },
      client,
      log,
      version: 'bench',
      onStarted: started,
    },
    stopping.signal,
  );
  const { metricsPort } = await Promise.race([ports, running.then(() => Promise.reject(new Error('the operator stopped before it started')))]);
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const heapBefore = settledHeap();
  const cpuStart = process.cpuUsage();
  const setupStarted = Date.now();
  progress(`creating ${opts.count} targets and ScaledObjects in ${namespace}`);
  await createObjects(setupClient, namespace, opts.count, opts.pollingIntervalS);
  const created = Date.now();
  progress(`created in ${((created - setupStarted) / 1000).toFixed(1)} s; waiting until all are Ready`);
  const list = () =>
    setupClient.request<{ items: ScaledObject[] }>('GET', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }));
  // Listing every object is itself load on the apiserver and on this process: look less often the more there are.
  const listEveryMs = Math.max(2_000, opts.count);
  await waitFor(`${opts.count} ScaledObjects Ready`, Math.max(30 * 60_000, opts.count * 360), async () => {
    const ready = readyCount((await list()).items);
    progress(`${ready}/${opts.count} Ready`);
    if (ready >= opts.count) return true;
    await new Promise((r) => setTimeout(r, listEveryMs));
    return undefined;
  });
  const allReady = Date.now();
  const setupCpu = process.cpuUsage(cpuStart);

  // Let the first polls pass (they write Active, then HPAActive once the HPA controller has seen the HPA).
  progress(`all Ready after ${((allReady - setupStarted) / 1000).toFixed(1)} s; settling for two polling intervals`);
  await new Promise((r) => setTimeout(r, opts.pollingIntervalS * 2_000 + 5_000));
  const requestsBefore = new Map(client.counts);
  const metricsBefore = await metrics();
  const windowCpuStart = process.cpuUsage();
  const windowStarted = Date.now();
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 1_000);
  progress(`measuring for ${opts.windowS} s`);
  await new Promise((r) => setTimeout(r, opts.windowS * 1000));
  clearInterval(sampler);
  const windowMs = Date.now() - windowStarted;
  const windowCpu = process.cpuUsage(windowCpuStart);
  const memory = process.memoryUsage();
  const heapAfter = settledHeap();
  const metricsAfter = await metrics();
  const polls = pollRuns(metricsAfter) - pollRuns(metricsBefore);
  const requests: Record<string, number> = {};
  for (const [method, total] of client.counts) requests[method] = Number((((total - (requestsBefore.get(method) ?? 0)) * 1000) / windowMs).toFixed(2));

  const result = {
    count: opts.count,
    pollingIntervalSeconds: opts.pollingIntervalS,
    workers: opts.workers,
    node: process.version,
    setup: {
      createSeconds: Number(((created - setupStarted) / 1000).toFixed(1)),
      allReadySeconds: Number(((allReady - setupStarted) / 1000).toFixed(1)),
      cpuSeconds: Number(((setupCpu.user + setupCpu.system) / 1e6).toFixed(1)),
    },
    steady: {
      windowSeconds: Number((windowMs / 1000).toFixed(1)),
      cpuPercentOfOneCore: Number((((windowCpu.user + windowCpu.system) / 1000 / windowMs) * 100).toFixed(2)),
      rssMiB: Number((memory.rss / 2 ** 20).toFixed(1)),
      rssPeakMiB: Number((Math.max(rssPeak, memory.rss) / 2 ** 20).toFixed(1)),
      heapUsedMiB: Number((memory.heapUsed / 2 ** 20).toFixed(1)),
      // Everything the process keeps per object: informer copies, scalers, schedules, metric series.
      heapBytesPerObject: heapBefore !== undefined && heapAfter !== undefined ? Math.round((heapAfter - heapBefore) / opts.count) : 'run with node --expose-gc',
      pollsPerSecondExpected: Number((opts.count / opts.pollingIntervalS).toFixed(1)),
      pollsPerSecond: Number(((polls * 1000) / windowMs).toFixed(1)),
      latenessP50AtMostMs: latenessPercentileMs(latenessBuckets(metricsBefore), latenessBuckets(metricsAfter), 50),
      latenessP99AtMostMs: latenessPercentileMs(latenessBuckets(metricsBefore), latenessBuckets(metricsAfter), 99),
      scheduled: scheduledKeys(metricsAfter),
      apiRequestsPerSecond: requests,
    },
  };
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const suffix = opts.pollingIntervalS === 30 ? '' : `-${opts.pollingIntervalS}s`;
  const out = join(repo, 'bench', 'results', `scaledobjects-${opts.count}${suffix}.json`);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);

  if (!opts.keep) {
    progress('cleaning up (the operator removes the finalizers)');
    await setupClient.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await waitFor('bench namespace gone', 20 * 60_000, async () => {
      try {
        await setupClient.request('GET', `/api/v1/namespaces/${namespace}`);
        await new Promise((r) => setTimeout(r, 2_000));
        return undefined;
      } catch (err) {
        return isNotFound(err) ? true : undefined;
      }
    }).catch((err: unknown) => progress(String(err)));
  }
  stopping.abort();
  await running;
}

await main();
