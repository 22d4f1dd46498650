import { Registry, type Histogram } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { createSystemClock, sleep } from './clock.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { PollScheduler, type PollCallback, type PollSchedulerOptions } from './poll-scheduler.js';

const log = createLogger({ level: 'silent' });
const schedulers: PollScheduler[] = [];
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.stop()));
});

function setup(run?: PollCallback, overrides: Partial<PollSchedulerOptions> = {}) {
  const clock = new FakeClock(0);
  const runs: { key: string; at: number }[] = [];
  const registry = new Registry();
  const scheduler = new PollScheduler({
    name: 'test',
    log,
    clock,
    registry,
    run: run ?? ((key) => (runs.push({ key, at: clock.now() }), Promise.resolve())),
    ...overrides,
  });
  schedulers.push(scheduler);
  return { clock, runs, scheduler, registry };
}

const render = (runs: { key: string; at: number }[]) => runs.map((r) => `${r.key}@${r.at}`);

describe('PollScheduler', () => {
  it('runs each key every interval, in due-time order', async () => {
    const { clock, runs, scheduler } = setup();
    scheduler.schedule('a', 1_000);
    scheduler.schedule('b', 300);
    scheduler.schedule('c', 700);
    await clock.advance(1_000);
    expect(render(runs)).toEqual(['b@300', 'b@600', 'c@700', 'b@900', 'a@1000']);
  });

  it('keeps a single timer however many keys it drives', async () => {
    const { clock, runs, scheduler } = setup();
    for (let i = 0; i < 10_000; i++) scheduler.schedule(`ns/so-${i}`, 1_000 + (i % 10) * 1_000, i % 1_000);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(999);
    expect(runs).toHaveLength(10_000);
    expect(clock.pendingTimers).toBe(1);
    expect(scheduler.size).toBe(10_000);
  });

  it.each([
    // description, interval changes applied at t=250, expected runs up to t=1200
    ['the same interval again changes nothing', 400, undefined, ['k@400', 'k@800', 'k@1200']],
    ['a shorter interval counts from the last run', 100, undefined, ['k@250', 'k@350', 'k@450', 'k@550', 'k@650', 'k@750', 'k@850', 'k@950', 'k@1050', 'k@1150']],
    ['a longer interval counts from the last run', 1_000, undefined, ['k@1000']],
    ['an explicit first delay moves the next run', 400, 50, ['k@300', 'k@700', 'k@1100']],
  ])('on rescheduling: %s, without duplicating the key', async (_name, interval, firstDelay, expected) => {
    const { clock, runs, scheduler } = setup();
    scheduler.schedule('k', 400);
    await clock.advance(250);
    scheduler.schedule('k', interval, firstDelay);
    scheduler.schedule('k', interval);
    await clock.advance(950);
    expect(render(runs)).toEqual(expected);
    expect(scheduler.size).toBe(1);
  });

  it('never runs a key twice at once: a run requested meanwhile follows when the current one ends', async () => {
    const clock = new FakeClock(0);
    let active = 0;
    let peak = 0;
    const starts: number[] = [];
    const scheduler = new PollScheduler({
      name: 'slow',
      log,
      clock,
      run: async (_key, signal) => {
        starts.push(clock.now());
        peak = Math.max(peak, ++active);
        await sleep(clock, 500, signal);
        active--;
      },
    });
    schedulers.push(scheduler);
    scheduler.schedule('k', 100, 0);
    await clock.advance(100);
    scheduler.schedule('k', 100, 0);
    scheduler.schedule('k', 50, 0);
    await clock.advance(1_200);
    expect(peak).toBe(1);
    expect(starts).toEqual([0, 500, 1_050]);
  });

  it('stops a key on unschedule, letting a run in progress finish', async () => {
    const clock = new FakeClock(0);
    const starts: string[] = [];
    const scheduler = new PollScheduler({
      name: 'u',
      log,
      clock,
      run: async (key, signal) => {
        starts.push(`${key}@${clock.now()}`);
        await sleep(clock, 50, signal);
      },
    });
    schedulers.push(scheduler);
    scheduler.schedule('a', 100);
    scheduler.schedule('b', 100);
    await clock.advance(120);
    scheduler.unschedule('a');
    scheduler.unschedule('b');
    expect(scheduler.size).toBe(0);
    expect(scheduler.has('a')).toBe(false);
    scheduler.schedule('b', 100);
    await clock.advance(1_000);
    expect(starts).toEqual(['a@100', 'b@100', 'b@250', 'b@400', 'b@550', 'b@700', 'b@850', 'b@1000']);
  });

  it('bounds concurrent callbacks and measures how late the waiting keys start', async () => {
    const clock = new FakeClock(0);
    let active = 0;
    let peak = 0;
    const { scheduler, registry } = setup(
      async (_key, signal) => {
        peak = Math.max(peak, ++active);
        await sleep(clock, 10, signal);
        active--;
      },
      { clock, concurrency: 1 },
    );
    for (let i = 0; i < 100; i++) scheduler.schedule(`k${i}`, 60_000, 1_000);
    await clock.advance(2_000);
    expect(peak).toBe(1);
    // Keys due together at t=1000 started 0, 10, ..., 990 ms late.
    expect(scheduler.p50LatenessMs).toBe(490);
    expect(scheduler.p99LatenessMs).toBe(980);
    expect(scheduler.latenessPercentileMs(100)).toBe(990);
    const histogram = await (registry.getSingleMetric('swell_poll_lateness_seconds') as Histogram).get();
    expect(histogram.values.find((v) => v.metricName === 'swell_poll_lateness_seconds_count')?.value).toBe(100);
    expect(histogram.values.find((v) => v.metricName === 'swell_poll_lateness_seconds_sum')?.value).toBeCloseTo(49.5, 6);
  });

  it('tells each run when it was due, so a caller can measure lateness against its own schedule', async () => {
    const clock = new FakeClock(0);
    const seen: string[] = [];
    const { scheduler } = setup(
      async (key, signal, dueAt) => {
        seen.push(`${key} due ${dueAt} at ${clock.now()}`);
        await sleep(clock, 150, signal);
      },
      { clock, concurrency: 1 },
    );
    scheduler.schedule('a', 1_000, 100);
    scheduler.schedule('b', 1_000, 100);
    await clock.advance(1_500);
    // b waits for a's slot; each next run is due one interval after the key's previous run ended.
    expect(seen).toEqual(['a due 100 at 100', 'b due 100 at 250', 'a due 1250 at 1250', 'b due 1400 at 1400']);
  });

  it('keeps a fixed window of lateness samples', async () => {
    const { clock, scheduler } = setup(undefined, { latencySamples: 10 });
    scheduler.schedule('k', 100);
    await clock.advance(10_000);
    expect(scheduler.p99LatenessMs).toBe(0);
  });

  it('keeps polling a key whose callback fails, and counts the failures', async () => {
    let calls = 0;
    const { clock, scheduler, registry } = setup(() => {
      calls++;
      return Promise.reject(new Error('queue unreachable'));
    });
    scheduler.schedule('k', 100);
    await clock.advance(500);
    expect(calls).toBe(5);
    const runs = await registry.getSingleMetric('swell_poll_runs_total')!.get();
    expect(runs.values.find((v) => v.labels.result === 'error')?.value).toBe(5);
  });

  it('on stop aborts running callbacks, waits for them and schedules nothing more', async () => {
    const clock = new FakeClock(0);
    let aborted = false;
    let calls = 0;
    const { scheduler } = setup(
      (_key, signal) => {
        calls++;
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => ((aborted = true), resolve())));
      },
      { clock },
    );
    scheduler.schedule('k', 100, 0);
    await flushMicrotasks();
    await scheduler.stop();
    expect(aborted).toBe(true);
    scheduler.schedule('k', 100, 0);
    await clock.advance(1_000);
    expect(calls).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])('rejects the interval %d, naming the key', (interval) => {
    const { scheduler } = setup();
    expect(() => scheduler.schedule('ns/so', interval)).toThrow(/interval of ns\/so must be a positive number of ms/);
  });

  it('yields to the event loop between batches while working off a backlog of instant callbacks', async () => {
    let runs = 0;
    const scheduler = new PollScheduler({ name: 'backlog', log, clock: createSystemClock(), concurrency: 4, run: () => (runs++, Promise.resolve()) });
    schedulers.push(scheduler);
    for (let i = 0; i < 10_000; i++) scheduler.schedule(`k${i}`, 60_000, 0);
    const runsWhenTimerFired = await new Promise<number>((resolve) => setTimeout(() => resolve(runs), 0));
    expect(runsWhenTimerFired).toBeLessThan(10_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(runs).toBe(10_000);
  });

  it('drives 10,000 keys on the real clock with small lateness', async () => {
    let runs = 0;
    const polled = new Set<string>();
    const scheduler = new PollScheduler({
      name: 'load',
      log,
      clock: createSystemClock(),
      concurrency: 64,
      run: async (key) => {
        runs++;
        polled.add(key);
        await Promise.resolve();
      },
    });
    schedulers.push(scheduler);
    // About 5,000 polls a second (KEDA's default of 30 s would be 333 a second for 10,000 ScaledObjects).
    for (let i = 0; i < 10_000; i++) scheduler.schedule(`ns/so-${i}`, 1_000 + (i % 5) * 500, i % 2_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await scheduler.stop();
    expect(polled.size).toBe(10_000);
    console.info(`poll scheduler: ${runs} runs of 10000 keys in 2.5 s, lateness p50 ${scheduler.p50LatenessMs} ms, p99 ${scheduler.p99LatenessMs} ms`);
    // Generous for a busy shared machine; a scheduler doing per-key work on every tick would be seconds late.
    expect(scheduler.p99LatenessMs).toBeLessThan(1_000);
  });
});
