import type { HpaBehavior } from '../apis/keda/v1alpha1/scaledobject.js';

/*
 * The Kubernetes HPA controller's arithmetic for one HPA, as the simulator runs it every sync period: the
 * replica proposal of an external metric (with the tolerance), the stabilization windows, and the `behavior`
 * rate limits, with Kubernetes' defaults where the ScaledObject's `behavior` leaves a field out. Learnt from
 * the HPA documentation; state (recommendations, scale events) is passed in and returned, never kept here.
 */

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: readonly ScalingPolicy[];
  tolerance: number;
}

export interface HpaRules {
  minReplicas: number;
  maxReplicas: number;
  scaleUp: ScalingRules;
  scaleDown: ScalingRules;
}

/** Controller-manager flags that give the defaults (`--horizontal-pod-autoscaler-*`). */
export interface HpaControllerSettings {
  /** `--horizontal-pod-autoscaler-tolerance`, 0.1. */
  tolerance: number;
  /** `--horizontal-pod-autoscaler-downscale-stabilization`, 300 s. */
  downscaleStabilizationSeconds: number;
}

export const defaultHpaControllerSettings: HpaControllerSettings = { tolerance: 0.1, downscaleStabilizationSeconds: 300 };

/** Kubernetes' default scale-up: no window, the larger of +4 pods or +100% per 15 s. */
const defaultScaleUpPolicies: readonly ScalingPolicy[] = [
  { type: 'Pods', value: 4, periodSeconds: 15 },
  { type: 'Percent', value: 100, periodSeconds: 15 },
];
/** Kubernetes' default scale-down: everything may go at once, after the stabilization window. */
const defaultScaleDownPolicies: readonly ScalingPolicy[] = [{ type: 'Percent', value: 100, periodSeconds: 15 }];

/** The rules an HPA with this `behavior` runs under, each missing field taking the Kubernetes default. */
export function resolveHpaRules(
  bounds: { minReplicas: number; maxReplicas: number },
  behavior: HpaBehavior | undefined,
  settings: HpaControllerSettings = defaultHpaControllerSettings,
): HpaRules {
  const rules = (given: HpaBehavior['scaleUp'], window: number, policies: readonly ScalingPolicy[]): ScalingRules => ({
    stabilizationWindowSeconds: given?.stabilizationWindowSeconds ?? window,
    selectPolicy: given?.selectPolicy ?? 'Max',
    policies: given?.policies && given.policies.length > 0 ? given.policies.map((p) => ({ ...p })) : policies,
    tolerance: given?.tolerance !== undefined ? Number(given.tolerance) : settings.tolerance,
  });
  return {
    ...bounds,
    scaleUp: rules(behavior?.scaleUp, 0, defaultScaleUpPolicies),
    scaleDown: rules(behavior?.scaleDown, settings.downscaleStabilizationSeconds, defaultScaleDownPolicies),
  };
}

export interface ExternalMetricObservation {
  targetType: 'AverageValue' | 'Value';
  target: number;
  value: number;
}

/**
 * The replica count one external metric asks for. AverageValue: the value over the target, unless the value per
 * current pod is within the tolerance of the target. Value: the ratio times the ready pods, with the same check.
 */
export function metricProposal(
  metric: ExternalMetricObservation,
  pods: { current: number; ready: number },
  rules: Pick<HpaRules, 'scaleUp' | 'scaleDown'>,
): number {
  const ratio = metric.targetType === 'AverageValue' ? metric.value / (metric.target * Math.max(1, pods.current)) : metric.value / metric.target;
  if (ratio >= 1 - rules.scaleDown.tolerance && ratio <= 1 + rules.scaleUp.tolerance) return pods.current;
  return metric.targetType === 'AverageValue' ? Math.ceil(metric.value / metric.target - 1e-9) : Math.ceil(ratio * pods.ready - 1e-9);
}

/**
 * The HPA over several metrics: the largest proposal. When some metrics fail it still scales up on the others
 * but never down, and with none readable it leaves the count alone.
 */
export function combinedProposal(
  metrics: readonly ({ observation: ExternalMetricObservation } | { error: string })[],
  pods: { current: number; ready: number },
  rules: Pick<HpaRules, 'scaleUp' | 'scaleDown'>,
  currentReplicas: number,
): number {
  const proposals = metrics.flatMap((m) => ('observation' in m ? [metricProposal(m.observation, pods, rules)] : []));
  if (proposals.length === 0) return currentReplicas;
  const largest = Math.max(...proposals);
  return proposals.length < metrics.length ? Math.max(largest, currentReplicas) : largest;
}

export interface Recommendation {
  atMs: number;
  replicas: number;
}

export interface ScaleEvent {
  atMs: number;
  /** Replicas added (positive) or removed (negative) by this HPA. */
  change: number;
}

export interface HpaMemory {
  recommendations: readonly Recommendation[];
  events: readonly ScaleEvent[];
}

export const emptyHpaMemory: HpaMemory = { recommendations: [], events: [] };

export interface HpaSyncInput {
  rules: HpaRules;
  memory: HpaMemory;
  /** The target's spec.replicas. */
  currentReplicas: number;
  /** The metrics' proposal (the largest over all metrics). */
  proposal: number;
  nowMs: number;
}

export interface HpaSyncResult {
  replicas: number;
  memory: HpaMemory;
}

/** One HPA sync: bounds, stabilization, rate limits; scaling is off while the target sits at zero. */
export function hpaSync(input: HpaSyncInput): HpaSyncResult {
  const { rules, currentReplicas: current, nowMs } = input;
  if (current === 0 && rules.minReplicas !== 0) return { replicas: 0, memory: input.memory };
  let desired: number;
  let recommendations = input.memory.recommendations;
  if (current > rules.maxReplicas) desired = rules.maxReplicas;
  else if (current < rules.minReplicas) desired = rules.minReplicas;
  else {
    const stabilized = stabilize(input);
    recommendations = stabilized.recommendations;
    desired = limitRate(rules, input.memory.events, current, stabilized.replicas, nowMs);
  }
  const longestPeriod = Math.max(0, ...[...rules.scaleUp.policies, ...rules.scaleDown.policies].map((p) => p.periodSeconds)) * 1000;
  const events = input.memory.events.filter((e) => e.atMs > nowMs - longestPeriod);
  if (desired !== current) events.push({ atMs: nowMs, change: desired - current });
  return { replicas: desired, memory: { recommendations, events } };
}

function stabilize(input: HpaSyncInput): { replicas: number; recommendations: Recommendation[] } {
  const { rules, nowMs, proposal, currentReplicas } = input;
  const upCutoff = nowMs - rules.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = nowMs - rules.scaleDown.stabilizationWindowSeconds * 1000;
  let up = proposal;
  let down = proposal;
  for (const r of input.memory.recommendations) {
    if (r.atMs > upCutoff) up = Math.min(up, r.replicas);
    if (r.atMs > downCutoff) down = Math.max(down, r.replicas);
  }
  let replicas = currentReplicas;
  if (replicas < up) replicas = up;
  if (replicas > down) replicas = down;
  const keepFrom = Math.min(upCutoff, downCutoff);
  const recommendations = [...input.memory.recommendations.filter((r) => r.atMs > keepFrom), { atMs: nowMs, replicas: proposal }];
  return { replicas, recommendations };
}

function changeWithin(events: readonly ScaleEvent[], periodSeconds: number, nowMs: number, sign: 1 | -1): number {
  let sum = 0;
  for (const e of events) if (e.atMs > nowMs - periodSeconds * 1000 && Math.sign(e.change) === sign) sum += Math.abs(e.change);
  return sum;
}

function limitRate(rules: HpaRules, events: readonly ScaleEvent[], current: number, desired: number, nowMs: number): number {
  if (desired > current) {
    const limit = Math.max(current, scaleUpLimit(rules.scaleUp, events, current, nowMs));
    return Math.min(desired, limit, rules.maxReplicas);
  }
  if (desired < current) {
    const limit = Math.min(current, scaleDownLimit(rules.scaleDown, events, current, nowMs));
    return Math.max(desired, limit, rules.minReplicas);
  }
  return desired;
}

function periodStart(events: readonly ScaleEvent[], policy: ScalingPolicy, current: number, nowMs: number): number {
  return current - changeWithin(events, policy.periodSeconds, nowMs, 1) + changeWithin(events, policy.periodSeconds, nowMs, -1);
}

function scaleUpLimit(rules: ScalingRules, events: readonly ScaleEvent[], current: number, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const proposals = rules.policies.map((policy) => {
    const start = periodStart(events, policy, current, nowMs);
    return policy.type === 'Pods' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
  });
  return rules.selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals);
}

function scaleDownLimit(rules: ScalingRules, events: readonly ScaleEvent[], current: number, nowMs: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const proposals = rules.policies.map((policy) => {
    const start = periodStart(events, policy, current, nowMs);
    return policy.type === 'Pods' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
  });
  // Max picks the policy allowing the biggest change, which for scale-down is the lowest count.
  return rules.selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals);
}
