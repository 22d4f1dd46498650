/*
 * The part of Kubernetes' resource.Quantity that HPA targets need: parsing the canonical forms the apiserver
 * writes back ("1500m", "2k", "1Mi", "1e3") so a drift check compares numbers, not spellings.
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
export function parseQuantity(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return Number.isFinite(quantity) ? quantity : undefined;
  const match = quantityPattern.exec(quantity.trim());
  if (!match) return undefined;
  const base = Number(match[1]);
  if (match[2]) return Number(`${match[1]}${match[2]}`);
  return base * (suffixes[match[3] ?? ''] ?? 1);
}

/**
 * A target as KEDA writes it: whole numbers as plain integers, fractions in milli-units ("500m"). NaN,
 * infinities and negatives become 0, as KEDA does for metric values.
 */
export function formatQuantity(value: number): string {
  if (!Number.isFinite(value) || value < 0) return '0';
  if (Number.isInteger(value)) return String(value);
  return `${Math.round(value * 1000)}m`;
}

export function sameQuantity(a: string | number | undefined, b: string | number | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (x === undefined || y === undefined) return String(a) === String(b);
  return Math.abs(x - y) <= Math.max(Math.abs(x), Math.abs(y)) * 1e-12;
}
