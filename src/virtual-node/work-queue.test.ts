import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { WorkQueue } from './work-queue.js';

const log = pino({ level: 'silent' });

describe('WorkQueue', () => {
  it('handles a key once however often it was added before it ran', async () => {
    const seen: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const queue = new WorkQueue(
      async (key) => {
        seen.push(key);
        await gate;
      },
      { concurrency: 1, clock: new ManualClock(), log },
    );
    queue.add('a');
    queue.add('b');
    queue.add('b');
    queue.add('b');
    release();
    await queue.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('runs a key again when it was added while being handled', async () => {
    let runs = 0;
    const queue: WorkQueue = new WorkQueue(
      () => {
        runs++;
        if (runs === 1) queue.add('a');
        return Promise.resolve();
      },
      { concurrency: 2, clock: new ManualClock(), log },
    );
    queue.add('a');
    await queue.idle();
    await queue.idle();
    expect(runs).toBe(2);
  });

  it('retries a failing key with doubling delays', async () => {
    const clock = new ManualClock();
    const attempts: number[] = [];
    const queue = new WorkQueue(
      () => {
        attempts.push(clock.now());
        return attempts.length < 3 ? Promise.reject(new Error('boom')) : Promise.resolve();
      },
      { concurrency: 1, clock, log, retryBaseMs: 100 },
    );
    queue.add('a');
    await queue.idle();
    clock.advance(100);
    await queue.idle();
    clock.advance(199);
    await queue.idle();
    expect(attempts).toEqual([0, 100]);
    clock.advance(1);
    await queue.idle();
    expect(attempts).toEqual([0, 100, 300]);
  });
});
