import { quantityValue } from '../kube/quantity.js';

/*
 * The part of Kubernetes' resource.Quantity that HPA targets need: parsing the canonical forms the apiserver
 * writes back ("1500m", "2k", "1Mi", "1e3") so a drift check compares numbers, not spellings.
 */

/** The numeric value of a quantity (number or string), or undefined when it is not one. */
export const parseQuantity = quantityValue;

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
