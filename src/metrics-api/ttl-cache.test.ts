import { describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { TtlCache } from './ttl-cache.js';

describe('TtlCache', () => {
  it('forgets entries once their time is up', async () => {
    const clock = new FakeClock(1_000);
    const cache = new TtlCache<string>(10, clock);
    cache.set('a', 'x', 500);
    await clock.advance(499);
    expect(cache.get('a')).toBe('x');
    await clock.advance(1);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently written entry when full', () => {
    const cache = new TtlCache<number>(2, new FakeClock(0));
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    cache.set('a', 3, 100);
    cache.set('c', 4, 100);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([3, undefined, 4]);
    expect(cache.size).toBe(2);
  });

  it('does not store entries with a non-positive lifetime', () => {
    const cache = new TtlCache<number>(2, new FakeClock(0));
    cache.set('a', 1, 0);
    expect(cache.get('a')).toBeUndefined();
  });

  it('rejects a nonsensical bound', () => {
    expect(() => new TtlCache(0, new FakeClock(0))).toThrow(/maxEntries must be a positive integer/);
  });
});
