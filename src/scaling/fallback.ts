import type { MetricSpec } from '../../scalers/scaler.js';
import { usesScalingModifiers, type Fallback, type ScaledObjectSpec } from '../apis/keda/v1alpha1/scaledobject.js';
import type { Condition, ScalingEvent } from './types.js';

/*
 * KEDA's fallback: once a metric has failed more than `failureThreshold` times in a row, a synthetic value that
 * makes the HPA settle on the fallback replica count is served instead of the error. Failures are counted on
 * every fetch (scale loop and metrics API alike), and the count lives in status.health.
 */

export interface MetricHealth {
  numberOfFailures: number;
  status: 'Happy' | 'Failing';
}

/** A fetch either produced a value or failed with an error message. */
export type MetricOutcome = { value: number } | { error: string };

export interface FallbackResult {
  /** What to serve: a value (real or synthetic) or the error. */
  outcome: MetricOutcome;
  fallbackApplied: boolean;
  /** The health entry to store for this metric; undefined when fallback is not in use (KEDA writes none then). */
  health?: MetricHealth;
}

export interface FallbackInput {
  spec: Pick<ScaledObjectSpec, 'fallback' | 'advanced'>;
  metric: MetricSpec;
  previous: MetricHealth | undefined;
  outcome: MetricOutcome;
  currentReplicas: number;
  /** Running and Ready pods of the target; needed only for Value targets. */
  readyReplicas?: number;
}

export const FallbackConditions = {
  active: { type: 'Fallback', status: 'True', reason: 'FallbackExists', message: 'At least one trigger is falling back on this scaled object' },
  inactive: { type: 'Fallback', status: 'False', reason: 'NoFallbackFound', message: 'No fallbacks are active on this scaled object' },
} as const satisfies Record<string, Condition>;

/**
 * Whether fallback covers this metric: a fallback is configured, the metric is External with an AverageValue
 * or Value target, and, with scalingModifiers, the modifier target parses as a positive integer (a KEDA quirk:
 * a fractional target silently disables fallback).
 */
export function isFallbackEnabled(spec: FallbackInput['spec'], metric: MetricSpec): boolean {
  const fallback = spec.fallback;
  if (!fallback || fallback.failureThreshold < 0 || fallback.replicas < 0) return false;
  if (metric.kind !== 'External' || metric.targetType === 'Utilization') return false;
  const modifiers = spec.advanced?.scalingModifiers;
  if (usesScalingModifiers(modifiers)) {
    const target = modifiers.target?.trim() ?? '';
    return /^[+-]?\d+$/.test(target) && Number(target) > 0;
  }
  return true;
}

export function nextMetricHealth(previous: MetricHealth | undefined, succeeded: boolean): MetricHealth {
  if (succeeded) return { numberOfFailures: 0, status: 'Happy' };
  return { numberOfFailures: (previous?.numberOfFailures ?? 0) + 1, status: 'Failing' };
}

/** The replica count fallback aims for, per `fallback.behavior` (default static). */
export function fallbackReplicas(fallback: Fallback, currentReplicas: number): number {
  const behavior = fallback.behavior ?? 'static';
  switch (behavior) {
    case 'static':
    case 'scalingModifiers':
      return fallback.replicas;
    case 'currentReplicas':
      return currentReplicas;
    case 'currentReplicasIfHigher':
      return Math.max(currentReplicas, fallback.replicas);
    case 'currentReplicasIfLower':
      return Math.min(currentReplicas, fallback.replicas);
  }
}

/**
 * The value that makes the HPA compute `replicas`: for AverageValue, target × replicas (the HPA divides by
 * the target); for Value, target × replicas / readyReplicas (the HPA multiplies by the current count).
 */
export function fallbackMetricValue(input: { targetType: 'AverageValue' | 'Value'; target: number; replicas: number; readyReplicas?: number }): MetricOutcome {
  if (input.targetType === 'AverageValue') return { value: input.target * input.replicas };
  const ready = input.readyReplicas ?? 0;
  if (ready <= 0) return { error: 'fallback for a Value metric needs at least one ready replica of the scale target' };
  return { value: (input.target * input.replicas) / ready };
}

/** One metric fetch through KEDA's fallback rules: counts the failure and substitutes a value past the threshold. */
export function applyFallback(input: FallbackInput): FallbackResult {
  const { spec, metric, previous, outcome } = input;
  if (!spec.fallback || !isFallbackEnabled(spec, metric) || metric.kind !== 'External' || metric.targetType === 'Utilization') {
    return { outcome, fallbackApplied: false };
  }
  const health = nextMetricHealth(previous, 'value' in outcome);
  if ('value' in outcome || health.numberOfFailures <= spec.fallback.failureThreshold) return { outcome, fallbackApplied: false, health };
  const replicas = fallbackReplicas(spec.fallback, input.currentReplicas);
  const synthetic = fallbackMetricValue({
    ...fallbackTarget(spec, { targetType: metric.targetType, target: metric.target }),
    replicas,
    ...(input.readyReplicas !== undefined ? { readyReplicas: input.readyReplicas } : {}),
  });
  return { outcome: synthetic, fallbackApplied: 'value' in synthetic, health };
}

/** The target the synthetic value is scaled by: the metric's own, or with scalingModifiers the composite's (what the HPA divides by). */
function fallbackTarget(
  spec: FallbackInput['spec'],
  metric: { targetType: 'AverageValue' | 'Value'; target: number },
): { targetType: 'AverageValue' | 'Value'; target: number } {
  const modifiers = spec.advanced?.scalingModifiers;
  if (!usesScalingModifiers(modifiers)) return { targetType: metric.targetType, target: metric.target };
  return { targetType: modifiers.metricType ?? 'AverageValue', target: Number(modifiers.target) };
}

/** Fallback=True while any metric is failing beyond the threshold. */
export function fallbackCondition(health: Readonly<Record<string, MetricHealth>>, failureThreshold: number): Condition {
  const falling = Object.values(health).some((h) => h.status === 'Failing' && h.numberOfFailures > failureThreshold);
  return { ...(falling ? FallbackConditions.active : FallbackConditions.inactive) };
}

/** The event KEDA records when the Fallback condition flips; none when it keeps its status. */
export function fallbackTransitionEvent(previousStatus: string | undefined, next: Condition): ScalingEvent | undefined {
  if (previousStatus === next.status) return undefined;
  if (next.status === 'True')
    return { type: 'Normal', reason: 'ScaledObjectFallbackActivated', message: 'Fallback activated: at least one trigger is failing beyond its threshold' };
  if (previousStatus === 'True')
    return { type: 'Normal', reason: 'ScaledObjectFallbackDeactivated', message: 'Fallback deactivated: all triggers are reporting again' };
  return undefined;
}
