import { describe, expect, it } from 'vitest';
import { SharedReads, sourceKey } from './shared-reads.js';
import { testEpochMs } from './testing.js';
import { FakeClock } from '../src/controller/fake-clock.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SharedReads', () => {
  it('makes concurrent readers of one source share a single request', async () => {
    const reads = new SharedReads(new FakeClock(testEpochMs));
    const pending = deferred<number>();
    let requests = 0;
    const fetch = () => {
      requests++;
      return pending.promise;
    };
    const all = Promise.all(Array.from({ length: 100 }, () => reads.read('redis|list', 0, fetch)));
    pending.resolve(42);
    expect(await all).toEqual(Array(100).fill(42));
    expect(requests).toBe(1);
  });

  it.each([
    { maxAgeMs: 30_000, elapsed: 29_999, requests: 1 },
    { maxAgeMs: 30_000, elapsed: 30_000, requests: 1 },
    { maxAgeMs: 30_000, elapsed: 30_001, requests: 2 },
    { maxAgeMs: 0, elapsed: 0, requests: 1 },
    { maxAgeMs: 0, elapsed: 1, requests: 2 },
  ])('reuses a value read $elapsed ms ago when the max age is $maxAgeMs: $requests request(s)', async ({ maxAgeMs, elapsed, requests }) => {
    const clock = new FakeClock(testEpochMs);
    const reads = new SharedReads(clock);
    let count = 0;
    const fetch = () => Promise.resolve(++count);
    await reads.read('k', maxAgeMs, fetch);
    await clock.advance(elapsed);
    const second = await reads.read('k', maxAgeMs, fetch);
    expect(count).toBe(requests);
    expect(second).toBe(requests);
  });

  it('keeps sources apart', async () => {
    const reads = new SharedReads(new FakeClock(testEpochMs));
    expect(await reads.read('a', 1000, () => Promise.resolve('A'))).toBe('A');
    expect(await reads.read('b', 1000, () => Promise.resolve('B'))).toBe('B');
  });

  it('shares a failure with the readers waiting for it but does not remember it', async () => {
    const reads = new SharedReads(new FakeClock(testEpochMs));
    const pending = deferred<number>();
    const first = reads.read('k', 60_000, () => pending.promise);
    const second = reads.read('k', 60_000, () => Promise.resolve(1));
    pending.reject(new Error('down'));
    await expect(first).rejects.toThrow('down');
    await expect(second).rejects.toThrow('down');
    await expect(reads.read('k', 60_000, () => Promise.resolve(7))).resolves.toBe(7);
  });

  it('dates a value from when its request started, so a slow reply is not treated as fresher than it is', async () => {
    const clock = new FakeClock(testEpochMs);
    const reads = new SharedReads(clock);
    const pending = deferred<number>();
    const first = reads.read('k', 10_000, () => pending.promise);
    await clock.advance(8_000);
    pending.resolve(1);
    await first;
    await clock.advance(2_001);
    await expect(reads.read('k', 10_000, () => Promise.resolve(2))).resolves.toBe(2);
  });

  it('forgets sources nobody can reuse any more', async () => {
    const clock = new FakeClock(testEpochMs);
    const reads = new SharedReads(clock, 4);
    for (const key of ['a', 'b', 'c']) await reads.read(key, 1000, () => Promise.resolve(key));
    await clock.advance(1001);
    await reads.read('d', 1000, () => Promise.resolve('d'));
    expect(reads.size).toBe(1);
  });
});

describe('sourceKey', () => {
  it('is independent of field order and hides credentials', () => {
    const a = sourceKey('redis', { host: 'h', db: 0 }, { password: 'hunter2' });
    const b = sourceKey('redis', { db: 0, host: 'h' }, { password: 'hunter2' });
    expect(a).toBe(b);
    expect(a).not.toContain('hunter2');
    expect(sourceKey('redis', { host: 'h', db: 0 }, { password: 'other' })).not.toBe(a);
  });
});

describe('SharedReads with callers that give up', () => {
  it('aborts the shared fetch only when every caller waiting on it has given up', async () => {
    const reads = new SharedReads(new FakeClock(testEpochMs));
    let fetchSignal: AbortSignal | undefined;
    const fetch = (signal: AbortSignal) => {
      fetchSignal = signal;
      return new Promise<number>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    };
    const a = new AbortController();
    const b = new AbortController();
    const first = reads.read('k', 0, fetch, a.signal);
    const second = reads.read('k', 0, fetch, b.signal);
    a.abort(new Error('a gave up'));
    await expect(first).rejects.toThrow('a gave up');
    expect(fetchSignal?.aborted).toBe(false);
    b.abort(new Error('b gave up'));
    await expect(second).rejects.toThrow('b gave up');
    expect(fetchSignal?.aborted).toBe(true);
  });

  it('starts afresh for a caller arriving after everyone abandoned the fetch, and keeps the newer value', async () => {
    const reads = new SharedReads(new FakeClock(testEpochMs));
    const stuck = deferred<number>();
    const gone = new AbortController();
    const abandoned = reads.read('k', 60_000, () => stuck.promise, gone.signal);
    gone.abort(new Error('deadline'));
    await expect(abandoned).rejects.toThrow('deadline');
    await expect(reads.read('k', 60_000, () => Promise.resolve(2))).resolves.toBe(2);
    stuck.resolve(1);
    await expect(reads.read('k', 60_000, () => Promise.resolve(3))).resolves.toBe(2);
  });

  it('keeps a fetch going for a caller without a signal', async () => {
    const reads = new SharedReads(new FakeClock(testEpochMs));
    const pending = deferred<number>();
    let fetchSignal: AbortSignal | undefined;
    const fetch = (signal: AbortSignal) => {
      fetchSignal = signal;
      return pending.promise;
    };
    const patient = reads.read('k', 0, fetch);
    const hasty = new AbortController();
    const leaving = reads.read('k', 0, fetch, hasty.signal);
    hasty.abort(new Error('gone'));
    await expect(leaving).rejects.toThrow('gone');
    expect(fetchSignal?.aborted).toBe(false);
    pending.resolve(5);
    await expect(patient).resolves.toBe(5);
  });
});
