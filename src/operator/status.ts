import type { ScaledObjectStatus } from '../apis/keda/v1alpha1/scaledobject.js';

export type ConditionType = 'Ready' | 'Active' | 'Fallback' | 'Paused' | 'HPAActive';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** KEDA's initial set, in KEDA's order, written before anything is known. */
export function initialConditions(): Condition[] {
  return [
    { type: 'Ready', status: 'Unknown' },
    { type: 'Active', status: 'Unknown' },
    { type: 'Fallback', status: 'Unknown' },
    { type: 'Paused', status: 'False' },
  ];
}

/** Sets one condition, keeping the position of an existing one so repeated writes do not reorder the list. */
export function setCondition(conditions: readonly Condition[] | undefined, next: Condition): Condition[] {
  const base = conditions && conditions.length > 0 ? [...conditions] : initialConditions();
  const index = base.findIndex((c) => c.type === next.type);
  if (index < 0) base.push(next);
  else base[index] = next;
  return base;
}

export function setConditions(conditions: readonly Condition[] | undefined, updates: readonly Condition[]): Condition[] {
  return updates.reduce<Condition[]>((acc, c) => setCondition(acc, c), conditions ? [...conditions] : initialConditions());
}

export function findCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

const mapFields = new Set<keyof ScaledObjectStatus>(['health', 'triggersActivity']);

/**
 * The JSON merge patch that turns `observed` into `observed + desired`, or undefined when nothing changes, so
 * the operator writes status only when it changed. Fields absent from `desired` are left alone; a field set to
 * null in `desired` is removed. Map fields (health, triggersActivity) are patched per key, with removed keys
 * set to null, because a merge patch merges maps instead of replacing them.
 */
export function statusPatch(
  observed: ScaledObjectStatus | undefined,
  desired: { [K in keyof ScaledObjectStatus]?: ScaledObjectStatus[K] | null },
): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(desired) as [keyof ScaledObjectStatus, unknown][]) {
    if (value === undefined) continue;
    const current = observed?.[key];
    if (value === null) {
      if (current !== undefined) patch[key] = null;
      continue;
    }
    if (sameJson(current, value)) continue;
    patch[key] = mapFields.has(key) ? mapPatch(current as Record<string, unknown> | undefined, value as Record<string, unknown>) : value;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

function mapPatch(current: Record<string, unknown> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(current ?? {})) if (!(key in next)) patch[key] = null;
  return patch;
}

/**
 * Whether two JSON values serialise alike (a key holding undefined counts as absent, as in the patch sent).
 * Called for every status field on every poll, so it walks the values instead of serialising them.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let defined = 0;
  for (const key in left) {
    if (left[key] === undefined) continue;
    defined++;
    if (!sameJson(left[key], right[key])) return false;
  }
  for (const key in right) if (right[key] !== undefined) defined--;
  return defined === 0;
}
