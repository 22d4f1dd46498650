import { ScaledJobDefaults, type MultipleScalersCalculation, type ScaledJobSpec } from '../apis/keda/v1alpha1/scaledjob.js';
import { isGoFloat } from '../apis/keda/v1alpha1/validation.js';
import type { Condition, ScalingEvent } from './types.js';

/*
 * ScaledJob arithmetic (no HPA involved): how many Jobs to start on one poll, from each trigger's queue length,
 * the Jobs already running or pending, and the scaling strategy.
 */

/** One trigger's contribution on a poll. */
export interface TriggerQueue {
  /** Sum of the trigger's metric values (the "queue length"). */
  queueLength: number;
  /** Mean AverageValue target of the trigger's metric specs (0 when none has one). */
  targetAverageValue: number;
  active: boolean;
}

/**
 * KEDA's ScaledJob MaxReplicaCount(): 100 when unset; `max - min` when both are set (the min Jobs are created
 * separately), except that a min above max leaves max as it is.
 */
export function scaledJobMaxReplicaCount(spec: Pick<ScaledJobSpec, 'minReplicaCount' | 'maxReplicaCount'>): number {
  const max = spec.maxReplicaCount ?? ScaledJobDefaults.maxReplicaCount;
  if (spec.minReplicaCount === undefined || spec.maxReplicaCount === undefined) return max;
  return spec.minReplicaCount > max ? max : max - spec.minReplicaCount;
}

/** Mean of the AverageValue targets; specs without one count as 0, as in KEDA. */
export function targetAverageValue(targets: readonly (number | undefined)[]): number {
  if (targets.length === 0) return 0;
  return targets.reduce<number>((sum, t) => sum + (t ?? 0), 0) / targets.length;
}

interface TriggerScale {
  queueLength: number;
  maxValue: number;
  active: boolean;
}

function triggerScale(trigger: TriggerQueue, maxReplicaCount: number): TriggerScale {
  const maxValue = trigger.targetAverageValue !== 0 ? Math.min(maxReplicaCount, trigger.queueLength / trigger.targetAverageValue) : 0;
  return { queueLength: trigger.queueLength, maxValue, active: trigger.active };
}

export interface CombinedQueue {
  isActive: boolean;
  /** ceil of the combined queue length: how many Jobs the queue asks for. */
  scaleTo: number;
  /** ceil of the combined per-target demand, capped at MaxReplicaCount(). */
  maxScale: number;
}

/**
 * Combines triggers per `multipleScalersCalculation`. Only active triggers count. For max and min the trigger is
 * chosen by queue length and brings its own maxValue along; an active trigger with an empty queue never wins
 * `max`, so it does not make the object active either (KEDA behaves the same way).
 */
export function combineTriggerQueues(
  triggers: readonly TriggerQueue[],
  options: { calculation?: MultipleScalersCalculation; minReplicaCount?: number; maxReplicaCount: number },
): CombinedQueue {
  const scales = triggers.map((t) => triggerScale(t, options.maxReplicaCount)).filter((s) => s.active);
  let queueLength = 0;
  let maxValue = 0;
  let isActive = false;
  switch (options.calculation ?? ScaledJobDefaults.multipleScalersCalculation) {
    case 'min':
      for (const s of scales) {
        if (queueLength === 0 || s.queueLength < queueLength) ({ queueLength, maxValue, active: isActive } = s);
      }
      break;
    case 'avg':
      if (scales.length > 0) {
        queueLength = scales.reduce((sum, s) => sum + s.queueLength, 0) / scales.length;
        maxValue = scales.reduce((sum, s) => sum + s.maxValue, 0) / scales.length;
        isActive = true;
      }
      break;
    case 'sum':
      for (const s of scales) {
        queueLength += s.queueLength;
        maxValue += s.maxValue;
        isActive = true;
      }
      break;
    case 'max':
      for (const s of scales) {
        if (s.queueLength > queueLength) ({ queueLength, maxValue, active: isActive } = s);
      }
      break;
  }
  if ((options.minReplicaCount ?? 0) > 0) isActive = true;
  return { isActive, scaleTo: Math.ceil(queueLength), maxScale: Math.ceil(Math.min(maxValue, options.maxReplicaCount)) };
}

export interface JobCountInput {
  spec: Pick<ScaledJobSpec, 'minReplicaCount' | 'maxReplicaCount' | 'scalingStrategy'>;
  combined: CombinedQueue;
  /** Jobs of this ScaledJob without a Complete or Failed condition. */
  runningJobs: number;
  /** Running Jobs none of whose pods is Running/Succeeded (or meets pendingPodConditions). */
  pendingJobs: number;
}

/** The strategy that applies: "custom" needs a parsable running-job percentage, else KEDA uses "default". */
export function effectiveStrategy(spec: JobCountInput['spec']): 'default' | 'custom' | 'accurate' | 'eager' {
  const strategy = spec.scalingStrategy?.strategy ?? ScaledJobDefaults.scalingStrategy;
  if (strategy !== 'custom') return strategy;
  const pct = spec.scalingStrategy?.customScalingRunningJobPercentage;
  return pct !== undefined && isGoFloat(pct) ? 'custom' : 'default';
}

/** KEDA's GetEffectiveMaxScale per strategy; `running` excludes the minReplicaCount Jobs. */
export function strategyLimit(input: {
  strategy: ReturnType<typeof effectiveStrategy>;
  spec: JobCountInput['spec'];
  maxScale: number;
  running: number;
  pending: number;
  maxReplicaCount: number;
  scaleTo: number;
}): { effectiveMaxScale: number; scaleTo: number } {
  const { maxScale, running, pending, maxReplicaCount, scaleTo } = input;
  switch (input.strategy) {
    case 'default':
      return { effectiveMaxScale: maxScale - running, scaleTo };
    case 'custom': {
      const deduction = input.spec.scalingStrategy?.customScalingQueueLengthDeduction ?? 0;
      const pct = Number(input.spec.scalingStrategy?.customScalingRunningJobPercentage);
      return { effectiveMaxScale: Math.min(maxScale - deduction - Math.trunc(running * pct), maxReplicaCount), scaleTo };
    }
    case 'accurate':
      return { effectiveMaxScale: maxScale + running > maxReplicaCount ? maxReplicaCount - running : maxScale - pending, scaleTo };
    case 'eager':
      return { effectiveMaxScale: Math.min(maxReplicaCount - running - pending, maxScale), scaleTo: maxReplicaCount };
  }
}

/** How many Jobs to create on this poll (0 when inactive or when enough already run). */
export function jobsToCreate(input: JobCountInput): number {
  const min = input.spec.minReplicaCount ?? ScaledJobDefaults.minReplicaCount;
  let effectiveMaxScale: number;
  let scaleTo = input.combined.scaleTo;
  if (input.runningJobs < min) {
    effectiveMaxScale = scaleTo = min - input.runningJobs;
  } else {
    ({ effectiveMaxScale, scaleTo } = strategyLimit({
      strategy: effectiveStrategy(input.spec),
      spec: input.spec,
      maxScale: input.combined.maxScale,
      running: input.runningJobs - min,
      pending: input.pendingJobs,
      maxReplicaCount: scaledJobMaxReplicaCount(input.spec),
      scaleTo,
    }));
  }
  if (!input.combined.isActive || effectiveMaxScale <= 0) return 0;
  return Math.max(0, Math.min(scaleTo, effectiveMaxScale));
}

export const ScaledJobConditions = {
  ready: { type: 'Ready', status: 'True', reason: 'ScaledJobReady', message: 'ScaledJob is defined correctly and is ready for scaling' },
  partialTriggerError: {
    type: 'Ready',
    status: 'Unknown',
    reason: 'PartialTriggerError',
    message: 'Some triggers defined in ScaledJob are not working correctly',
  },
  triggerError: { type: 'Ready', status: 'False', reason: 'TriggerError', message: 'Triggers defined in ScaledJob are not working correctly' },
  active: { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active' },
  notActive: { type: 'Active', status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed because triggers are not active' },
} as const satisfies Record<string, Condition>;

export interface ScaledJobDecision {
  jobsToCreate: number;
  /** Epoch ms to store as status.lastActiveTime (refreshed on every active poll). */
  lastActiveTime?: number;
  conditions: Condition[];
  events: ScalingEvent[];
}

/** One ScaledJob poll: Jobs to create, conditions and the events KEDA emits when Active flips. */
export function decideScaledJob(
  input: JobCountInput & { isError: boolean; previousActiveStatus?: string; lastActiveTime?: number; now: number },
): ScaledJobDecision {
  const count = jobsToCreate(input);
  const active = input.combined.isActive;
  const ready = input.isError ? (active ? ScaledJobConditions.partialTriggerError : ScaledJobConditions.triggerError) : ScaledJobConditions.ready;
  const activeCondition = active ? ScaledJobConditions.active : ScaledJobConditions.notActive;
  const events: ScalingEvent[] = [];
  if (input.previousActiveStatus !== activeCondition.status) {
    events.push({ type: 'Normal', reason: active ? 'ScaledJobActive' : 'ScaledJobInactive', message: activeCondition.message });
  }
  if (count > 0) events.push({ type: 'Normal', reason: 'KEDAJobsCreated', message: `Created ${count} jobs` });
  const lastActiveTime = active ? input.now : input.lastActiveTime;
  return { jobsToCreate: count, ...(lastActiveTime !== undefined ? { lastActiveTime } : {}), conditions: [{ ...ready }, { ...activeCondition }], events };
}
