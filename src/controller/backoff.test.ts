import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WATCH_RECONNECT_BACKOFF, backoffDelayMs } from './backoff.js';

describe('backoffDelayMs', () => {
  it.each([
    // attempt, random, expected ms: the ceiling doubles from 1 s; jitter picks a point in its upper half
    [0, 0, 1_000],
    [0, 1, 1_000],
    [1, 0, 1_000],
    [1, 1, 2_000],
    [2, 0, 2_000],
    [2, 0.5, 3_000],
    [3, 1, 8_000],
    [4, 1, 16_000],
    [5, 0, 15_000],
    [5, 1, 30_000],
    [40, 0.5, 22_500],
    [5000, 1, 30_000],
  ])('attempt %i with random %d waits %i ms', (attempt, random, expected) => {
    expect(backoffDelayMs(attempt, WATCH_RECONNECT_BACKOFF, () => random)).toBe(expected);
  });

  it('always stays within [1 s, 30 s] and its ceiling never shrinks as attempts grow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const delay = backoffDelayMs(attempt, WATCH_RECONNECT_BACKOFF, () => r);
        expect(delay).toBeGreaterThanOrEqual(1_000);
        expect(delay).toBeLessThanOrEqual(30_000);
        expect(backoffDelayMs(attempt + 1, WATCH_RECONNECT_BACKOFF, () => 1)).toBeGreaterThanOrEqual(backoffDelayMs(attempt, WATCH_RECONNECT_BACKOFF, () => 1));
      }),
    );
  });

  it('spreads retries: different random draws give different delays once past the first attempt', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75, 1].map((r) => backoffDelayMs(3, WATCH_RECONNECT_BACKOFF, () => r)));
    expect(delays.size).toBe(5);
  });
});
