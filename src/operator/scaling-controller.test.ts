import type { KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { sleep } from '../controller/clock.js';
import { FakeClock } from '../controller/fake-clock.js';
import { keyPhase, nextDueAt } from '../controller/poll-scheduler.js';
import { Informer } from '../controller/informer.js';
import type { ListResult, ListWatchSource } from '../controller/list-watch-source.js';
import { createLogger } from '../log.js';
import type { ScalingControllerOptions } from './controller-options.js';
import type { ShardWork } from '../controller/shard-claims.js';
import { shardOf } from '../controller/shards.js';
import { ScalingControllerRunner, reconcileOnChange, type ScalingControllerRunnerOptions } from './scaling-controller.js';

const log = createLogger({ level: 'silent' });

/** A collection that lists `items` and then watches quietly. */
function staticSource(items: KubernetesObject[]): ListWatchSource<KubernetesObject> {
  return {
    list: (): Promise<ListResult<KubernetesObject>> => Promise.resolve({ items, resourceVersion: '1' }),
    watch: () => Promise.resolve(() => undefined),
  };
}

/** Shards handed out and taken back by the test, as ShardClaims would after its Lease rounds. */
class ManualClaims {
  #work: ShardWork | undefined;
  readonly #terms = new Map<number, { abort: AbortController; done: Promise<void> }>();

  run(work: ShardWork, signal: AbortSignal): Promise<void> {
    this.#work = work;
    return new Promise((resolve) =>
      signal.addEventListener('abort', () => {
        for (const term of this.#terms.values()) term.abort.abort();
        void Promise.all([...this.#terms.values()].map((t) => t.done)).then(() => resolve());
      }),
    );
  }

  gain(shard: number): void {
    const abort = new AbortController();
    this.#terms.set(shard, { abort, done: this.#work!(shard, abort.signal) });
  }

  /** Resolves once the runner let the shard go (its keys' work finished and was dropped). */
  lose(shard: number): Promise<void> {
    const term = this.#terms.get(shard)!;
    this.#terms.delete(shard);
    term.abort.abort();
    return term.done;
  }
}

const object = (name: string): KubernetesObject => ({ kind: 'ScaledObject', metadata: { namespace: 'app', name, resourceVersion: '1', generation: 1 } });

function setup(overrides: Partial<ScalingControllerRunnerOptions> = {}, clock = new FakeClock(0)) {
  const objects = new Informer<KubernetesObject>({ name: 'objects', source: staticSource([object('a'), object('b')]), log, clock, resyncPeriodMs: 0 });
  const events: string[] = [];
  const settings = { identity: 'test', log, registry: new Registry(), random: () => 0.5 } as unknown as ScalingControllerOptions;
  const runner: ScalingControllerRunner = new ScalingControllerRunner({
    name: 'test',
    settings,
    clock,
    log,
    informers: [objects],
    objects,
    reconcile: (key) => {
      events.push(`reconcile ${key}`);
      runner.schedule(key, 1_000);
      return Promise.resolve();
    },
    poll: (key, dueAt) => {
      events.push(`poll ${key} due ${dueAt} at ${clock.now()}`);
      return Promise.resolve();
    },
    defaultWorkers: 2,
    defaultPollConcurrency: 4,
    firstPollSpreadMs: 200,
    sideQueues: [{ name: 'side', keys: () => ['s1'], reconcile: (key) => (events.push(`side ${key}`), Promise.resolve()) }],
    onTermStart: () => events.push('term started'),
    onTermEnd: () => (events.push('term ended'), Promise.resolve()),
    ...overrides,
  });
  objects.addHandler(reconcileOnChange((key) => runner.enqueue(key)));
  return { clock, runner, events, objects, registry: settings.registry };
}

describe('ScalingControllerRunner', () => {
  it('without a lease leads at once: reconciles every cached object and side key, polls what reconcile scheduled, and ends the term on stop', async () => {
    const { clock, runner, events, objects } = setup();
    const done = runner.start();
    await clock.advance(1_700);
    expect(runner.isLeader).toBe(true);
    expect(runner.ready()).toEqual({ ok: true });
    // An interval longer than the spread first polls within it (random 0.5 of 200 ms), then at its own phase.
    const second = nextDueAt(1_000, keyPhase('app/a') * 1_000, 100, 100);
    expect(events[0]).toBe('term started');
    expect(
      events
        .filter((e) => !e.startsWith('poll'))
        .slice(1)
        .sort(),
    ).toEqual(['reconcile app/a', 'reconcile app/b', 'side s1']);
    expect(events.filter((e) => e.startsWith('poll app/a')).slice(0, 2)).toEqual(['poll app/a due 100 at 100', `poll app/a due ${second} at ${second}`]);
    expect(runner.lateness().scheduled).toBe(2);
    await runner.stop();
    await done;
    expect(events.at(-1)).toBe('term ended');
    expect(runner.isLeader).toBe(false);
    expect(runner.lateness().scheduled).toBe(0);
    const polls = events.length;
    await clock.advance(5_000);
    expect(events).toHaveLength(polls);
    expect(objects.hasSynced).toBe(true);
  });

  it('starts an interval within the spread at its own phase, not at random', async () => {
    const { clock, runner, events } = setup({
      reconcile: (key) => {
        runner.schedule(key, 150);
        return Promise.resolve();
      },
    });
    void runner.start();
    await clock.advance(400);
    const first = nextDueAt(150, keyPhase('app/b') * 150, undefined, 0);
    expect(events.filter((e) => e.startsWith('poll app/b'))[0]).toBe(`poll app/b due ${first} at ${first}`);
    await runner.stop();
  });

  it('never reconciles an object while it polls', async () => {
    const clock = new FakeClock(0);
    const running = new Set<string>();
    const overlaps: string[] = [];
    const exclusive = async (key: string) => {
      if (running.has(key)) overlaps.push(key);
      running.add(key);
      await sleep(clock, 50);
      running.delete(key);
    };
    const { runner } = setup(
      {
        reconcile: async (key) => {
          await exclusive(key);
          runner.schedule(key, 20);
          return { requeueAfterMs: 30 };
        },
        poll: (key) => exclusive(key),
      },
      clock,
    );
    void runner.start();
    await clock.advance(600);
    expect(runner.isLeader).toBe(true);
    expect(overlaps).toEqual([]);
    // Running work sleeps on the fake clock: let it finish so the term can end.
    const stopped = runner.stop();
    await clock.advance(200);
    await stopped;
  });

  it('does nothing with keys while not leading', () => {
    const { runner } = setup();
    runner.enqueue('app/a');
    runner.enqueueSide('side', 's1');
    runner.schedule('app/a', 1_000);
    expect(runner.lateness().scheduled).toBe(0);
    expect(runner.isLeader).toBe(false);
    expect(runner.ready()).toEqual({ ok: false, reason: '1 test informer(s) not synced yet' });
  });

  it("sharded: acts only on the keys of the shards it holds, and drops a shard's keys once their work has finished", async () => {
    // With 2 shards: app/a and side key s1 are in shard 1, app/b in shard 0.
    expect([shardOf('app/a', 2), shardOf('app/b', 2), shardOf('s1', 2)]).toEqual([1, 0, 1]);
    const claims = new ManualClaims();
    const forgotten: string[] = [];
    let polling: { key: string; finish: () => void } | undefined;
    const { clock, runner, events, registry } = setup({
      sharding: { shards: 2, claims, forget: (key) => (forgotten.push(key), Promise.resolve()) },
      poll: (key) => {
        events.push(`poll ${key}`);
        return new Promise<void>((resolve) => (polling = { key, finish: resolve }));
      },
    });
    void runner.start();
    await clock.advance(1_000);
    expect(events).toEqual(['term started']);
    runner.enqueue('app/a');
    runner.schedule('app/a', 1_000);
    expect(runner.lateness().scheduled).toBe(0);

    claims.gain(1);
    await clock.advance(1_000);
    expect(events.filter((e) => !e.startsWith('poll')).sort()).toEqual(['reconcile app/a', 'side s1', 'term started']);
    expect(events).toContain('poll app/a');
    expect(runner.lateness().scheduled).toBe(1);
    expect(await registry.getSingleMetricAsString('swell_shards_held')).toContain('swell_shards_held{controller="test"} 1');

    // A poll of app/a is running when the shard is given up: the shard is let go only after it finished.
    let released = false;
    const lost = claims.lose(1).then(() => (released = true));
    await clock.advance(10);
    expect(polling?.key).toBe('app/a');
    expect(released).toBe(false);
    expect(runner.lateness().scheduled).toBe(0);
    polling?.finish();
    await lost;
    expect(forgotten).toEqual(['app/a']);
    expect(await registry.getSingleMetricAsString('swell_shards_held')).toContain('swell_shards_held{controller="test"} 0');
    const seen = events.length;
    runner.enqueue('app/a');
    await clock.advance(5_000);
    expect(events).toHaveLength(seen);

    claims.gain(0);
    await clock.advance(1_000);
    expect(events.slice(seen)).toContain('reconcile app/b');
    expect(events.slice(seen).some((e) => e.includes('app/a'))).toBe(false);
    polling?.finish();
    const stopped = runner.stop();
    await clock.advance(100);
    polling?.finish();
    await stopped;
    expect(forgotten).toEqual(['app/a', 'app/b']);
  });

  it('stops even when its caches never fill (CRDs missing, apiserver gone)', async () => {
    const failing: ListWatchSource<KubernetesObject> = {
      list: () => Promise.reject(new Error('404 page not found')),
      watch: () => Promise.resolve(() => undefined),
    };
    const never = new Informer<KubernetesObject>({ name: 'never', source: failing, log, clock: new FakeClock(0), resyncPeriodMs: 0 });
    const { runner, events } = setup({ informers: [never], objects: never });
    const done = runner.start();
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.race([runner.stop(), new Promise((_, reject) => setTimeout(() => reject(new Error('stop() did not return')), 2_000))]);
    await done;
    expect(events).not.toContain('term started');
  });
});
