import { Registry, type Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { ExponentialFailureRateLimiter } from './rate-limiter.js';
import { WorkQueue } from './workqueue.js';

function setup() {
  const clock = new FakeClock();
  const registry = new Registry();
  const queue = new WorkQueue({ name: 'test', clock, registry, rateLimiter: new ExponentialFailureRateLimiter(5, 1_000_000) });
  return { clock, registry, queue };
}

/** Takes every key that is ready right now (each is then being processed until `done`). */
async function takeReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) keys.push((await queue.get())!);
  return keys;
}

async function metricValue(registry: Registry, name: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => v.labels.name === 'test' && !('le' in v.labels))?.value;
}

async function histogramSum(registry: Registry, name: string): Promise<number | undefined> {
  const metric = await (registry.getSingleMetric(name) as Histogram).get();
  return metric.values.find((v) => v.metricName === `${name}_sum`)?.value;
}

describe('WorkQueue', () => {
  it('is idle once nothing is queued or being processed, however long a delayed key still waits', async () => {
    const { queue } = setup();
    let idle = false;
    queue.add('a');
    queue.addAfter('later', 60_000);
    const settled = queue.idle().then(() => (idle = true));
    const key = await queue.get();
    await flushMicrotasks();
    expect(idle).toBe(false);
    queue.done(key!);
    await settled;
    expect(idle).toBe(true);
    expect(queue.delayed).toBe(1);
  });

  it.each([
    // steps applied in order; 'get' takes the next ready key, 'done:k' finishes k; expected = keys taken
    { name: 'deduplicates keys waiting in the queue', steps: ['add:a', 'add:b', 'add:a', 'get', 'get'], taken: ['a', 'b'], length: 0 },
    { name: 'keeps first-in first-out order', steps: ['add:c', 'add:a', 'add:b', 'get', 'get', 'get'], taken: ['c', 'a', 'b'], length: 0 },
    {
      name: 'does not hand a key being processed to a second worker',
      steps: ['add:a', 'get', 'add:a', 'add:b', 'get'],
      taken: ['a', 'b'],
      length: 0,
    },
    {
      name: 'requeues a key added while processing once it is done',
      steps: ['add:a', 'get', 'add:a', 'add:a', 'done:a', 'get'],
      taken: ['a', 'a'],
      length: 0,
    },
    { name: 'does not requeue a key that was not re-added', steps: ['add:a', 'get', 'done:a'], taken: ['a'], length: 0 },
  ])('$name', async ({ steps, taken, length }) => {
    const { queue } = setup();
    const got: string[] = [];
    for (const step of steps) {
      const [op, key] = step.split(':') as [string, string];
      if (op === 'add') queue.add(key);
      if (op === 'done') queue.done(key);
      if (op === 'get') {
        expect(queue.length).toBeGreaterThan(0);
        got.push((await queue.get())!);
      }
    }
    expect(got).toEqual(taken);
    expect(queue.length).toBe(length);
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const { queue } = setup();
    const waiting = queue.get();
    queue.add('a');
    expect(await waiting).toBe('a');
    expect(queue.processing).toBe(1);
  });

  it('adds a key after its delay, keeping the earliest of repeated delays and deduplicating', async () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1_000);
    queue.addAfter('a', 5_000);
    queue.addAfter('b', 300);
    queue.addAfter('a', 500);
    queue.addAfter('c', 0);
    expect(await takeReady(queue)).toEqual(['c']);
    expect(queue.delayed).toBe(2);
    await clock.advance(299);
    expect(queue.length).toBe(0);
    await clock.advance(1);
    expect(await takeReady(queue)).toEqual(['b']);
    await clock.advance(200);
    expect(await takeReady(queue)).toEqual(['a']);
    await clock.advance(10_000);
    expect(queue.length).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('backs a failing key off exponentially until it is forgotten', async () => {
    const { clock, queue } = setup();
    const readyAfter: number[] = [];
    queue.add('a');
    for (let attempt = 0; attempt < 4; attempt++) {
      const key = (await queue.get())!;
      queue.addRateLimited(key);
      queue.done(key);
      const start = clock.now();
      while (queue.length === 0) await clock.advance(1);
      readyAfter.push(clock.now() - start);
    }
    expect(readyAfter).toEqual([5, 10, 20, 40]);
    expect(queue.numRequeues('a')).toBe(4);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
  });

  it('on shutdown lets workers drain what is queued, refuses new keys, then tells workers to stop', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    const a = await queue.get();
    queue.addAfter('later', 10);
    let idle = false;
    const stopped = queue.shutDown().then(() => (idle = true));
    queue.add('c');
    expect(await queue.get()).toBe('b');
    expect(await queue.get()).toBeUndefined();
    queue.done('b');
    await flushMicrotasks();
    expect(idle).toBe(false);
    queue.done(a!);
    await stopped;
    expect(queue.delayed).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });

  it('on shutdown without drain drops queued keys but still waits for keys in progress', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    const a = (await queue.get())!;
    queue.add(a);
    const waiter = queue.get();
    let idle = false;
    const stopped = queue.shutDown({ drain: false }).then(() => (idle = true));
    expect(await waiter).toBe('b');
    queue.done('b');
    queue.done(a);
    await stopped;
    expect(idle).toBe(true);
    expect(queue.length).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });

  it('releases workers blocked in get when shut down', async () => {
    const { queue } = setup();
    const workers = [queue.get(), queue.get()];
    await queue.shutDown();
    expect(await Promise.all(workers)).toEqual([undefined, undefined]);
  });

  it('records depth, adds, retries, queue wait and work duration on the given registry', async () => {
    const { clock, queue, registry } = setup();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(await metricValue(registry, 'workqueue_depth')).toBe(2);
    await clock.advance(2_000);
    const a = (await queue.get())!;
    await clock.advance(500);
    queue.addRateLimited(a);
    queue.done(a);
    expect(await metricValue(registry, 'workqueue_depth')).toBe(1);
    expect(await metricValue(registry, 'workqueue_adds_total')).toBe(2);
    expect(await metricValue(registry, 'workqueue_retries_total')).toBe(1);
    expect(await histogramSum(registry, 'workqueue_queue_duration_seconds')).toBe(2);
    expect(await histogramSum(registry, 'workqueue_work_duration_seconds')).toBe(0.5);
  });

  it('lets two queues share one registry under different names', () => {
    const registry = new Registry();
    const one = new WorkQueue({ name: 'one', registry });
    const two = new WorkQueue({ name: 'two', registry });
    one.add('x');
    two.add('x');
    expect(registry.getMetricsAsArray().filter((m) => m.name === 'workqueue_depth')).toHaveLength(1);
  });
});
