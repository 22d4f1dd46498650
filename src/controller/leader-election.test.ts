import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { LeaderElector, type LeaderElectionOptions, type LeaseStore } from './leader-election.js';
import { MemoryLeaseStore } from './memory-lease-store.js';

const log = createLogger({ level: 'silent' });

/** A logger whose warnings the test reads: a lost lease must be explained, not only ended. */
function warningsLog() {
  const messages: string[] = [];
  const sink = new Writable({
    write: (chunk: Buffer, _encoding, done) => (messages.push((JSON.parse(chunk.toString('utf8')) as { msg: string }).msg), done()),
  });
  return { log: pino({ level: 'warn' }, sink), messages };
}

interface Candidate {
  elector: LeaderElector;
  abort: AbortController;
  result: Promise<string>;
  events: string[];
  workSignal?: AbortSignal;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

function candidate(identity: string, store: LeaseStore, clock: FakeClock, overrides: Partial<LeaderElectionOptions> = {}): Candidate {
  const events: string[] = [];
  const c: Partial<Candidate> = { events };
  const elector = new LeaderElector({
    store,
    identity,
    log,
    clock,
    random: () => 0,
    onStartedLeading: (signal) => {
      c.workSignal = signal;
      events.push('started');
    },
    onStoppedLeading: () => events.push('stopped'),
    onNewLeader: (holder) => events.push(`leader ${holder}`),
    ...overrides,
  });
  const abort = new AbortController();
  const result = elector.run(abort.signal);
  cleanups.push(() => (abort.abort(), result));
  return Object.assign(c, { elector, abort, result }) as Candidate;
}

describe('LeaderElector', () => {
  it('creates the lease when none exists and leads, renewing every retry period', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await flushMicrotasks();
    const acquiredAt = clock.now();
    expect(a.elector.isLeader).toBe(true);
    expect(a.events).toEqual(['leader a', 'started']);
    expect(store.lease?.record).toEqual({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: new Date(acquiredAt),
      renewTime: new Date(acquiredAt),
      leaseTransitions: 0,
    });
    await clock.advance(2_000);
    expect(store.lease?.record.renewTime).toEqual(new Date(acquiredAt + 2_000));
    expect(store.lease?.record.acquireTime).toEqual(new Date(acquiredAt));
  });

  it('renews with one write a retry period and no read while nobody else touches the lease', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await flushMicrotasks();
    const before = { ...store.calls };
    await clock.advance(60_000);
    expect(a.elector.isLeader).toBe(true);
    expect(store.calls.get - before.get).toBe(0);
    expect(store.calls.update - before.update).toBe(30);
  });

  it('lets exactly one of two candidates lead, and hands over at once when the leader releases', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    const b = candidate('b', store, clock);
    await clock.advance(60_000);
    expect([a.elector.isLeader, b.elector.isLeader]).toEqual([true, false]);
    expect(b.elector.leader).toBe('a');
    a.abort.abort();
    expect(await a.result).toBe('cancelled');
    expect(a.workSignal?.aborted).toBe(true);
    expect(a.events.at(-1)).toBe('stopped');
    expect(store.lease?.record.holderIdentity).toBe('');
    await clock.advance(2_000);
    expect(b.elector.isLeader).toBe(true);
    expect(store.lease?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('takes over from a holder that stopped renewing only after seeing the lease unchanged for the lease duration', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const stale = new Date(clock.now() - 3_600_000);
    await store.create({ holderIdentity: 'crashed', leaseDurationSeconds: 15, acquireTime: stale, renewTime: stale, leaseTransitions: 4 });
    const b = candidate('b', store, clock);
    await clock.advance(14_000);
    expect(b.elector.isLeader).toBe(false);
    await clock.advance(2_000);
    expect(b.elector.isLeader).toBe(true);
    expect(store.lease?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 5 });
    expect(b.events).toEqual(['leader crashed', 'leader b', 'started']);
  });

  it('respects the lease duration the holder declared rather than its own', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const now = new Date(clock.now());
    await store.create({ holderIdentity: 'patient', leaseDurationSeconds: 40, acquireTime: now, renewTime: now, leaseTransitions: 0 });
    const b = candidate('b', store, clock);
    await clock.advance(38_000);
    expect(b.elector.isLeader).toBe(false);
    await clock.advance(4_000);
    expect(b.elector.isLeader).toBe(true);
  });

  it('keeps leading through renew failures shorter than the renew deadline', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const a = candidate('a', store, clock);
    await flushMicrotasks();
    store.failing = true;
    await clock.advance(7_000);
    store.failing = false;
    await clock.advance(5_000);
    expect(a.elector.isLeader).toBe(true);
    expect(a.events).toEqual(['leader a', 'started']);
  });

  it.each([
    ['every renewal fails', (store: MemoryLeaseStore) => (store.failing = true)],
    ['renewals hang', (store: MemoryLeaseStore) => (store.hanging = true)],
  ])('stops leading within the renew deadline when %s', async (_name, breakStore) => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const warnings = warningsLog();
    const a = candidate('a', store, clock, { log: warnings.log });
    await flushMicrotasks();
    const lastRenew = clock.now();
    breakStore(store);
    let end: string | undefined;
    void a.result.then((r) => (end = r));
    await clock.advance(9_999);
    expect(a.elector.isLeader).toBe(true);
    await clock.advance(2_001);
    expect(end).toBe('lost');
    expect(clock.now() - lastRenew).toBeLessThan(15_000);
    expect(a.workSignal?.aborted).toBe(true);
    expect(a.events.at(-1)).toBe('stopped');
    expect(warnings.messages).toContain('lost leadership: the lease was not renewed within the renew deadline');
  });

  it('stops leading as soon as it sees another holder in the lease', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const warnings = warningsLog();
    const a = candidate('a', store, clock, { log: warnings.log });
    await flushMicrotasks();
    await store.update({ ...store.lease!.record, holderIdentity: 'usurper' }, store.lease!.resourceVersion);
    await clock.advance(2_000);
    expect(await a.result).toBe('lost');
    expect(store.lease?.record.holderIdentity).toBe('usurper');
    expect(warnings.messages).toEqual(['lost leadership: another candidate holds the lease']);
  });

  it('waits for the leader work to stop before releasing the lease', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    let holderWhenWorkEnded: string | undefined;
    const a = candidate('a', store, clock, {
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            holderWhenWorkEnded = store.lease?.record.holderIdentity;
            resolve();
          }),
        ),
    });
    await flushMicrotasks();
    a.abort.abort();
    await a.result;
    expect(holderWhenWorkEnded).toBe('a');
    expect(store.lease?.record.holderIdentity).toBe('');
  });

  it.each([
    [{ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }, /leaseDurationMs \(10000\) must be greater than renewDeadlineMs/],
    [{ renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }, /renewDeadlineMs \(2000\) must be greater than 1.2 x retryPeriodMs/],
    [{ retryPeriodMs: 0 }, /retryPeriodMs must be positive/],
    [{ identity: '' }, /identity must not be empty/],
  ])('rejects inconsistent settings %o', (overrides, message) => {
    expect(() => new LeaderElector({ store: new MemoryLeaseStore(), identity: 'a', log, onStartedLeading: () => {}, ...overrides })).toThrow(message);
  });
});
