// Kubernetes resource quantities (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/)
// reduced to plain numbers: CPU in cores, memory in bytes. Only what requests and capacities use.

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

const quantityPattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;

/** Parses a quantity such as "250m", "1.5", "512Mi" or "1e3"; throws naming `what` when it is not one. */
export function parseQuantity(value: string | number, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${what}: ${value} is not a finite quantity`);
    return value;
  }
  const match = quantityPattern.exec(value.trim());
  if (!match) throw new Error(`${what}: "${value}" is not a Kubernetes quantity (examples: 500m, 2, 512Mi, 4Gi)`);
  const base = Number(match[1]);
  if (match[2]) return base * 10 ** Number(match[2].slice(1));
  return base * (suffixes[match[3] ?? ''] ?? 1);
}

/** Same as parseQuantity but rejects negative values, as capacities and requests must be. */
export function parseNonNegativeQuantity(value: string | number, what: string): number {
  const parsed = parseQuantity(value, what);
  if (parsed < 0) throw new Error(`${what}: "${value}" must not be negative`);
  return parsed;
}

export const bytesPerGiB = 2 ** 30;
