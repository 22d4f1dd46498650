import { stringify } from 'yaml';
import type { PlacementPolicy } from '../burst/placement.js';
import { BurstPolicyDefaults, SwellApiVersion } from '../apis/swell/v1alpha1/burstpolicy.js';
import { parseDurationMs } from '../apis/swell/v1alpha1/validation.js';
import type { Strategy, StrategyResult } from './engine.js';
import type { SimWorkload } from './workload.js';

/*
 * The strategies compared on one trace, and the pick among them: nodes only (no BurstPolicy, the autoscaler adds
 * nodes), serverless only (every pod on the virtual node), the manifests as given, and base + burst for each
 * base in the sweep, which keeps the given policy's other fields.
 */

export function buildStrategies(workload: SimWorkload, bases: readonly number[]): Strategy[] {
  const given = workload.burstPolicy?.effective;
  const defaults = {
    pendingTimeoutMs: given?.pendingTimeoutMs ?? parseDurationMs(BurstPolicyDefaults.pendingTimeout) ?? 60_000,
    rebalance: given?.rebalance ?? true,
    rebalanceIntervalMs: given?.rebalanceIntervalMs ?? parseDurationMs(BurstPolicyDefaults.rebalanceInterval) ?? 30_000,
  };
  const withBase = (baseReplicas: number): PlacementPolicy => ({
    ...defaults,
    baseReplicas,
    ...(given?.maxBurstReplicas !== undefined ? { maxBurstReplicas: given.maxBurstReplicas } : {}),
  });
  const strategies: Strategy[] = [
    { name: 'nodes only', kind: 'nodes' },
    { name: 'serverless only', kind: 'serverless', placement: { ...defaults, baseReplicas: 0, rebalance: false } },
  ];
  if (given) {
    const placement: PlacementPolicy = {
      pendingTimeoutMs: given.pendingTimeoutMs,
      rebalance: given.rebalance,
      rebalanceIntervalMs: given.rebalanceIntervalMs,
      ...(given.baseReplicas !== undefined ? { baseReplicas: given.baseReplicas } : {}),
      ...(given.maxBurstReplicas !== undefined ? { maxBurstReplicas: given.maxBurstReplicas } : {}),
    };
    strategies.push({ name: `as given (BurstPolicy ${workload.burstPolicy?.document.metadata.name ?? ''})`, kind: 'given', placement });
  }
  for (const base of [...new Set(bases)].sort((a, b) => a - b)) strategies.push({ name: `base ${base} + burst`, kind: 'base', placement: withBase(base) });
  return strategies;
}

/** The default sweep: 1, 2, 3, 4, 6, 8, 12, 16, ... up to the ScaledObject's maximum. */
export function defaultBaseSweep(maxReplicas: number): number[] {
  const bases: number[] = [];
  for (let power = 1; power <= maxReplicas; power *= 2) {
    bases.push(power);
    const between = Math.round(power * 1.5);
    if (power >= 2 && between <= maxReplicas) bases.push(between);
  }
  return [...new Set(bases)].sort((a, b) => a - b);
}

export interface Recommendation {
  result: StrategyResult;
  /** The BurstPolicy to apply, as YAML. */
  burstPolicyYaml: string;
}

/** Which percentile of the wait the SLO is checked against. */
export type SloPercentile = 50 | 95 | 99;

export function meetsSlo(result: StrategyResult, sloSeconds: number, percentile: SloPercentile): boolean {
  const wait = percentile === 50 ? result.wait.p50 : percentile === 95 ? result.wait.p95 : result.wait.p99;
  return wait <= sloSeconds && result.unserved < 1;
}

/** The cheapest base + burst (or serverless only, a base of 0) whose wait meets the SLO; undefined when none does. */
export function recommend(
  results: readonly StrategyResult[],
  workload: SimWorkload,
  sloSeconds: number,
  percentile: SloPercentile,
): Recommendation | undefined {
  const candidates = results.filter((r) => (r.kind === 'base' || r.kind === 'serverless') && meetsSlo(r, sloSeconds, percentile));
  const best = [...candidates].sort((a, b) => a.cost.total - b.cost.total)[0];
  if (!best) return undefined;
  return { result: best, burstPolicyYaml: burstPolicyYaml(workload, best.baseReplicas ?? 0) };
}

function burstPolicyYaml(workload: SimWorkload, baseReplicas: number): string {
  const given = workload.burstPolicy?.document;
  const target = workload.scaledObject.spec.scaleTargetRef;
  const metadata = {
    name: given?.metadata.name ?? target.name,
    ...(workload.scaledObject.metadata.namespace ? { namespace: workload.scaledObject.metadata.namespace } : {}),
  };
  const spec = given ? { ...given.spec, baseReplicas } : { scaleTargetRef: { name: target.name, ...(target.kind ? { kind: target.kind } : {}) }, baseReplicas };
  return stringify({ apiVersion: SwellApiVersion, kind: 'BurstPolicy', metadata, spec });
}
