import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rfc3339Seconds } from './rfc3339.js';

describe('rfc3339Seconds', () => {
  it.each([
    [Date.parse('2030-01-02T03:04:05.678Z'), '2030-01-02T03:04:05Z'],
    [0, '1970-01-01T00:00:00Z'],
    [-1, '1969-12-31T23:59:59Z'],
    [Date.parse('2000-02-29T23:59:59.999Z'), '2000-02-29T23:59:59Z'],
    [Date.parse('2100-03-01T00:00:00Z'), '2100-03-01T00:00:00Z'],
    [Date.parse('0001-01-01T00:00:00Z'), '0001-01-01T00:00:00Z'],
    [Date.parse('9999-12-31T23:59:59.999Z'), '9999-12-31T23:59:59Z'],
    [Date.parse('+010000-01-01T00:00:00Z'), '+010000-01-01T00:00:00Z'],
    [Date.parse('-000001-06-01T12:00:00Z'), '-000001-06-01T12:00:00Z'],
    [Number.NaN, '1970-01-01T00:00:00Z'],
    [Number.POSITIVE_INFINITY, '1970-01-01T00:00:00Z'],
  ])('%d → %s', (ms, expected) => {
    expect(rfc3339Seconds(ms)).toBe(expected);
  });

  it('agrees with Date#toISOString cut to whole seconds, for every time a Date can hold', () => {
    // Mostly four-digit years, where the arithmetic is used; sometimes anywhere a Date reaches.
    const fourDigitYears = fc.integer({ min: Date.parse('0000-01-01T00:00:00Z'), max: Date.parse('9999-12-31T23:59:59.999Z') });
    fc.assert(
      fc.property(fc.oneof({ arbitrary: fourDigitYears, weight: 4 }, { arbitrary: fc.integer({ min: -8.64e15, max: 8.64e15 }), weight: 1 }), (ms) => {
        expect(rfc3339Seconds(ms)).toBe(`${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, -5)}Z`);
      }),
      { numRuns: 5_000 },
    );
  });
});
