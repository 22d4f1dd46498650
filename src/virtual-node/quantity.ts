import { quantityValue } from '../kube/quantity.js';

// Kubernetes resource quantities (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/)
// reduced to plain numbers: CPU in cores, memory in bytes. Only what requests and capacities use.

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
