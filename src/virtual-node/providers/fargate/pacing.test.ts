import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../controller/fake-clock.js';
import { apiCallCount, chunks, isThrottling, Pacer } from './pacing.js';

function throttle(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
}

describe('Pacer', () => {
  it('lets a burst through at once, then spaces calls at the sustained rate', async () => {
    const clock = new FakeClock(0);
    const pacer = new Pacer({ clock, perSecond: 2, burst: 3, maxRetries: 0, backoff: { initialMs: 100, maxMs: 1000 }, random: () => 0.5 });
    const times: number[] = [];
    const all = Promise.all(Array.from({ length: 5 }, () => pacer.run(() => Promise.resolve(times.push(clock.now())))));
    await clock.advance(2000);
    await all;
    expect(times).toEqual([0, 0, 0, 500, 1000]);
  });

  it('retries a throttled call after a jittered, growing delay, and passes other errors on at once', async () => {
    const clock = new FakeClock(0);
    const pacer = new Pacer({ clock, perSecond: 1000, burst: 1000, maxRetries: 3, backoff: { initialMs: 100, maxMs: 1000 }, random: () => 1 });
    const attempts: number[] = [];
    const call = () => {
      attempts.push(clock.now());
      return attempts.length < 3 ? Promise.reject(throttle()) : Promise.resolve('ok');
    };
    const result = pacer.run(call);
    await clock.advance(1000);
    expect(await result).toBe('ok');
    expect(attempts).toEqual([0, 100, 300]);
    expect(pacer.throttledCalls).toBe(2);
    await expect(pacer.run(() => Promise.reject(new Error('InvalidParameterException')))).rejects.toThrow('InvalidParameterException');
  });

  it('gives up after maxRetries throttled attempts', async () => {
    const clock = new FakeClock(0);
    const pacer = new Pacer({ clock, perSecond: 1000, burst: 1000, maxRetries: 2, backoff: { initialMs: 10, maxMs: 10 }, random: () => 0 });
    let calls = 0;
    const result = pacer.run(() => {
      calls++;
      return Promise.reject(throttle());
    });
    const settled = result.catch((error: unknown) => error);
    await clock.advance(100);
    expect(await settled).toMatchObject({ name: 'ThrottlingException' });
    expect(calls).toBe(3);
  });
});

describe('isThrottling', () => {
  it.each([
    [throttle(), true],
    [Object.assign(new Error('x'), { name: 'RequestLimitExceeded' }), true],
    [Object.assign(new Error('x'), { name: 'Whatever', $metadata: { httpStatusCode: 429 } }), true],
    [Object.assign(new Error('x'), { name: 'InvalidParameterException', $metadata: { httpStatusCode: 400 } }), false],
    ['a string', false],
  ])('%#', (error, expected) => {
    expect(isThrottling(error)).toBe(expected);
  });
});

describe('batching', () => {
  it('chunks DescribeTasks arguments', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunks([], 100)).toEqual([]);
  });

  it.each([
    [1, 1, { runTask: 1, describeTasks: 6, stopTask: 1, seconds: 0 }],
    [100, 1, { runTask: 100, describeTasks: 6, stopTask: 100, seconds: 0 }],
    [101, 1, { runTask: 101, describeTasks: 12, stopTask: 101, seconds: 0.05 }],
    [1000, 2, { runTask: 1000, describeTasks: 60, stopTask: 1000, seconds: 45 }],
  ])('%i pods of %i specs', (pods, distinctSpecs, expected) => {
    const count = apiCallCount({ pods, distinctSpecs, statusIntervalMs: 10_000, runTaskPerSecond: 20, runTaskBurst: 100 });
    expect(count.create).toEqual({ describeTaskDefinition: distinctSpecs, registerTaskDefinition: distinctSpecs, runTask: expected.runTask });
    expect(count.steadyPerMinute.describeTasks).toBe(expected.describeTasks);
    expect(count.delete.stopTask).toBe(expected.stopTask);
    expect(count.secondsToLaunchAll).toBeCloseTo(expected.seconds, 6);
  });
});
