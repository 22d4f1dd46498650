import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesPerGiB, formatQuantity, metricTargetProblem, parseNonNegativeQuantity, parseQuantity, quantityValue, sameQuantity } from './quantity.js';

describe('formatQuantity', () => {
  it.each([
    [0, '0'],
    [5, '5'],
    [5.5, '5500m'],
    [0.001, '1m'],
    [0.0004, '0'],
    [0.0005, '1m'],
    [1.2345, '1235m'],
    [12, '12'],
    [1500, '1500'],
    [2000, '2k'],
    [120_000, '120k'],
    [3_000_000, '3M'],
    [7e9, '7G'],
    [2.5e12, '2500G'],
    [1e15, '1P'],
    [9e15, '9P'],
    [1e18, '9223372036854775807m'],
    [-1, '0'],
    [-0.5, '0'],
    [Number.NaN, '0'],
    [Number.POSITIVE_INFINITY, '0'],
    [Number.NEGATIVE_INFINITY, '0'],
  ])('%d → %s', (value, expected) => {
    expect(formatQuantity(value)).toBe(expected);
  });

  it('caps values the HPA could not hold in int64 milli-units', () => {
    expect(formatQuantity(Number.MAX_VALUE)).toBe('9223372036854775807m');
  });

  const suffixPower: Record<string, number> = { m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
  const parse = (q: string): number => {
    const match = /^(\d+)([mkMGTPE]?)$/.exec(q);
    if (!match) throw new Error(`not a canonical quantity: ${q}`);
    return Number(match[1]) * 10 ** (suffixPower[match[2] ?? ''] ?? Number.NaN);
  };

  it('round-trips every non-negative value to within half a milli unit', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), (value) => {
        const q = formatQuantity(value);
        expect(Math.abs(parse(q) - value)).toBeLessThanOrEqual(0.0005 + value * 1e-12);
      }),
    );
  });

  it('is canonical: the mantissa never ends in three zeros below the largest suffix', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (milli) => {
        const q = formatQuantity(milli / 1000);
        const [, mantissa = '', suffix = ''] = /^(\d+)([mkMGTPE]?)$/.exec(q) ?? [];
        expect(suffix === 'E' || !mantissa.endsWith('000')).toBe(true);
      }),
    );
  });
});

describe('quantityValue', () => {
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
    expect(quantityValue(text)).toBe(value);
  });

  it('compares spellings by value', () => {
    expect(sameQuantity('1k', 1000)).toBe(true);
    expect(sameQuantity('1k', '1001')).toBe(false);
    expect(sameQuantity(undefined, '1')).toBe(false);
  });
});

describe('parseQuantity', () => {
  it.each([
    ['250m', 0.25],
    ['2', 2],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['512Mi', 512 * 2 ** 20],
    ['4Gi', 4 * bytesPerGiB],
    ['1G', 1e9],
    ['1e3', 1000],
    ['100k', 100_000],
    ['10n', 1e-8],
  ])('%s is %d', (text, expected) => {
    expect(parseQuantity(text, 'x')).toBeCloseTo(expected, 12);
  });

  it.each(['', 'abc', '1.2.3', '5 Gi', 'Gi', '1gi'])('rejects %j naming the field', (text) => {
    expect(() => parseQuantity(text, 'spec.containers[0].resources.requests.cpu')).toThrow(/requests\.cpu.*not a Kubernetes quantity/);
  });

  it('rejects negative capacities', () => {
    expect(() => parseNonNegativeQuantity('-1', '--cpu')).toThrow(/--cpu.*negative/);
  });
});

describe('metricTargetProblem', () => {
  it.each<[number, string | undefined]>([
    [1, undefined],
    [0.001, undefined],
    [0.0005, undefined],
    [0.0004, 'must be at least 0.001'],
    [0, 'must be greater than 0'],
    [-1, 'must be greater than 0'],
    [Number.NaN, 'must be greater than 0'],
  ])('%d → %s', (value, problem) => {
    const found = metricTargetProblem('listLength', value);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
