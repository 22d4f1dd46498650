import { readPauseState } from '../apis/keda/v1alpha1/annotations.js';
import { ScaledObjectDefaults, type ScaledObjectSpec } from '../apis/keda/v1alpha1/scaledobject.js';
import { isResourceTrigger } from '../apis/keda/v1alpha1/triggers.js';
import { CompositeMetricName } from './formula.js';
import type { Condition, ScalingEvent } from './types.js';

/*
 * KEDA's ScaledObject executor as pure functions. The HPA owns replicas between max(min,1) and max; this code
 * decides only the transitions the HPA cannot make (to and from zero or the idle count), from observed state
 * and the time it is given.
 */

/** One external metric read by the scale loop, after fallback was applied to it. */
export interface TriggerReading {
  metricName: string;
  active: boolean;
  /** Set when the read failed and no fallback value replaced it. */
  error?: string;
  /** A fallback value was served in place of an error; the trigger then counts as active. */
  fallbackApplied?: boolean;
}

export interface Activity {
  isActive: boolean;
  isError: boolean;
  /** Names of the metrics that made the object active, for the activation event. */
  activeMetrics: string[];
}

export interface ActivityInput {
  /** `spec.triggers[*].type`, to recognise objects scaled only on cpu/memory. */
  triggerTypes: readonly string[];
  readings: readonly TriggerReading[];
  /**
   * With scalingModifiers, activity is the composite value against the activation target instead; a formula
   * that fails on this poll's values (error) counts as a failing trigger, so nothing is scaled down on it.
   */
  composite?: { value: number | undefined; activationTarget: number; error?: string };
}

/** KEDA's isActive / isError for one poll (scale_handler's checkScalers). */
export function evaluateActivity(input: ActivityInput): Activity {
  const isError = input.readings.some((r) => r.error !== undefined) || input.composite?.error !== undefined;
  const healthy = input.readings.filter((r) => r.error === undefined);
  let activeMetrics = healthy.filter((r) => r.active || r.fallbackApplied).map((r) => r.metricName);
  let isActive = activeMetrics.length > 0;
  if (input.composite) {
    isActive = !isError && input.composite.value !== undefined && input.composite.value > input.composite.activationTarget;
    activeMetrics = isActive ? [CompositeMetricName] : [];
  }
  // cpu/memory never report activity; an object scaled only on them is always active.
  if (!isError && input.triggerTypes.length > 0 && input.triggerTypes.every(isResourceTrigger)) isActive = true;
  return { isActive, isError, activeMetrics };
}

export interface ScaleTargetIdentity {
  kind: string;
  namespace: string;
  name: string;
}

export interface ScaleDecisionInput {
  spec: Pick<ScaledObjectSpec, 'minReplicaCount' | 'idleReplicaCount' | 'cooldownPeriod' | 'initialCooldownPeriod' | 'fallback'>;
  annotations?: Readonly<Record<string, string>>;
  target: ScaleTargetIdentity;
  currentReplicas: number;
  activity: Activity;
  /** Epoch milliseconds of status.lastActiveTime, if any. */
  lastActiveTime?: number;
  /** Epoch milliseconds of metadata.creationTimestamp. */
  creationTime: number;
  /** Epoch milliseconds, from the injected clock. */
  now: number;
  /** Replicas to activate to from zero or idle (see activation.ts); KEDA's max(min, 1) when not given. */
  activationReplicas?: number;
}

export type ScaleAction = 'paused' | 'activate' | 'deactivate' | 'cooldown' | 'enforce-min' | 'fallback-hold' | 'error-hold' | 'none';

export interface ScaleDecision {
  action: ScaleAction;
  /** Replicas to write to the target's /scale; undefined leaves the count to the HPA. */
  replicas?: number;
  /** status.lastActiveTime to store (the input value when it was not refreshed). */
  lastActiveTime?: number;
  /** Conditions to set; types not listed are left as they are. */
  conditions: Condition[];
  events: ScalingEvent[];
}

export const ScaledObjectConditions = {
  ready: { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' },
  partialTriggerError: {
    type: 'Ready',
    status: 'Unknown',
    reason: 'PartialTriggerError',
    message: 'Some triggers defined in ScaledObject are not working correctly',
  },
  triggerError: { type: 'Ready', status: 'False', reason: 'TriggerError', message: 'Triggers defined in ScaledObject are not working correctly' },
  active: { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active' },
  forcedActive: { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because activation is being forced by annotation' },
  notActive: { type: 'Active', status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed because triggers are not active' },
  cooldown: { type: 'Active', status: 'False', reason: 'ScalerCooldown', message: 'Scaler cooling down because triggers are not active' },
  paused: { type: 'Paused', status: 'True', reason: 'ScaledObjectPaused', message: 'ScaledObject is paused' },
  unpaused: { type: 'Paused', status: 'False', reason: 'ScaledObjectUnpaused', message: 'pause annotation removed for ScaledObject' },
} as const satisfies Record<string, Condition>;

const targetLabel = (t: ScaleTargetIdentity) => `${t.kind} ${t.namespace}/${t.name}`;

/** KEDA's RequestScale: what to do with the target after one poll. */
export function decideScale(input: ScaleDecisionInput): ScaleDecision {
  const pause = readPauseState(input.annotations);
  if (pause.paused) {
    const hold = pause.pausedReplicas;
    return {
      action: 'paused',
      ...(hold !== undefined && hold !== input.currentReplicas ? { replicas: hold } : {}),
      ...keepLastActive(input),
      conditions: [{ ...ScaledObjectConditions.paused }],
      events: [],
    };
  }
  return input.activity.isActive || pause.forceActivation
    ? decideActive(input, pause.pausedScaleOut, !input.activity.isActive)
    : decideInactive(input, pause.pausedScaleIn);
}

function keepLastActive(input: ScaleDecisionInput): Pick<ScaleDecision, 'lastActiveTime'> {
  return input.lastActiveTime !== undefined ? { lastActiveTime: input.lastActiveTime } : {};
}

function readyCondition(isError: boolean): Condition {
  return { ...(isError ? ScaledObjectConditions.partialTriggerError : ScaledObjectConditions.ready) };
}

function decideActive(input: ScaleDecisionInput, scaleOutPaused: boolean, forced: boolean): ScaleDecision {
  const { spec, currentReplicas: current, activity } = input;
  const min = spec.minReplicaCount ?? ScaledObjectDefaults.minReplicaCount;
  const active = { ...(forced ? ScaledObjectConditions.forcedActive : ScaledObjectConditions.active) };
  const conditions = [active, readyCondition(activity.isError)];
  const fromIdleOrZero = (spec.idleReplicaCount !== undefined && current < min) || current === 0;
  if (fromIdleOrZero) {
    if (scaleOutPaused) return { action: 'none', lastActiveTime: input.now, conditions, events: [] };
    const replicas = Math.max(min, 1, input.activationReplicas ?? 0);
    const triggeredBy = forced ? 'force-activation annotation' : activity.activeMetrics.join(';');
    return {
      action: 'activate',
      replicas,
      lastActiveTime: input.now,
      conditions,
      events: [
        {
          type: 'Normal',
          reason: 'KEDAScaleTargetActivated',
          message: `Scaled ${targetLabel(input.target)} from ${current} to ${replicas}, triggered by ${triggeredBy}`,
        },
      ],
    };
  }
  // A partial failure must not keep the object alive forever, so only a clean poll refreshes lastActiveTime.
  if (activity.isError) return { action: 'none', ...keepLastActive(input), conditions, events: [] };
  return { action: 'none', lastActiveTime: input.now, conditions, events: [] };
}

function decideInactive(input: ScaleDecisionInput, scaleInPaused: boolean): ScaleDecision {
  const { spec, currentReplicas: current, activity } = input;
  const min = spec.minReplicaCount ?? ScaledObjectDefaults.minReplicaCount;
  const idle = spec.idleReplicaCount;
  const notActive = { ...ScaledObjectConditions.notActive };
  const unchanged = keepLastActive(input);
  if (activity.isError && spec.fallback && spec.fallback.replicas !== 0) {
    // The HPA receives the fallback value; scaling to zero here would take it out of the HPA's hands.
    return { action: 'fallback-hold', ...unchanged, conditions: [notActive], events: [] };
  }
  if (activity.isError && !spec.fallback) {
    return { action: 'error-hold', ...unchanged, conditions: [notActive, { ...ScaledObjectConditions.triggerError }], events: [] };
  }
  const ready = { ...ScaledObjectConditions.ready };
  if ((idle !== undefined && current > idle) || (current > 0 && min === 0)) {
    if (scaleInPaused) return { action: 'none', ...unchanged, conditions: [notActive, ready], events: [] };
    if (!cooldownElapsed(input)) return { action: 'cooldown', ...unchanged, conditions: [{ ...ScaledObjectConditions.cooldown }, ready], events: [] };
    const replicas = idle ?? min;
    return {
      action: 'deactivate',
      replicas,
      ...unchanged,
      conditions: [notActive, ready],
      events: [{ type: 'Normal', reason: 'KEDAScaleTargetDeactivated', message: `Deactivated ${targetLabel(input.target)} from ${current} to ${replicas}` }],
    };
  }
  if (idle === undefined && current < min) return { action: 'enforce-min', replicas: min, ...unchanged, conditions: [notActive, ready], events: [] };
  return { action: 'none', ...unchanged, conditions: [notActive, ready], events: [] };
}

/** Cooldown runs from the last active poll; an object never active waits initialCooldownPeriod from creation. */
export function cooldownElapsed(input: Pick<ScaleDecisionInput, 'spec' | 'lastActiveTime' | 'creationTime' | 'now'>): boolean {
  if (input.lastActiveTime === undefined) {
    const initial = input.spec.initialCooldownPeriod ?? ScaledObjectDefaults.initialCooldownPeriod;
    return input.creationTime + initial * 1000 < input.now;
  }
  const cooldown = input.spec.cooldownPeriod ?? ScaledObjectDefaults.cooldownPeriod;
  return input.lastActiveTime + cooldown * 1000 < input.now;
}
