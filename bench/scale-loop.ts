/*
 * CPU cost of one ScaledObject poll, without an apiserver: N cron ScaledObjects (closed windows, targets at
 * zero, as in bench/scaledobjects.ts) are polled through the real ScaleLoop, scalers, metrics and status
 * writer, with the informer caches and the apiserver replaced by in-memory fakes. Reports CPU µs per poll and
 * how many status writes the steady state makes (it should make none).
 *
 *   npx tsx bench/scale-loop.ts [--count 2000] [--rounds 5]
 *   node --cpu-prof --import tsx bench/scale-loop.ts    # to see where the time goes
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { ConnectionPool } from '../scalers/connection-pool.js';
import { createScaler } from '../scalers/registry.js';
import { SharedReads } from '../scalers/shared-reads.js';
import type { ScaledObject } from '../src/apis/keda/v1alpha1/scaledobject.js';
import { createLogger } from '../src/log.js';
import { FakeKubeClient } from '../src/kube/fake-client.js';
import type { HorizontalPodAutoscaler } from '../src/operator/scaledobject/hpa.js';
import { LastReadings } from '../src/operator/scaledobject/last-readings.js';
import { OperatorMetrics } from '../src/operator/metrics.js';
import { ReadyPods } from '../src/operator/scaledobject/ready-pods.js';
import { ScaleLoop } from '../src/operator/scaledobject/scale-loop.js';
import { ScaleTargets, type CachedWorkload } from '../src/operator/scaledobject/scale-target.js';
import { ScalersCache } from '../src/operator/scalers-cache.js';
import { StatusWriter } from '../src/operator/scaledobject/status-writer.js';
import { createSystemClock } from '../src/controller/clock.js';

const repo = join(import.meta.dirname, '..');
const namespace = 'bench';
const pollingIntervalMs = 30_000;

function options(): { count: number; rounds: number } {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '5' } } });
  const int = (name: string, raw: string): number => {
    if (!/^[1-9]\d*$/.test(raw)) throw new Error(`--${name}: "${raw}" is not a positive integer`);
    return Number(raw);
  };
  return { count: int('count', values.count), rounds: int('rounds', values.rounds) };
}

function scaledObjectPath(name: string): string {
  return `/apis/keda.sh/v1alpha1/namespaces/${namespace}/scaledobjects/${name}`;
}

/** A ScaledObject as the reconciler leaves it: Ready, its HPA named, its target resolved. */
function readyScaledObject(name: string, start: string, end: string): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      scaleTargetRef: { name },
      pollingInterval: pollingIntervalMs / 1000,
      triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start, end, desiredReplicas: '2' } }],
    },
    status: {
      scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
      hpaName: `keda-hpa-${name}`,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' },
        { type: 'Active', status: 'Unknown' },
        { type: 'Fallback', status: 'Unknown' },
        { type: 'Paused', status: 'False' },
      ],
    },
  };
}

async function main(): Promise<void> {
  const opts = options();
  const log = createLogger({ name: 'bench', level: 'silent' });
  const client = new FakeKubeClient();
  // A fixed clock stepped per poll: the bench measures CPU, not waiting.
  let nowMs = Date.parse('2026-03-10T12:00:00Z');
  const clock = { ...createSystemClock(), now: () => nowMs };
  const scalerDeps = { clock, log, reads: new SharedReads(clock), connections: new ConnectionPool({ clock }) };
  const scalers = new ScalersCache({ factory: (context) => createScaler(context, scalerDeps), log });
  const deployments = new Map<string, CachedWorkload>();
  const hpas = new Map<string, HorizontalPodAutoscaler>();
  const month = ((new Date(nowMs).getUTCMonth() + 6) % 12) + 1;
  const keys: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    const name = `t-${i}`;
    const so = readyScaledObject(name, `0 0 1 ${month} *`, `1 0 1 ${month} *`);
    client.put(scaledObjectPath(name), so);
    deployments.set(`${namespace}/${name}`, { metadata: { resourceVersion: '1' }, spec: { replicas: 0, selector: { matchLabels: { app: name } } } });
    hpas.set(`${namespace}/keda-hpa-${name}`, {
      metadata: { name: `keda-hpa-${name}`, namespace },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, maxReplicas: 1 },
      status: {
        desiredReplicas: 0,
        conditions: [
          { type: 'ScalingActive', status: 'False', reason: 'ScalingDisabled', message: 'scaling is disabled since the replica count of the target is zero' },
        ],
      },
    });
    await scalers.ensure(`${namespace}/${name}`, { namespace, triggers: so.spec.triggers, auth: [{ params: {}, warnings: [] }], env: {} });
    keys.push(`${namespace}/${name}`);
  }
  const loop = new ScaleLoop({
    log,
    now: () => nowMs,
    scaledObjects: { get: (key) => client.get(scaledObjectPath(key.split('/')[1] ?? '')) as unknown as ScaledObject | undefined, list: () => [] },
    scalers,
    targets: new ScaleTargets(client, (gvkr) => (gvkr.resource === 'deployments' ? deployments : undefined)),
    readyPods: new ReadyPods(client),
    status: new StatusWriter(client),
    events: { emit: () => undefined },
    metrics: new OperatorMetrics(new Registry(), 'bench', () => []),
    readings: new LastReadings(),
    hpas: { get: (key) => hpas.get(key), list: () => [...hpas.values()] },
  });
  const stepMs = pollingIntervalMs / opts.count;
  const round = async (): Promise<void> => {
    for (const key of keys) {
      nowMs += stepMs;
      await loop.poll(key);
    }
  };
  // The first round writes Active (Unknown -> False) and warms up the JIT; the rest is the steady state.
  await round();
  await round();
  const writesBefore = client.writes().length;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  for (let r = 0; r < opts.rounds; r++) await round();
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStart);
  const polls = opts.count * opts.rounds;
  const result = {
    count: opts.count,
    rounds: opts.rounds,
    node: process.version,
    polls,
    cpuMicrosPerPoll: Number(((cpu.user + cpu.system) / polls).toFixed(1)),
    wallMicrosPerPoll: Number(((elapsedMs * 1000) / polls).toFixed(1)),
    statusWritesPerPoll: Number(((client.writes().length - writesBefore) / polls).toFixed(4)),
    heapUsedMiB: Number((process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)),
  };
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const out = join(repo, 'bench', 'results', `scale-loop-${opts.count}.json`);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
  await scalers.closeAll();
}

await main();
