import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { TerminalError, runController, type ReconcileResult, type Reconciler } from './controller.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { ExponentialFailureRateLimiter } from './rate-limiter.js';
import { WorkQueue } from './workqueue.js';

const log = createLogger({ level: 'silent' });

function setup(reconcile: Reconciler, workers = 2) {
  const clock = new FakeClock();
  const registry = new Registry();
  const queue = new WorkQueue({ name: 'things', clock, registry, rateLimiter: new ExponentialFailureRateLimiter(5, 1_000_000) });
  const abort = new AbortController();
  const done = runController({ name: 'things', queue, reconcile, workers, log, signal: abort.signal, registry, clock });
  return { clock, registry, queue, abort, done };
}

async function resultCount(registry: Registry, result: string): Promise<number> {
  const metric = await registry.getSingleMetric('controller_runtime_reconcile_total')!.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

/** A promise the test settles by hand, to hold a reconcile in progress. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('runController', () => {
  it('reconciles keys in parallel up to the worker count, never the same key twice at once', async () => {
    const running = new Set<string>();
    let peak = 0;
    const seen: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const { queue, abort, done } = setup(async (key) => {
      expect(running.has(key)).toBe(false);
      running.add(key);
      peak = Math.max(peak, running.size);
      seen.push(key);
      const g = gate();
      gates.set(key, g);
      await g.promise;
      running.delete(key);
    });
    for (const key of ['a', 'b', 'c']) queue.add(key);
    await flushMicrotasks();
    expect(seen).toEqual(['a', 'b']);
    queue.add('a');
    gates.get('b')!.open();
    await flushMicrotasks();
    expect(seen).toEqual(['a', 'b', 'c']);
    gates.get('a')!.open();
    await flushMicrotasks();
    expect(seen).toEqual(['a', 'b', 'c', 'a']);
    for (const g of gates.values()) g.open();
    abort.abort();
    await done;
    expect(peak).toBe(2);
  });

  it('collapses a burst of changes to one key into at most one extra reconcile', async () => {
    let calls = 0;
    const first = gate();
    const { queue, abort, done } = setup(async () => {
      calls++;
      if (calls === 1) await first.promise;
    });
    queue.add('k');
    await flushMicrotasks();
    for (let i = 0; i < 50; i++) queue.add('k');
    first.open();
    await flushMicrotasks();
    expect(calls).toBe(2);
    abort.abort();
    await done;
  });

  it('retries a failing key with growing backoff and forgets its failures once it succeeds', async () => {
    const attempts: number[] = [];
    const { clock, queue, registry, abort, done } = setup(() => {
      attempts.push(clock.now());
      return attempts.length <= 3 ? Promise.reject(new Error('api unavailable')) : Promise.resolve();
    });
    queue.add('k');
    await clock.advance(1_000);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps).toEqual([5, 10, 20]);
    expect(queue.numRequeues('k')).toBe(0);
    expect(await resultCount(registry, 'error')).toBe(3);
    expect(await resultCount(registry, 'success')).toBe(1);
    abort.abort();
    await done;
  });

  it('does not retry a TerminalError', async () => {
    let calls = 0;
    const { clock, queue, registry, abort, done } = setup(() => {
      calls++;
      return Promise.reject(new TerminalError('spec.triggers[0].type "nope" is not a known scaler'));
    });
    queue.add('k');
    await clock.advance(60_000);
    expect(calls).toBe(1);
    expect(queue.delayed).toBe(0);
    expect(await resultCount(registry, 'terminal_error')).toBe(1);
    abort.abort();
    await done;
  });

  it('reconciles again after requeueAfterMs without counting it as a failure', async () => {
    const times: number[] = [];
    const { clock, queue, registry, abort, done } = setup((): Promise<ReconcileResult> => {
      times.push(clock.now());
      return Promise.resolve(times.length < 3 ? { requeueAfterMs: 30_000 } : {});
    });
    const start = clock.now();
    queue.add('k');
    await clock.advance(120_000);
    expect(times.map((t) => t - start)).toEqual([0, 30_000, 60_000]);
    expect(queue.numRequeues('k')).toBe(0);
    expect(await resultCount(registry, 'requeue_after')).toBe(2);
    abort.abort();
    await done;
  });

  it('on abort stops taking keys, signals running reconciles and waits for them', async () => {
    const started: string[] = [];
    let sawAbort = false;
    const hold = gate();
    const { queue, abort, done } = setup(async (key, { signal }) => {
      started.push(key);
      await hold.promise;
      sawAbort = signal.aborted;
      throw new Error('interrupted');
    }, 1);
    queue.add('a');
    queue.add('b');
    await flushMicrotasks();
    let finished = false;
    void done.then(() => (finished = true));
    abort.abort();
    await flushMicrotasks();
    expect(finished).toBe(false);
    hold.open();
    await done;
    expect(sawAbort).toBe(true);
    expect(started).toEqual(['a']);
    expect(queue.delayed).toBe(0);
  });

  it('lets I/O and timers run between reconciles that settle at once, instead of draining a backlog in one turn', async () => {
    // Each reconcile "takes" 1 ms of clock time and settles in microtasks, as one with nothing to write does.
    const timers = new FakeClock();
    let spentMs = 0;
    const clock = { now: () => spentMs, setTimeout: timers.setTimeout.bind(timers) };
    const registry = new Registry();
    const queue = new WorkQueue({ name: 'backlog', clock, registry, rateLimiter: new ExponentialFailureRateLimiter(5, 1_000_000) });
    const abort = new AbortController();
    const reconciled: string[] = [];
    const done = runController({
      name: 'backlog',
      queue,
      workers: 1,
      log,
      signal: abort.signal,
      clock,
      reconcile: (key) => {
        reconciled.push(key);
        spentMs += 1;
        return Promise.resolve();
      },
    });
    for (let i = 0; i < 1_000; i++) queue.add(`ns/object-${i}`);
    const reconciledAtNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(reconciled.length)));
    expect(reconciledAtNextTurn).toBeGreaterThan(0);
    expect(reconciledAtNextTurn).toBeLessThanOrEqual(20);
    await queue.idle();
    expect(reconciled).toHaveLength(1_000);
    abort.abort();
    await done;
  });
});
