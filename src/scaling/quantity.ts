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

/**
 * Why the HPA would refuse `value` as a metric target, or undefined. It refuses 0 and negatives, and targets
 * are written by formatQuantity in milli-units, so a fraction below 0.0005 would be written as a refused 0.
 */
export function metricTargetProblem(name: string, value: number): string | undefined {
  if (value > 0 && Number.isFinite(value) && formatQuantity(value) !== '0m') return undefined;
  if (value > 0 && Number.isFinite(value)) return `"${name}" must be at least 0.001 (is ${value}): the HPA target is written in milli-units and would be 0`;
  return `"${name}" must be greater than 0 (is ${value}): the HPA refuses a metric target of 0 or less`;
}

export function sameQuantity(a: string | number | undefined, b: string | number | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (x === undefined || y === undefined) return String(a) === String(b);
  return Math.abs(x - y) <= Math.max(Math.abs(x), Math.abs(y)) * 1e-12;
}
