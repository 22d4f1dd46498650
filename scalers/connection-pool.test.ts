import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from '../src/controller/fake-clock.js';
import { ConnectionPool, PoolTimeoutError } from './connection-pool.js';

class FakeConnection {
  closed = 0;
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

describe('ConnectionPool', () => {
  it('shares one connection per key and closes it when the last holder lets go', async () => {
    const pool = new ConnectionPool({ clock: new FakeClock() });
    let opened = 0;
    const open = () => {
      opened++;
      return new FakeConnection();
    };
    const a = pool.acquire('redis:h1', 'Redis h1', open);
    const b = pool.acquire('redis:h1', 'Redis h1', open);
    const c = pool.acquire('redis:h2', 'Redis h2', open);
    expect(opened).toBe(2);
    expect(a.connection).toBe(b.connection);
    await a.release();
    await a.release();
    expect(a.connection.closed).toBe(0);
    await b.release();
    expect(a.connection.closed).toBe(1);
    expect(pool.size).toBe(1);
    await c.release();
    expect(pool.size).toBe(0);
    const again = pool.acquire('redis:h1', 'Redis h1', open);
    expect(again.connection).not.toBe(a.connection);
    await again.release();
  });

  it('limits requests in flight per server', async () => {
    const pool = new ConnectionPool({ clock: new FakeClock(), maxConcurrentPerServer: 2 });
    const lease = pool.acquire('k', 'server', () => new FakeConnection());
    let running = 0;
    let peak = 0;
    const request = async () => {
      running++;
      peak = Math.max(peak, running);
      await flushMicrotasks(3);
      running--;
      return 'ok';
    };
    const results = await Promise.all(Array.from({ length: 6 }, () => lease.use(1000, request)));
    expect(results).toEqual(Array(6).fill('ok'));
    expect(peak).toBe(2);
    await lease.release();
  });

  it('times out a dead server exactly at its timeout on the clock, aborting the request, without delaying another server', async () => {
    const clock = new FakeClock();
    const pool = new ConnectionPool({ clock, maxConcurrentPerServer: 1 });
    const dead = pool.acquire('dead', 'Redis 127.0.0.1:1', () => new FakeConnection());
    const healthy = pool.acquire('alive', 'Redis 127.0.0.1:2', () => new FakeConnection());
    let aborted = false;
    const hang = (_c: FakeConnection, signal: AbortSignal) =>
      new Promise<never>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new Error('aborted'));
        });
      });
    let outcome: unknown;
    const stuck = dead.use(50, hang).catch((error: unknown) => (outcome = error));
    await expect(healthy.use(1000, () => Promise.resolve(7))).resolves.toBe(7);
    await clock.advance(49);
    expect(outcome).toBeUndefined();
    expect(aborted).toBe(false);
    await clock.advance(1);
    await stuck;
    expect(outcome).toBeInstanceOf(PoolTimeoutError);
    expect((outcome as Error).message).toBe('timed out after 50 ms reading Redis 127.0.0.1:1');
    expect(aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    await dead.release();
    await healthy.release();
  });

  it('counts the wait for a slot against the timeout and keeps the slot until the request settles', async () => {
    const clock = new FakeClock();
    const pool = new ConnectionPool({ clock, maxConcurrentPerServer: 1 });
    const lease = pool.acquire('k', 'slow server', () => new FakeConnection());
    let finishSlow!: () => void;
    const slow = lease.use(20, () => new Promise<string>((resolve) => (finishSlow = () => resolve('late'))));
    const slowFailed = expect(slow).rejects.toBeInstanceOf(PoolTimeoutError);
    await clock.advance(10);
    // The slow request occupies the only slot, so the next caller waits: its 20 ms run from now, not from its turn.
    const next = lease.use(20, () => Promise.resolve('next'));
    const nextFailed = expect(next).rejects.toBeInstanceOf(PoolTimeoutError);
    await clock.advance(10);
    await slowFailed;
    await clock.advance(10);
    await nextFailed;
    finishSlow();
    await flushMicrotasks();
    await expect(lease.use(20, () => Promise.resolve('after'))).resolves.toBe('after');
    await lease.release();
  });

  it("aborts the request when the caller's signal aborts, before its own timeout", async () => {
    const pool = new ConnectionPool({ clock: new FakeClock() });
    const lease = pool.acquire('k', 'Prometheus http://127.0.0.1:9090', () => new FakeConnection());
    let requestSignal: AbortSignal | undefined;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const caller = new AbortController();
    const stuck = lease.use(
      60_000,
      (_c, signal) => {
        requestSignal = signal;
        started();
        return new Promise<never>(() => undefined);
      },
      caller.signal,
    );
    await running;
    caller.abort(new Error('deadline'));
    await expect(stuck).rejects.toThrow("gave up reading Prometheus http://127.0.0.1:9090: the caller's deadline passed");
    expect(requestSignal?.aborted).toBe(true);
    await lease.release();
  });

  it('does not start a request for a caller that has already given up, nor keep its slot', async () => {
    const pool = new ConnectionPool({ clock: new FakeClock(), maxConcurrentPerServer: 1 });
    const lease = pool.acquire('k', 'server', () => new FakeConnection());
    let started = 0;
    const request = () => {
      started++;
      return Promise.resolve('ran');
    };
    await expect(lease.use(1000, request, AbortSignal.abort())).rejects.toThrow('gave up reading server');
    expect(started).toBe(0);
    await expect(lease.use(1000, request)).resolves.toBe('ran');
    await lease.release();
  });
});
