/*
 * The compiled `swell operator` with many ScaledObjects on the sandbox: how long until all are Ready, the
 * memory it keeps per object, whether it holds the polling rate, what it asks of the apiserver while nothing
 * happens, and (with --soak-minutes) whether its memory grows with time at a constant object count.
 *
 *   npm run build && npx swell dev up --components kube --hpa-sync-period 15
 *   npx tsx bench/operator-scale.ts [--count 10000] [--polling-interval 1] [--window 60] [--soak-minutes 0]
 *                                   [--sample 30] [--restart true] [--keep] [--active]
 *
 * Steps: the operator (`node --expose-gc bin/swell.js operator`, every part on, a request counter and memory
 * probe loaded with --import) starts on an empty namespace, and the heap that survives a full GC is the
 * baseline. Then N Deployments at zero replicas and N ScaledObjects on closed cron windows (each poll reads its
 * target from the cache and its trigger, and writes nothing) are created; the run waits until every object is
 * Ready, settles, and measures a window: polls/s (swell_poll_runs_total), lateness p50/p99 (from the
 * swell_poll_lateness_seconds buckets, so coarse), CPU, RSS, heap per object after GC, apiserver requests/s by
 * verb and resource. --soak-minutes then samples RSS and settled heap every --sample seconds and fits a line:
 * growth per hour. --restart (default true) stops the operator (SIGTERM → exit time) and starts a new one on
 * the N existing objects: time to ready, to every object scheduled, to every object polled once.
 * SWELL_BENCH_CLI=path/to/bin/swell.js runs another build of the CLI (e.g. before and after a change).
 * --active opens every cron window instead (each target at one replica): the status writes of active objects.
 * Prints JSON and writes bench/results/operator-scale-N[-soak].json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { ScaledObject } from '../src/apis/keda/v1alpha1/scaledobject.js';
import { createHttpKubeClient, resourcePath, type KubeClient } from '../src/kube/client.js';
import { installCrds, waitFor } from '../test/integration/operator-support.js';
import { sandboxKubeconfig } from './sandbox-kubeconfig.js';
import { freePort } from '../src/sandbox/net.js';
import { latenessBuckets, latenessPercentileMs, pollRuns, scheduledKeys } from './operator-metrics.js';

const repo = join(import.meta.dirname, '..');

interface Options {
  count: number;
  pollingIntervalS: number;
  windowS: number;
  soakMinutes: number;
  sampleS: number;
  restart: boolean;
  keep: boolean;
  active: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '10000' },
      'polling-interval': { type: 'string', default: '1' },
      window: { type: 'string', default: '60' },
      'soak-minutes': { type: 'string', default: '0' },
      sample: { type: 'string', default: '30' },
      restart: { type: 'string', default: 'true' },
      keep: { type: 'boolean', default: false },
      active: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, raw: string, min = 1): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`--${name}: "${raw}" is not a whole number ≥ ${min}`);
    return Number(raw);
  };
  if (values.restart !== 'true' && values.restart !== 'false') throw new Error(`--restart: "${values.restart}" is not true or false`);
  return {
    count: int('count', values.count),
    pollingIntervalS: int('polling-interval', values['polling-interval']),
    windowS: int('window', values.window),
    soakMinutes: int('soak-minutes', values['soak-minutes'], 0),
    sampleS: int('sample', values.sample),
    restart: values.restart === 'true',
    keep: values.keep,
    active: values.active,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

interface Probe {
  at: number;
  counts: Record<string, number>;
  memory: { rss: number; heapUsed: number; heapTotal: number };
  settled?: { at: number; heapUsed: number; rss: number };
}

/** One `swell operator` child with the probe loaded, and ways to read it. */
export class OperatorProcess {
  readonly exited: Promise<number | null>;
  private output = '';

  private constructor(
    readonly child: ChildProcess,
    private readonly probeFile: string,
    private readonly metricsPort: number,
    readonly healthPort: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    child.stderr?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static async start(kubeconfig: string, namespace: string, probeFile: string, extraFlags: readonly string[] = []): Promise<OperatorProcess> {
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    const args = [
      '--expose-gc',
      '--import',
      join(repo, 'bench', 'request-counter.ts'),
      process.env.SWELL_BENCH_CLI ?? join(repo, 'bin', 'swell.js'),
      'operator',
    ];
    args.push(
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--lease-namespace',
      namespace,
      '--metrics-port',
      String(metricsPort),
      '--health-port',
      String(healthPort),
      '--log-level',
      'warn',
      ...extraFlags,
    );
    const child = spawn(process.execPath, args, {
      cwd: repo,
      env: { ...process.env, SWELL_BENCH_REQUEST_COUNTS: probeFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new OperatorProcess(child, probeFile, metricsPort, healthPort);
  }

  async ready(): Promise<void> {
    await waitFor('operator ready', 120_000, async () =>
      (await fetch(`http://127.0.0.1:${this.healthPort}/readyz`).catch(() => undefined))?.ok ? true : undefined,
    );
  }

  async probe(): Promise<Probe> {
    return JSON.parse(await readFile(this.probeFile, 'utf8')) as Probe;
  }

  /** Heap and RSS after two full collections in the operator. */
  async settledMemory(): Promise<{ heapUsed: number; rss: number }> {
    const askedAt = Date.now();
    this.child.kill('SIGUSR2');
    return waitFor('settled heap', 60_000, async () => {
      const probe = await this.probe().catch(() => undefined);
      if (probe?.settled && probe.settled.at >= askedAt) return probe.settled;
      await sleep(200);
      return undefined;
    });
  }

  /** User + system CPU seconds of the process so far, from /proc. */
  async cpuSeconds(): Promise<number> {
    const stat = await readFile(`/proc/${this.child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  /** Only the families the benches read: formatting every object's series would cost the operator CPU the bench measures. */
  async metrics(): Promise<string> {
    const names = ['swell_poll_runs_total', 'swell_poll_scheduled_keys', 'swell_poll_lateness_seconds', 'swell_shards_held'];
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics?${names.map((n) => `name=${n}`).join('&')}`)).text();
  }

  async stop(): Promise<{ exitMs: number | null; code: number | null | 'hung' }> {
    const termAt = Date.now();
    this.child.kill('SIGTERM');
    const code = await Promise.race([this.exited, sleep(60_000).then(() => 'hung' as const)]);
    if (code === 'hung') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return { exitMs: code === 'hung' ? null : Date.now() - termAt, code };
  }

  tail(): string {
    return this.output.slice(-4_000);
  }
}

/** Values of one metric family from Prometheus text, filtered by a label fragment. */
async function forEachLimited(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export async function createObjects(client: KubeClient, namespace: string, count: number, pollingIntervalS: number, active: boolean): Promise<void> {
  // Idle: a one-minute window on the first day of a month half a year away, closed however long the run takes.
  // Active: a window open all day but its last minute, so every poll finds the trigger active (one replica).
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
  const window = active
    ? { start: '0 0 * * *', end: '59 23 * * *', desiredReplicas: '1' }
    : { start: `0 0 1 ${month} *`, end: `1 0 1 ${month} *`, desiredReplicas: '2' };
  const trigger = { type: 'cron', metadata: { timezone: 'Etc/UTC', ...window } };
  const conflictOk = (err: unknown): void => {
    if ((err as { code?: number }).code !== 409) throw err;
  };
  await forEachLimited(count, 32, async (i) => {
    const name = `s-${i}`;
    await client
      .request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
        body: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: name } },
            template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1' }] } },
          },
        },
      })
      .catch(conflictOk);
    await client
      .request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }), {
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

export async function readyCount(client: KubeClient, namespace: string): Promise<number> {
  // Paged, so that listing 10,000 objects does not hold one huge response in the apiserver or here.
  let ready = 0;
  let token: string | undefined;
  do {
    const query = `?limit=1000${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
    const page = await client.request<{ items: ScaledObject[]; metadata: { continue?: string } }>(
      'GET',
      `${resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace })}${query}`,
    );
    ready += page.items.filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    token = page.metadata.continue || undefined;
  } while (token);
  return ready;
}

/** Waits (up to an hour) until `count` ScaledObjects in the namespace are Ready, printing progress. */
export async function waitAllReady(client: KubeClient, namespace: string, count: number, progress: (line: string) => void): Promise<void> {
  await waitFor(`${count} Ready`, 60 * 60_000, async () => {
    const ready = await readyCount(client, namespace);
    progress(`${ready}/${count} Ready`);
    if (ready >= count) return true;
    await sleep(Math.max(2_000, count / 2));
    return undefined;
  });
}

/** Deletes the bench's namespace and waits (up to 20 min) until it is gone; run it while operators still run. */
export async function deleteNamespace(client: KubeClient, namespace: string, progress: (line: string) => void): Promise<void> {
  progress(`deleting ${namespace}`);
  await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  await waitFor('bench namespace gone', 20 * 60_000, async () => {
    const gone = await client.request('GET', `/api/v1/namespaces/${namespace}`).then(
      () => false,
      () => true,
    );
    if (gone) return true;
    await sleep(2_000);
    return undefined;
  }).catch((err: unknown) => progress(String(err)));
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const opts = options();
  const kubeconfig = await sandboxKubeconfig(repo);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const client = createHttpKubeClient(kubeConfig, { maxSockets: 64 });
  const namespace = `bench-scale-${opts.count}-${Date.now().toString(36)}`;
  const progress = (message: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  await installCrds(client);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  await mkdir(join(repo, '.swell'), { recursive: true });
  const probeFile = join(repo, '.swell', `operator-scale-${namespace}.json`);
  const loads: number[] = [];
  const loadSampler = setInterval(() => loads.push(loadavg()[0] ?? 0), 5_000);

  let operator = await OperatorProcess.start(kubeconfig, namespace, probeFile);
  try {
    await operator.ready();
    await sleep(5_000);
    const baseline = await operator.settledMemory();
    progress(
      `baseline: heap ${mib(baseline.heapUsed)} MiB, RSS ${mib(baseline.rss)} MiB; creating ${opts.count} Deployments and ScaledObjects in ${namespace}`,
    );
    const createStarted = Date.now();
    await createObjects(client, namespace, opts.count, opts.pollingIntervalS, opts.active);
    const created = Date.now();
    progress(`created in ${((created - createStarted) / 1000).toFixed(1)} s; waiting until all are Ready`);
    await waitAllReady(client, namespace, opts.count, progress);
    const allReady = Date.now();
    // The first polls write Active, then HPAActive once the HPA controller has seen each HPA (15 s sync).
    const settleS = Math.max(45, opts.pollingIntervalS * 3);
    progress(`all Ready ${((allReady - createStarted) / 1000).toFixed(1)} s after the first create; settling ${settleS} s`);
    await sleep(settleS * 1000);

    const m0 = await operator.metrics();
    const p0 = await operator.probe();
    const cpu0 = await operator.cpuSeconds();
    const t0 = Date.now();
    progress(`measuring for ${opts.windowS} s`);
    await sleep(opts.windowS * 1000);
    const m1 = await operator.metrics();
    const p1 = await operator.probe();
    const cpu1 = await operator.cpuSeconds();
    const windowS = (Date.now() - t0) / 1000;
    const settled = await operator.settledMemory();
    const requests: Record<string, number> = {};
    let requestTotal = 0;
    for (const [kind, n] of Object.entries(p1.counts)) {
      const delta = n - (p0.counts[kind] ?? 0);
      if (delta === 0) continue;
      requests[kind] = Number((delta / windowS).toFixed(3));
      requestTotal += delta;
    }
    const lb0 = latenessBuckets(m0);
    const lb1 = latenessBuckets(m1);
    const steady = {
      windowSeconds: Number(windowS.toFixed(1)),
      pollsPerSecondExpected: Number((opts.count / opts.pollingIntervalS).toFixed(1)),
      pollsPerSecond: Number(((pollRuns(m1) - pollRuns(m0)) / windowS).toFixed(1)),
      latenessP50AtMostMs: latenessPercentileMs(lb0, lb1, 50),
      latenessP99AtMostMs: latenessPercentileMs(lb0, lb1, 99),
      cpuPercentOfOneCore: Number((((cpu1 - cpu0) / windowS) * 100).toFixed(1)),
      rssMiB: mib(p1.memory.rss),
      settledHeapMiB: mib(settled.heapUsed),
      settledRssMiB: mib(settled.rss),
      heapBytesPerObject: Math.round((settled.heapUsed - baseline.heapUsed) / opts.count),
      rssBytesPerObject: Math.round((settled.rss - baseline.rss) / opts.count),
      apiRequestsPerSecond: Number((requestTotal / windowS).toFixed(2)),
      apiRequestsByKind: requests,
    };
    progress(`steady: ${JSON.stringify(steady)}`);

    let soak: Record<string, unknown> | undefined;
    if (opts.soakMinutes > 0) {
      progress(`soaking for ${opts.soakMinutes} min, a sample every ${opts.sampleS} s`);
      const points: { minutes: number; rssMiB: number; settledHeapMiB: number }[] = [];
      const soakStart = Date.now();
      const soakCpu0 = await operator.cpuSeconds();
      const soakRuns0 = pollRuns(await operator.metrics());
      while (Date.now() - soakStart < opts.soakMinutes * 60_000) {
        const memory = await operator.settledMemory();
        points.push({ minutes: Number(((Date.now() - soakStart) / 60_000).toFixed(2)), rssMiB: mib(memory.rss), settledHeapMiB: mib(memory.heapUsed) });
        await sleep(opts.sampleS * 1000);
      }
      const final = await operator.settledMemory();
      points.push({ minutes: Number(((Date.now() - soakStart) / 60_000).toFixed(2)), rssMiB: mib(final.rss), settledHeapMiB: mib(final.heapUsed) });
      const soakS = (Date.now() - soakStart) / 1000;
      soak = {
        minutes: Number((soakS / 60).toFixed(1)),
        samples: points.length,
        rssGrowthMiBPerHour: Number((slope(points.map((p) => ({ x: p.minutes / 60, y: p.rssMiB }))) || 0).toFixed(2)),
        settledHeapGrowthMiBPerHour: Number((slope(points.map((p) => ({ x: p.minutes / 60, y: p.settledHeapMiB }))) || 0).toFixed(2)),
        rssFirstLastMiB: [points[0]?.rssMiB, points.at(-1)?.rssMiB],
        settledHeapFirstLastMiB: [points[0]?.settledHeapMiB, points.at(-1)?.settledHeapMiB],
        pollsPerSecond: Number(((pollRuns(await operator.metrics()) - soakRuns0) / soakS).toFixed(1)),
        cpuPercentOfOneCore: Number(((((await operator.cpuSeconds()) - soakCpu0) / soakS) * 100).toFixed(1)),
        points,
      };
      progress(`soak: ${JSON.stringify({ ...soak, points: undefined })}`);
    }

    let restart: Record<string, unknown> | undefined;
    if (opts.restart) {
      const stopped = await operator.stop();
      progress(`stopped (SIGTERM → exit ${stopped.exitMs} ms, code ${stopped.code}); starting a new operator on ${opts.count} existing objects`);
      await rm(probeFile, { force: true });
      const startedAt = Date.now();
      operator = await OperatorProcess.start(kubeconfig, namespace, probeFile);
      await operator.ready();
      const readyAt = Date.now();
      // The leader polls; every object scheduled, then every object polled once since the start.
      const scheduledAt = await waitFor('all scheduled', 20 * 60_000, async () => {
        if (scheduledKeys(await operator.metrics().catch(() => '')) >= opts.count) return Date.now();
        await sleep(250);
        return undefined;
      });
      const polledAt = await waitFor('all polled once', 20 * 60_000, async () => {
        if (pollRuns(await operator.metrics().catch(() => '')) >= opts.count) return Date.now();
        await sleep(250);
        return undefined;
      });
      restart = {
        sigtermToExitMs: stopped.exitMs,
        exitCode: stopped.code,
        startToReadyzSeconds: Number(((readyAt - startedAt) / 1000).toFixed(1)),
        startToAllScheduledSeconds: Number(((scheduledAt - startedAt) / 1000).toFixed(1)),
        startToAllPolledSeconds: Number(((polledAt - startedAt) / 1000).toFixed(1)),
        rssAfterStartMiB: mib((await operator.probe()).memory.rss),
      };
      progress(`restart: ${JSON.stringify(restart)}`);
    }

    const result = {
      benchmark: 'operator-scale',
      date: new Date().toISOString(),
      node: process.version,
      cpus: availableParallelism(),
      loadAverageDuringRun: {
        min: Math.min(...loads),
        max: Math.max(...loads),
        mean: Number((loads.reduce((s, l) => s + l, 0) / Math.max(1, loads.length)).toFixed(1)),
      },
      count: opts.count,
      triggers: opts.active ? 'active (open cron window, 1 replica each)' : 'idle (closed cron window, targets at zero)',
      pollingIntervalSeconds: opts.pollingIntervalS,
      operator: 'compiled CLI: node --expose-gc bin/swell.js operator (all parts on)',
      baseline: { heapMiB: mib(baseline.heapUsed), rssMiB: mib(baseline.rss) },
      setup: {
        createSeconds: Number(((created - createStarted) / 1000).toFixed(1)),
        firstCreateToAllReadySeconds: Number(((allReady - createStarted) / 1000).toFixed(1)),
      },
      steady,
      ...(soak ? { soak } : {}),
      ...(restart ? { restart } : {}),
    };
    await mkdir(join(repo, 'bench', 'results'), { recursive: true });
    const out = join(repo, 'bench', 'results', `operator-scale-${opts.count}${opts.active ? '-active' : ''}${opts.soakMinutes > 0 ? '-soak' : ''}.json`);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
  } catch (err) {
    process.stderr.write(`operator output:\n${operator.tail()}\n`);
    throw err;
  } finally {
    clearInterval(loadSampler);
    if (!opts.keep) {
      // Deleted while the operator still runs, so that it takes its finalizers off.
      await deleteNamespace(client, namespace, progress);
    }
    if (operator.child.exitCode === null) await operator.stop();
    await rm(probeFile, { force: true });
  }
}

// Run as a script; other benches import the helpers above.
if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) await main();
