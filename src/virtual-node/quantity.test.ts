import { describe, expect, it } from 'vitest';
import { parseNonNegativeQuantity, parseQuantity } from './quantity.js';

describe('parseQuantity', () => {
  it.each([
    ['250m', 0.25],
    ['2', 2],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['512Mi', 512 * 2 ** 20],
    ['4Gi', 4 * 2 ** 30],
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
