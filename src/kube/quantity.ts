/*
 * Kubernetes resource quantities ("500m", "1.5", "512Mi", "1e3") reduced to plain numbers of base units:
 * CPU in cores, memory in bytes, metric targets as they are. One parser for every part of swell.
 */

const suffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const quantityPattern = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/** The numeric value of a quantity (number or string), or undefined when it is not one. */
export function quantityValue(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return Number.isFinite(quantity) ? quantity : undefined;
  const match = quantityPattern.exec(quantity.trim());
  if (!match) return undefined;
  const base = Number(match[1]);
  if (match[2]) return base * 10 ** Number(match[2].slice(1));
  return base * (suffixes[match[3] ?? ''] ?? 1);
}

/** Parses a quantity such as "250m", "1.5", "512Mi" or "1e3"; throws naming `what` when it is not one. */
export function parseQuantity(value: string | number, what: string): number {
  const parsed = quantityValue(value);
  if (parsed !== undefined) return parsed;
  if (typeof value === 'number') throw new Error(`${what}: ${value} is not a finite quantity`);
  throw new Error(`${what}: "${value}" is not a Kubernetes quantity (examples: 500m, 2, 512Mi, 4Gi)`);
}

/** Same as parseQuantity but rejects negative values, as capacities and requests must be. */
export function parseNonNegativeQuantity(value: string | number, what: string): number {
  const parsed = parseQuantity(value, what);
  if (parsed < 0) throw new Error(`${what}: "${value}" must not be negative`);
  return parsed;
}

export const bytesPerGiB = 2 ** 30;

/**
 * Why the HPA would refuse `value` as a metric target, or undefined. It refuses 0 and negatives, and targets
 * are written by formatQuantity in milli-units, so a fraction below 0.0005 would be written as a refused 0.
 */
export function metricTargetProblem(name: string, value: number): string | undefined {
  if (value > 0 && Number.isFinite(value) && formatQuantity(value) !== '0') return undefined;
  if (value > 0 && Number.isFinite(value)) return `"${name}" must be at least 0.001 (is ${value}): the HPA target is written in milli-units and would be 0`;
  return `"${name}" must be greater than 0 (is ${value}): the HPA refuses a metric target of 0 or less`;
}

/** Whether two spellings ("1k", 1000, "1000") name the same quantity. */
export function sameQuantity(a: string | number | undefined, b: string | number | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = quantityValue(a);
  const y = quantityValue(b);
  if (x === undefined || y === undefined) return String(a) === String(b);
  return Math.abs(x - y) <= Math.max(Math.abs(x), Math.abs(y)) * 1e-12;
}

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
 * A value as the canonical Kubernetes quantity at milli precision, the spelling the apiserver writes back and
 * KEDA's HPA targets and metric values use: 5 → "5", 5.5 → "5500m", 2000 → "2k". NaN, ±Infinity and negative
 * values become "0" because the HPA cannot act on them and KEDA reports them that way too; values beyond int64
 * milli-units (about 9.2e15) are capped there.
 */
export function formatQuantity(value: number): string {
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
