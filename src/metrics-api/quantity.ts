// Decimal SI suffixes by power of ten, as Kubernetes writes canonical quantities.
const suffixByExponent = new Map<number, string>([
  [-3, 'm'],
  [0, ''],
  [3, 'k'],
  [6, 'M'],
  [9, 'G'],
  [12, 'T'],
  [15, 'P'],
]);

/**
 * Formats a metric value as a canonical Kubernetes quantity at milli precision: 5 → "5", 5.5 → "5500m",
 * 2000 → "2k". NaN, ±Infinity and negative values become "0" because the HPA cannot act on them and
 * KEDA reports them that way too; values beyond int64 milli-units (about 9.2e15) are capped there.
 */
export function formatMilliQuantity(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return '0';
  let mantissa = toMilliUnits(value);
  if (mantissa === 0n) return '0';
  let exponent = -3;
  while (suffixByExponent.has(exponent + 3) && mantissa % 1000n === 0n) {
    mantissa /= 1000n;
    exponent += 3;
  }
  return `${mantissa}${suffixByExponent.get(exponent) ?? ''}`;
}

// The HPA reads quantities as int64 milli-units; anything larger would overflow there, so it is capped.
const maxMilliUnits = 2n ** 63n - 1n;

function toMilliUnits(value: number): bigint {
  const milli = value * 1000;
  if (milli >= 2 ** 63) return maxMilliUnits;
  return BigInt(Math.round(milli));
}
