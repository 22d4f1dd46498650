import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatQuantity, parseQuantity, sameQuantity } from './quantity.js';

describe('quantities', () => {
  it.each<[string | number, number | undefined]>([
    ['5', 5],
    ['1500m', 1.5],
    ['2k', 2000],
    ['1Mi', 1048576],
    ['1e3', 1000],
    ['.5', 0.5],
    ['-3', -3],
    [7, 7],
    ['abc', undefined],
    ['1.5.2', undefined],
    ['5 pods', undefined],
  ])('parses %j as %s', (text, value) => {
    expect(parseQuantity(text)).toBe(value);
  });

  it.each<[number, string]>([
    [5, '5'],
    [0.5, '500m'],
    [1.2345, '1235m'],
    [Number.NaN, '0'],
    [-1, '0'],
    [Number.POSITIVE_INFINITY, '0'],
  ])('formats %s as %s', (value, text) => {
    expect(formatQuantity(value)).toBe(text);
  });

  it('round-trips any non-negative target within a milli-unit', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), (value) => {
        const parsed = parseQuantity(formatQuantity(value));
        expect(parsed).toBeDefined();
        expect(Math.abs((parsed ?? 0) - value)).toBeLessThanOrEqual(0.0005 + value * 1e-12);
      }),
    );
  });

  it('compares spellings by value', () => {
    expect(sameQuantity('1k', 1000)).toBe(true);
    expect(sameQuantity('1k', '1001')).toBe(false);
    expect(sameQuantity(undefined, '1')).toBe(false);
  });
});
