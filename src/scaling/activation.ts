import { ScaledObjectDefaults, type HpaBehavior } from '../apis/keda/v1alpha1/scaledobject.js';

/*
 * How many replicas a ScaledObject activates to from zero (or from its idle count). KEDA writes max(min, 1)
 * and leaves the rest to the HPA, whose default scale-up adds at most 4 pods or 100% per 15 s: a queue that
 * fills at once waits a minute or more to reach the count its backlog needs. With the annotation below set to
 * `demand`, swell writes that count at once, computed from the metrics the poll just read the way the HPA
 * would compute it, so the HPA finds the target already where it would have taken it. KEDA's count stays the
 * default: users apply KEDA manifests unchanged and may rely, knowingly or not, on the HPA's gentle first ramp
 * (connection limits downstream, node provisioning), which a jump straight to 100 pods would not keep.
 */

/** `demand`: activate to what the metrics ask for; `min` (the default): to max(minReplicaCount, 1) as KEDA does. */
export const ActivationAnnotation = 'scaledobject.swell.dev/activation-replicas';

type ActivationMode = 'demand' | 'min';

/** One metric as the HPA sees it: its target and the value this poll read (after fallback), if any. */
export interface ActivationMetric {
  targetType: 'AverageValue' | 'Value' | 'Utilization';
  target: number;
  value?: number;
}

export interface ActivationInput {
  minReplicaCount?: number;
  maxReplicaCount?: number;
  /** `advanced.horizontalPodAutoscalerConfig.behavior`: a scale-up rule the user wrote bounds the first step too. */
  behavior?: HpaBehavior;
  annotations?: Readonly<Record<string, string>>;
  metrics: readonly ActivationMetric[];
}

export interface ActivationCount {
  replicas: number;
  /** What decided the count, for the log line and the activation event. */
  basis: 'minimum' | 'demand' | 'maxReplicaCount' | 'scaleUp policy';
  /** The annotation held a value swell does not know; KEDA's count was used. */
  problem?: string;
}

/** The HPA's defaults for a scale-up rule that names no policies: 4 pods or 100% per 15 s, the larger. */
const DefaultScaleUpPolicies = [
  { type: 'Pods', value: 4, periodSeconds: 15 },
  { type: 'Percent', value: 100, periodSeconds: 15 },
] as const;

function activationMode(annotations: Readonly<Record<string, string>> | undefined): { mode: ActivationMode; problem?: string } {
  const raw = annotations?.[ActivationAnnotation];
  if (raw === undefined || raw === 'min') return { mode: 'min' };
  if (raw === 'demand') return { mode: 'demand' };
  return { mode: 'min', problem: `annotation ${ActivationAnnotation}: "${raw}" is neither "demand" nor "min"; activating to the minimum` };
}

/**
 * The replicas to write when activating: KEDA's max(min, 1) unless the object asks for `demand`. Then never
 * below that nor above maxReplicaCount. From zero
 * the HPA has no current count to scale a `Value` target or a utilization by, so those metrics ask for the
 * minimum; an `AverageValue` metric asks for ceil(value / target), and the largest request wins, as in the HPA.
 * If the user wrote a scale-up rule, the count is further held to what that rule lets the HPA add in one
 * period starting from KEDA's count (`Disabled` keeps KEDA's count).
 */
export function activationReplicas(input: ActivationInput): ActivationCount {
  const base = Math.max(input.minReplicaCount ?? ScaledObjectDefaults.minReplicaCount, 1);
  const max = Math.max(input.maxReplicaCount ?? ScaledObjectDefaults.maxReplicaCount, base);
  const { mode, problem } = activationMode(input.annotations);
  const withProblem = problem ? { problem } : {};
  if (mode === 'min') return { replicas: base, basis: 'minimum', ...withProblem };
  const demand = Math.max(base, ...input.metrics.map(demandOf));
  if (demand <= base || max <= base) return { replicas: base, basis: 'minimum' };
  const limit = scaleUpLimit(input.behavior?.scaleUp, base);
  if (limit !== undefined && limit < Math.min(demand, max)) return { replicas: Math.max(base, limit), basis: 'scaleUp policy' };
  return demand > max ? { replicas: max, basis: 'maxReplicaCount' } : { replicas: demand, basis: 'demand' };
}

function demandOf(metric: ActivationMetric): number {
  if (metric.targetType !== 'AverageValue' || metric.value === undefined) return 0;
  if (!(metric.target > 0) || !Number.isFinite(metric.value) || metric.value <= 0) return 0;
  // The HPA's own arithmetic, with its milli-precision: 1000 / 10 is 100, not 100.00000001.
  return Math.ceil(Math.round((metric.value / metric.target) * 1_000) / 1_000);
}

/** How far the HPA may scale up from `from` in one period under `rules`; undefined when no rule was written. */
function scaleUpLimit(rules: HpaBehavior['scaleUp'], from: number): number | undefined {
  if (!rules) return undefined;
  if (rules.selectPolicy === 'Disabled') return from;
  const policies = rules.policies?.length ? rules.policies : DefaultScaleUpPolicies;
  const limits = policies.map((p) => (p.type === 'Pods' ? from + p.value : Math.ceil(from * (1 + p.value / 100))));
  return rules.selectPolicy === 'Min' ? Math.min(...limits) : Math.max(...limits);
}
