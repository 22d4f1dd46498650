import type { ScaledObjectSpec } from '../apis/keda/v1alpha1/scaledobject.js';
import { servableMetricValue } from '../operator/scaledobject/metrics-source.js';
import { applyFallback, type MetricHealth, type MetricOutcome } from '../scaling/fallback.js';
import { evaluateComposite, type ActiveScalingModifiers, type CompositeResult, type FormulaCache } from '../scaling/formula.js';
import { evaluateActivity, type Activity, type TriggerReading } from '../scaling/scaledobject.js';
import type { ExternalMetricObservation } from './hpa-model.js';
import type { SimTrigger } from './workload.js';

/*
 * What swell does with the triggers' reads at one instant, in the order the operator does it, calling the same
 * functions: the scale loop counts failures and applies fallback per metric (applyFallback), combines them with
 * the scalingModifiers formula (evaluateComposite) and judges activity (evaluateActivity); the metrics API serves
 * the HPA the value, the fallback value or the composite, or an error. Only the I/O is left out.
 */

export interface MetricsModel {
  spec: Pick<ScaledObjectSpec, 'fallback' | 'advanced' | 'triggers'>;
  triggers: readonly SimTrigger[];
  modifiers?: ActiveScalingModifiers;
  formulas: FormulaCache;
}

/** Each trigger's read this instant, in trigger order: a value or the source's error. */
export type TriggerOutcomes = readonly MetricOutcome[];

export interface Replicas {
  /** The target's spec.replicas. */
  current: number;
  /** Running and ready pods (fallback for Value targets needs them). */
  ready: number;
}

export interface PollResult {
  activity: Activity;
  /** status.health after this poll; empty when no fallback is configured (KEDA writes none then). */
  health: Record<string, MetricHealth>;
  /** Some metric was served its fallback value. */
  fallbackApplied: boolean;
}

interface Served {
  reading: TriggerReading;
  outcome: MetricOutcome;
  fallbackApplied: boolean;
}

/** One poll of the scale loop: fallback per metric, the composite when scalingModifiers are on, and activity. */
export function pollMetrics(model: MetricsModel, outcomes: TriggerOutcomes, previous: Readonly<Record<string, MetricHealth>>, replicas: Replicas): PollResult {
  const health: Record<string, MetricHealth> = {};
  const served = model.triggers.map((trigger, i): Served => {
    const outcome = outcomes[i] ?? { error: 'no read' };
    const result = applyFallback({
      spec: model.spec,
      metric: metricSpec(trigger),
      previous: previous[trigger.metricName],
      outcome,
      currentReplicas: replicas.current,
      readyReplicas: replicas.ready,
    });
    if (result.health) health[trigger.metricName] = result.health;
    const servedOutcome = 'value' in result.outcome ? { value: servableMetricValue(result.outcome.value) } : result.outcome;
    if (result.fallbackApplied)
      return { reading: { metricName: trigger.metricName, active: true, fallbackApplied: true }, outcome: servedOutcome, fallbackApplied: true };
    const error = 'error' in outcome ? outcome.error : undefined;
    const active = 'value' in outcome && outcome.value > trigger.activationThreshold;
    return { reading: { metricName: trigger.metricName, active, ...(error !== undefined ? { error } : {}) }, outcome: servedOutcome, fallbackApplied: false };
  });
  const composite = model.modifiers ? compositeOf(model, model.modifiers, served) : undefined;
  const activity = evaluateActivity({
    triggerTypes: model.spec.triggers.map((t) => t.type),
    readings: served.map((s) => s.reading),
    ...(composite && model.modifiers
      ? {
          composite:
            'value' in composite
              ? { value: composite.value, activationTarget: model.modifiers.activationTarget }
              : { value: undefined, activationTarget: model.modifiers.activationTarget, error: composite.error },
        }
      : {}),
  });
  return { activity, health, fallbackApplied: served.some((s) => s.fallbackApplied) };
}

/** What the HPA reads from the metrics API: one observation per metric (or the composite), or that metric's error. */
export type HpaMetric = { observation: ExternalMetricObservation } | { error: string };

/**
 * The metrics API at an HPA sync. A failed read is served its fallback value once the scale loop's count is past
 * the threshold (the API does not count failures itself); with scalingModifiers the HPA sees the composite only.
 */
export function hpaMetrics(model: MetricsModel, outcomes: TriggerOutcomes, health: Readonly<Record<string, MetricHealth>>, replicas: Replicas): HpaMetric[] {
  const served = model.triggers.map((trigger, i) => {
    const outcome = outcomes[i] ?? { error: 'no read' };
    if ('value' in outcome) return { metricName: trigger.metricName, outcome: { value: servableMetricValue(outcome.value) }, fallbackApplied: false };
    const counted = health[trigger.metricName];
    const previous = counted ? { numberOfFailures: Math.max(0, counted.numberOfFailures - 1), status: counted.status } : undefined;
    const result = applyFallback({
      spec: model.spec,
      metric: metricSpec(trigger),
      previous,
      outcome,
      currentReplicas: replicas.current,
      readyReplicas: replicas.ready,
    });
    if (result.fallbackApplied && 'value' in result.outcome)
      return { metricName: trigger.metricName, outcome: { value: servableMetricValue(result.outcome.value) }, fallbackApplied: true };
    return { metricName: trigger.metricName, outcome, fallbackApplied: false };
  });
  if (model.modifiers) {
    const composite = evaluateComposite({
      formulas: model.formulas,
      modifiers: model.modifiers,
      ...(model.spec.fallback ? { fallback: model.spec.fallback } : {}),
      triggers: formulaTriggers(model),
      metrics: served,
    });
    if ('error' in composite) return [{ error: composite.error }];
    return [{ observation: { targetType: model.modifiers.metricType, target: model.modifiers.target, value: servableMetricValue(composite.value) } }];
  }
  return served.map((s, i) => {
    const trigger = model.triggers[i] as SimTrigger;
    return 'value' in s.outcome
      ? { observation: { targetType: trigger.targetType, target: trigger.target, value: s.outcome.value } }
      : { error: s.outcome.error };
  });
}

function compositeOf(model: MetricsModel, modifiers: ActiveScalingModifiers, served: readonly Served[]): CompositeResult {
  const metrics = served.map((s) => ({ metricName: s.reading.metricName, outcome: s.outcome, fallbackApplied: s.fallbackApplied }));
  return evaluateComposite({
    formulas: model.formulas,
    modifiers,
    ...(model.spec.fallback ? { fallback: model.spec.fallback } : {}),
    triggers: formulaTriggers(model),
    metrics,
  });
}

function formulaTriggers(model: MetricsModel): { trigger: Pick<SimTrigger, 'name' | 'type'>; metricNames: string[] }[] {
  return model.triggers.map((t) => ({ trigger: t, metricNames: [t.metricName] }));
}

function metricSpec(trigger: SimTrigger): { kind: 'External'; metricName: string; targetType: 'AverageValue' | 'Value'; target: number } {
  return { kind: 'External', metricName: trigger.metricName, targetType: trigger.targetType, target: trigger.target };
}
