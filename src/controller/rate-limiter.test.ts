import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { ExponentialFailureRateLimiter, TokenBucketRateLimiter, createDefaultRateLimiter } from './rate-limiter.js';

describe('ExponentialFailureRateLimiter', () => {
  it('doubles from 5 ms per failure of the same key up to 1000 s, independently per key', () => {
    const limiter = new ExponentialFailureRateLimiter(5, 1_000_000);
    const delays = Array.from({ length: 22 }, () => limiter.when('a'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays[17]).toBe(655_360);
    expect(delays.slice(18)).toEqual([1_000_000, 1_000_000, 1_000_000, 1_000_000]);
    expect(limiter.when('b')).toBe(5);
    expect(limiter.retries('a')).toBe(22);
    limiter.forget('a');
    expect(limiter.retries('a')).toBe(0);
    expect(limiter.when('a')).toBe(5);
  });
});

describe('TokenBucketRateLimiter', () => {
  it('lets a burst through, then spaces retries at the refill rate, and refills while idle', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucketRateLimiter(10, 3, clock);
    expect([1, 2, 3, 4, 5, 6].map(() => bucket.when())).toEqual([0, 0, 0, 100, 200, 300]);
    await clock.advance(10_000);
    expect([1, 2, 3, 4].map(() => bucket.when())).toEqual([0, 0, 0, 100]);
  });
});

describe('createDefaultRateLimiter', () => {
  it('uses the larger of the per-key backoff and the overall bucket', async () => {
    const clock = new FakeClock();
    const limiter = createDefaultRateLimiter(clock);
    const first = Array.from({ length: 100 }, (_, i) => limiter.when(`k${i}`));
    expect(first.every((d) => d === 5)).toBe(true);
    expect(limiter.when('k100')).toBe(100);
    await clock.advance(60_000);
    expect([1, 2, 3].map(() => limiter.when('k0'))).toEqual([10, 20, 40]);
  });
});
