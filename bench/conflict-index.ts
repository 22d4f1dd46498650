/*
 * What the reconciler's two target-conflict checks cost per reconcile with many objects cached, before and after
 * the informer's scale-target index: a rival ScaledObject on the same workload (run on every reconcile) and a
 * foreign HPA on it (run until the object owns its HPA). No servers: two real Informers are filled from an
 * in-memory list of N ScaledObjects and N HPAs (each pair on its own Deployment, all in one namespace, the worst
 * case for the old per-namespace scan), then every object's checks are timed
 * - scan: the code before, `list()` filtered by namespace (and target name for ScaledObjects), then the check;
 * - index: `byIndex(scaleTarget, namespace/group/kind/name)`, then the same check;
 * and what the index costs to keep: time per watch MODIFIED event with and without it, and heap it holds.
 *
 *   node --expose-gc --import tsx bench/conflict-index.ts [--count 10000] [--rounds 3]
 *
 * Prints JSON and writes bench/results/conflict-index-N.json.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ScaledObject } from '../src/apis/keda/v1alpha1/scaledobject.js';
import { Informer } from '../src/controller/informer.js';
import type { ListWatchSource, WatchEvent } from '../src/controller/list-watch-source.js';
import { createLogger } from '../src/log.js';
import {
  competingScaledObject,
  hpaOwnership,
  hpaTargetKeys,
  ScaleTargetIndex,
  scaledObjectTargetKeys,
  type HpaSummary,
} from '../src/scaling/target-conflicts.js';

const repo = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { count: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' } } });
const count = Number(values.count);
const rounds = Number(values.rounds);
const namespace = 'bench';

type Hpa = KubernetesObject & HpaSummary & { metadata: { namespace?: string } };

function scaledObject(i: number): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: `s-${i}`, namespace, uid: `uid-${i}`, resourceVersion: String(i + 1), creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { scaleTargetRef: { name: `s-${i}` }, triggers: [{ type: 'cron', metadata: {} }] },
  };
}

function hpa(i: number, resourceVersion = i + 1): Hpa {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: {
      name: `keda-hpa-s-${i}`,
      namespace,
      resourceVersion: String(resourceVersion),
      ownerReferences: [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: `s-${i}`, uid: `uid-${i}`, controller: true }],
    },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `s-${i}` } },
  };
}

/** An informer filled from `items` whose watch stays open; `send` delivers watch events to it. */
async function filled<T extends KubernetesObject>(items: T[]): Promise<{ informer: Informer<T>; send(event: WatchEvent<T>): void }> {
  let deliver: ((event: WatchEvent<T>) => void) | undefined;
  const source: ListWatchSource<T> = {
    list: () => Promise.resolve({ items, resourceVersion: String(items.length) }),
    watch: (_query, onEvent) => {
      deliver = onEvent;
      return Promise.resolve(() => undefined);
    },
  };
  const informer = new Informer<T>({ name: 'bench', source, log: createLogger({ level: 'silent' }), resyncPeriodMs: 0 });
  informer.start();
  await informer.synced();
  while (!deliver) await new Promise((r) => setImmediate(r));
  const send = deliver;
  return { informer, send };
}

/** Mean µs per call of `check` over every object, best of `rounds`. */
function perCall(objects: readonly ScaledObject[], check: (so: ScaledObject) => unknown): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const started = process.hrtime.bigint();
    for (const so of objects) check(so);
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1000 / objects.length);
  }
  return Number(best.toFixed(3));
}

const heap = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
};

const summary = (h: Hpa): HpaSummary => ({ metadata: { ...h.metadata, name: h.metadata.name }, spec: h.spec });

async function main(): Promise<void> {
  const sos = Array.from({ length: count }, (_, i) => scaledObject(i));
  const hpas = Array.from({ length: count }, (_, i) => hpa(i));
  // The KEDA types carry timestamps as the JSON strings watches deliver; client-node's as Date.
  const soCache = await filled(sos as unknown as KubernetesObject[]);
  const soList = (): ScaledObject[] => soCache.informer.list() as unknown as ScaledObject[];
  const soByIndex = (value: string): ScaledObject[] => soCache.informer.byIndex(ScaleTargetIndex, value) as unknown as ScaledObject[];
  const hpaCache = await filled(hpas);
  const heapBefore = heap();
  soCache.informer.addIndex(ScaleTargetIndex, (o) => scaledObjectTargetKeys(o as unknown as ScaledObject));
  hpaCache.informer.addIndex(ScaleTargetIndex, hpaTargetKeys);
  const indexHeapBytes = heap() - heapBefore;

  const sample = sos.filter((_, i) => i % Math.max(1, Math.floor(count / 2000)) === 0);
  const scan = {
    rivalScaledObjectUs: perCall(sample, (so) =>
      competingScaledObject(
        so,
        soList().filter((o) => o.spec.scaleTargetRef.name === so.spec.scaleTargetRef.name && o.metadata.namespace === namespace),
      ),
    ),
    foreignHpaUs: perCall(sample, (so) =>
      hpaOwnership(
        so,
        hpaCache.informer
          .list()
          .filter((h) => h.metadata.namespace === namespace)
          .map(summary),
      ),
    ),
  };
  const index = {
    rivalScaledObjectUs: perCall(sample, (so) => competingScaledObject(so, scaledObjectTargetKeys(so).flatMap(soByIndex))),
    foreignHpaUs: perCall(sample, (so) =>
      hpaOwnership(
        so,
        scaledObjectTargetKeys(so)
          .flatMap((v) => hpaCache.informer.byIndex(ScaleTargetIndex, v))
          .map(summary),
      ),
    ),
  };
  // Both ways must find the same answers: every object is alone on its target and owns its HPA.
  for (const so of sample.slice(0, 50)) {
    if (competingScaledObject(so, scaledObjectTargetKeys(so).flatMap(soByIndex)) !== undefined) throw new Error('index found a rival');
    if (scaledObjectTargetKeys(so).flatMap((v) => hpaCache.informer.byIndex(ScaleTargetIndex, v)).length !== 1) throw new Error('index lost an HPA');
  }

  // Keeping the index: MODIFIED events (a new resourceVersion, as the HPA controller's status writes bring).
  const plain = await filled(hpas.map((h) => structuredClone(h)));
  let version = 10 * count;
  const eventUs = (cache: { send(event: WatchEvent<Hpa>): void }): number => {
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < count; i++) cache.send({ type: 'MODIFIED', object: hpa(i, ++version) });
      best = Math.min(best, Number(process.hrtime.bigint() - started) / 1000 / count);
    }
    return Number(best.toFixed(3));
  };
  // Alternated and the best kept: whichever runs first pays for the optimizer's warm-up.
  const timings = [eventUs(hpaCache), eventUs(plain), eventUs(hpaCache), eventUs(plain)];
  const watchEvent = {
    withoutIndexUs: Math.min(timings[1] ?? Infinity, timings[3] ?? Infinity),
    withIndexUs: Math.min(timings[0] ?? Infinity, timings[2] ?? Infinity),
  };

  const speedup = (a: number, b: number): number => Number((a / Math.max(b, 0.001)).toFixed(0));
  const result = {
    benchmark: 'conflict-index',
    date: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    loadAverage1m: Number((loadavg()[0] ?? 0).toFixed(1)),
    cachedScaledObjects: count,
    cachedHpas: count,
    namespaces: 1,
    perReconcileMicroseconds: {
      scan,
      index,
      speedup: { rivalScaledObject: speedup(scan.rivalScaledObjectUs, index.rivalScaledObjectUs), foreignHpa: speedup(scan.foreignHpaUs, index.foreignHpaUs) },
    },
    perWatchEventMicroseconds: watchEvent,
    indexHeapBytesPerObject: Math.round(indexHeapBytes / (2 * count)),
  };
  await Promise.all([soCache.informer.stop(), hpaCache.informer.stop(), plain.informer.stop()]);
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const out = join(repo, 'bench', 'results', `conflict-index-${count}.json`);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
}

await main();
