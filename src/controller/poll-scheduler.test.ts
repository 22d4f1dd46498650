import { Registry, type Histogram } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { createSystemClock, sleep } from './clock.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { keyPhase, nextDueAt, PollScheduler, type PollCallback, type PollSchedulerOptions } from './poll-scheduler.js';

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
    // Every key on the same grid (multiples of its interval), so expected times read plainly.
    phaseOf: () => 0,
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

  it("counts scheduled keys across terms: a term stopping after its successor started leaves the successor's count", async () => {
    const { registry, scheduler: ending } = setup();
    const next = new PollScheduler({ name: 'test', log, clock: new FakeClock(0), registry, run: () => Promise.resolve(), phaseOf: () => 0 });
    schedulers.push(next);
    for (const key of ['a', 'b', 'c']) ending.schedule(key, 1_000);
    for (const key of ['a', 'b']) next.schedule(key, 1_000);
    await ending.stop();
    const gauge = (await registry.getSingleMetric('swell_poll_scheduled_keys')?.get())?.values.find((v) => v.labels.scheduler === 'test');
    expect(gauge?.value).toBe(2);
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
    ['a shorter interval takes its next slot', 100, undefined, ['k@300', 'k@400', 'k@500', 'k@600', 'k@700', 'k@800', 'k@900', 'k@1000', 'k@1100', 'k@1200']],
    ['a longer interval takes its next slot', 1_000, undefined, ['k@1000']],
    ['an explicit first delay moves the next run once, then the slots resume', 400, 50, ['k@300', 'k@800', 'k@1200']],
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
      phaseOf: () => 0,
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
    // The requested run follows at once; the one after takes the 50 ms slot the second run's end fell on.
    expect(starts).toEqual([0, 500, 1_000]);
  });

  it('stops a key on unschedule, letting a run in progress finish', async () => {
    const clock = new FakeClock(0);
    const starts: string[] = [];
    const scheduler = new PollScheduler({
      name: 'u',
      log,
      clock,
      phaseOf: () => 0,
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
    expect(starts).toEqual(['a@100', 'b@100', 'b@200', 'b@300', 'b@400', 'b@500', 'b@600', 'b@700', 'b@800', 'b@900', 'b@1000', 'b@1100']);
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
    // b waits for a's slot, starting late; both then keep to their slots, not to when their runs ended.
    expect(seen).toEqual(['a due 100 at 100', 'b due 100 at 250', 'a due 1000 at 1000', 'b due 1000 at 1150']);
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

  // Lateness under load is a figure, measured on the real clock by bench/poll-schedule.ts (--count 10000).
  it('polls each of 10,000 keys at its first due time, however many are due together', async () => {
    const clock = new FakeClock(0);
    const firstRun = new Map<string, number>();
    const scheduler = new PollScheduler({
      name: 'load',
      log,
      clock,
      concurrency: 64,
      run: (key) => {
        if (!firstRun.has(key)) firstRun.set(key, clock.now());
        return Promise.resolve();
      },
    });
    schedulers.push(scheduler);
    const intervalOf = (i: number) => 1_000 + (i % 5) * 500;
    for (let i = 0; i < 10_000; i++) scheduler.schedule(`ns/so-${i}`, intervalOf(i), i % 2_000);
    await clock.advance(3_000);
    expect(firstRun.size).toBe(10_000);
    const late = [...firstRun].filter(([key, at]) => at !== Number(key.slice('ns/so-'.length)) % 2_000);
    expect(late).toEqual([]);
  });
});

describe('nextDueAt', () => {
  it.each([
    // interval, phase, last due, now, expected
    [1_000, 0, undefined, 0, 1_000, 'a key that never ran takes its first slot after now'],
    [1_000, 250, undefined, 0, 250, 'the first slot is offset by the phase'],
    [1_000, 250, undefined, 250, 1_250, 'a slot falling on now is not taken twice'],
    [1_000, 250, 1_250, 1_260, 2_250, 'after a quick run: one interval after it was due, not after it ended'],
    [1_000, 250, 1_250, 2_249, 2_250, 'after a run that took most of the interval: still its slot'],
    [1_000, 250, 1_250, 2_600, 3_250, 'after a run past its next slot: that slot is skipped, not run late'],
    [1_000, 250, 1_250, 2_250, 2_250, 'a run ending on its next slot: that slot'],
    [1_000, 250, 1_900, 1_950, 3_250, 'after an off-grid run (an explicit delay): rejoins the grid, at least half an interval on'],
    [1_000, 250, 1_100, 1_150, 2_250, 'after an off-grid run just before a slot: that slot is skipped too'],
    [30_000, 12_345.5, 42_345.5, 43_000, 72_345.5, 'fractional phases keep their place'],
  ])('interval %d, phase %d, last due %s, now %d → %d (%s)', (interval, phase, lastDue, now, expected, _why) => {
    expect(nextDueAt(interval, phase, lastDue, now)).toBe(expected);
  });
});

describe('keyPhase', () => {
  it('is stable per key, within [0, 1), and spreads keys evenly', () => {
    expect(keyPhase('ns/so-1')).toBe(keyPhase('ns/so-1'));
    expect(keyPhase('ns/so-1')).not.toBe(keyPhase('ns/so-2'));
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const phase = keyPhase(`bench/so-${i}`);
      expect(phase).toBeGreaterThanOrEqual(0);
      expect(phase).toBeLessThan(1);
      buckets[Math.floor(phase * 10)]!++;
    }
    // 1,000 expected per tenth; a hash that clustered names with shared prefixes would miss this by far.
    for (const count of buckets) expect(Math.abs(count - 1_000)).toBeLessThan(100);
  });
});

describe('PollScheduler on its grid', () => {
  it('spreads 1,000 keys at one interval across it, each run exactly one interval after the last', async () => {
    const clock = new FakeClock(0);
    const runsAt = new Map<string, number[]>();
    const scheduler = new PollScheduler({
      name: 'spread',
      log,
      clock,
      concurrency: 1_000,
      run: (key) => (runsAt.set(key, [...(runsAt.get(key) ?? []), clock.now()]), Promise.resolve()),
    });
    schedulers.push(scheduler);
    for (let i = 0; i < 1_000; i++) scheduler.schedule(`ns/so-${i}`, 1_000);
    await clock.advance(10_000);
    const perTenth = new Array<number>(100).fill(0);
    for (const times of runsAt.values()) {
      expect(times.length).toBeGreaterThanOrEqual(9);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1_000);
      for (const at of times) perTenth[Math.floor(at / 100)]!++;
    }
    // Every 100 ms of a full second sees about a tenth of the keys, never all of them on one tick.
    for (const count of perTenth.slice(10, 100)) expect(count).toBeGreaterThan(60);
    for (const count of perTenth.slice(10, 100)) expect(count).toBeLessThan(140);
    expect(scheduler.p99LatenessMs).toBe(0);
  });

  it.each([
    // run time, expected starts within 5.5 s
    [300, [1_000, 2_000, 3_000, 4_000, 5_000], 'a run shorter than the interval does not stretch the period'],
    [1_500, [1_000, 3_000, 5_000], 'a run longer than the interval skips the slot it overlapped'],
    [1_000, [1_000, 2_000, 3_000, 4_000, 5_000], 'a run ending on its next slot starts again at once'],
  ])('run of %d ms at interval 1 s starts at %j: %s', async (runMs, expected) => {
    const clock = new FakeClock(0);
    const starts: number[] = [];
    const scheduler = new PollScheduler({
      name: 'drift',
      log,
      clock,
      phaseOf: () => 0,
      run: async (_key, signal) => {
        starts.push(clock.now());
        await sleep(clock, runMs, signal);
      },
    });
    schedulers.push(scheduler);
    scheduler.schedule('k', 1_000);
    await clock.advance(5_500);
    expect(starts).toEqual(expected);
  });
});
