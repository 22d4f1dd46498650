import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from '../controller/fake-clock.js';
import { PendingReads, type ReadContext, type ReadOutcome } from './pending-reads.js';

/** A client whose signal counts how often it is asked for. */
function client() {
  const controller = new AbortController();
  let asked = 0;
  return {
    signal: () => {
      asked += 1;
      return controller.signal;
    },
    leave: () => controller.abort(new Error('gone')),
    asked: () => asked,
  };
}

/** Work that finishes when told to, remembering its context. */
function manualWork<T>() {
  let context: ReadContext | undefined;
  let settle: { resolve: (v: T) => void; reject: (e: unknown) => void } | undefined;
  const work = (c: ReadContext) => {
    context = c;
    return new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
  };
  return { work, context: () => context, resolve: (v: T) => settle?.resolve(v), reject: (e: unknown) => settle?.reject(e) };
}

describe('PendingReads', () => {
  let clock: FakeClock;
  beforeEach(() => void (clock = new FakeClock()));

  const reads = (timeoutMs = 1_000) => new PendingReads({ timeoutMs, clock, watchClientAfterMs: 50 });

  it.each<[string, (c: ReadContext) => Promise<string>, ReadOutcome<string>['kind']]>([
    ['a value', () => Promise.resolve('v'), 'value'],
    ['a rejection', () => Promise.reject(new Error('boom')), 'error'],
    [
      'a synchronous throw',
      () => {
        throw new Error('boom');
      },
      'error',
    ],
  ])('passes on %s without asking for the client signal or aborting the work', async (_, work, kind) => {
    const pending = reads();
    const c = client();
    let context: ReadContext | undefined;
    const outcome = await pending.run((ctx) => {
      context = ctx;
      return work(ctx);
    }, c.signal);
    expect(outcome.kind).toBe(kind);
    expect(c.asked()).toBe(0);
    expect(context?.signal.aborted).toBe(false);
    expect(pending.size).toBe(0);
  });

  it('times out at the deadline, and the work sees its signal aborted whenever it looks', async () => {
    const pending = reads(1_000);
    const early = manualWork<string>();
    const late = manualWork<string>();
    const first = pending.run(early.work, client().signal);
    const earlySignal = early.context()?.signal;
    await clock.advance(400);
    const second = pending.run(late.work, client().signal);
    await clock.advance(599);
    expect(pending.size).toBe(2);
    expect(earlySignal?.aborted).toBe(false);
    await clock.advance(1);
    expect(await first).toEqual({ kind: 'timeout' });
    expect(earlySignal?.aborted).toBe(true);
    expect(pending.size).toBe(1);
    await clock.advance(400);
    expect(await second).toEqual({ kind: 'timeout' });
    expect(late.context()?.signal.aborted).toBe(true);
    // A late answer changes nothing.
    late.resolve('too late');
    await flushMicrotasks();
    expect(pending.size).toBe(0);
  });

  it('watches the client only once a read has run for a while, and stops waiting when it leaves', async () => {
    const pending = reads(10_000);
    const c = client();
    const slow = manualWork<string>();
    const outcome = pending.run(slow.work, c.signal);
    await clock.advance(49);
    expect(c.asked()).toBe(0);
    await clock.advance(1);
    expect(c.asked()).toBe(1);
    c.leave();
    expect(await outcome).toEqual({ kind: 'client-gone' });
    expect(slow.context()?.signal.aborted).toBe(true);
  });

  it('notices a client that left before it was watched', async () => {
    const pending = reads(10_000);
    const c = client();
    c.leave();
    const outcome = pending.run(manualWork<string>().work, c.signal);
    await clock.advance(100);
    expect(await outcome).toEqual({ kind: 'client-gone' });
  });

  it('keeps one timer however many reads are in flight, and none once they are done', async () => {
    const pending = reads(1_000);
    const works = Array.from({ length: 100 }, () => manualWork<number>());
    const outcomes = works.map((w) => pending.run(w.work, client().signal));
    expect(clock.pendingTimers).toBe(1);
    works.forEach((w, i) => w.resolve(i));
    expect((await Promise.all(outcomes)).map((o) => (o.kind === 'value' ? o.value : -1))).toEqual(works.map((_, i) => i));
    await clock.advance(100);
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses a timeout that is not positive', () => {
    expect(() => new PendingReads({ timeoutMs: 0, clock: new FakeClock() })).toThrow(/timeoutMs must be positive/);
  });
});
