import { describe, expect, it } from 'vitest';
import { ConnectionPool, PoolTimeoutError } from './connection-pool.js';

class FakeConnection {
  closed = 0;
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('ConnectionPool', () => {
  it('shares one connection per key and closes it when the last holder lets go', async () => {
    const pool = new ConnectionPool();
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
    const pool = new ConnectionPool({ maxConcurrentPerServer: 2 });
    const lease = pool.acquire('k', 'server', () => new FakeConnection());
    let running = 0;
    let peak = 0;
    const request = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(10);
      running--;
      return 'ok';
    };
    const results = await Promise.all(Array.from({ length: 6 }, () => lease.use(1000, request)));
    expect(results).toEqual(Array(6).fill('ok'));
    expect(peak).toBe(2);
    await lease.release();
  });

  it('times out a dead server, aborting the request, without delaying another server', async () => {
    const pool = new ConnectionPool({ maxConcurrentPerServer: 1 });
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
    const stuck = dead.use(50, hang);
    void stuck.catch(() => undefined);
    await expect(healthy.use(1000, () => Promise.resolve(7))).resolves.toBe(7);
    // Answered while the dead server's request was still waiting on its own time-out.
    expect(aborted).toBe(false);
    await expect(stuck).rejects.toBeInstanceOf(PoolTimeoutError);
    await expect(stuck).rejects.toThrow('timed out after 50 ms reading Redis 127.0.0.1:1');
    expect(aborted).toBe(true);
    await dead.release();
    await healthy.release();
  });

  it('counts the wait for a slot against the timeout and keeps the slot until the request settles', async () => {
    const pool = new ConnectionPool({ maxConcurrentPerServer: 1 });
    const lease = pool.acquire('k', 'slow server', () => new FakeConnection());
    let finishSlow!: () => void;
    const slow = lease.use(20, () => new Promise<string>((resolve) => (finishSlow = () => resolve('late'))));
    await expect(slow).rejects.toBeInstanceOf(PoolTimeoutError);
    // The slow request still occupies the only slot, so the next caller waits and times out too.
    await expect(lease.use(20, () => Promise.resolve('next'))).rejects.toBeInstanceOf(PoolTimeoutError);
    finishSlow();
    await sleep(0);
    await expect(lease.use(20, () => Promise.resolve('after'))).resolves.toBe('after');
    await lease.release();
  });

  it("aborts the request when the caller's signal aborts, before its own timeout", async () => {
    const pool = new ConnectionPool();
    const lease = pool.acquire('k', 'Prometheus http://127.0.0.1:9090', () => new FakeConnection());
    let requestSignal: AbortSignal | undefined;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const caller = new AbortController();
    const stuck = lease.use(60_000, (_c, signal) => {
      requestSignal = signal;
      started();
      return new Promise<never>(() => undefined);
    }, caller.signal);
    await running;
    caller.abort(new Error('deadline'));
    await expect(stuck).rejects.toThrow("gave up reading Prometheus http://127.0.0.1:9090: the caller's deadline passed");
    expect(requestSignal?.aborted).toBe(true);
    await lease.release();
  });

  it('does not start a request for a caller that has already given up, nor keep its slot', async () => {
    const pool = new ConnectionPool({ maxConcurrentPerServer: 1 });
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
