import { readPauseState } from '../../apis/keda/v1alpha1/annotations.js';
import { ScaledObjectDefaults, type ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import type { Logger } from '../../log.js';
import type { MetricSpec } from '../../../scalers/scaler.js';
import { activationReplicas, type ActivationCount, type ActivationMetric } from '../../scaling/activation.js';
import { effectiveLastActive, lastActiveStepMs, lastActiveToStore } from '../../scaling/last-active.js';
import { decideScale, evaluateActivity, type ActivityInput, type TriggerReading } from '../../scaling/scaledobject.js';
import { applyFallback, fallbackCondition, fallbackTransitionEvent, type MetricHealth, type MetricOutcome } from '../../scaling/fallback.js';
import { activeScalingModifiers, CompositeMetricName, evaluateComposite, FormulaCache, type ActiveScalingModifiers } from '../../scaling/formula.js';
import type { EventRecorder } from '../events.js';
import type { HorizontalPodAutoscaler } from './hpa.js';
import type { OperatorMetrics } from '../metrics.js';
import { externalMetricNames, servableMetricValue } from './metrics-source.js';
import type { ObjectCache } from '../object-cache.js';
import { involved } from './object-ref.js';
import type { ReadyPods } from './ready-pods.js';
import type { LastReadings } from './last-readings.js';
import { ScaleTargetError, type ScaleTargets } from './scale-target.js';
import type { ScalersCache, TriggerScaler } from '../scalers-cache.js';
import { findCondition, setConditions, type Condition } from '../status.js';
import type { StatusWriter } from './status-writer.js';

export interface ScaleLoopDeps {
  log: Logger;
  now: () => number;
  scaledObjects: ObjectCache<ScaledObject>;
  scalers: ScalersCache;
  targets: ScaleTargets;
  readyPods: ReadyPods;
  status: StatusWriter;
  events: EventRecorder;
  metrics: OperatorMetrics;
  readings: LastReadings;
  hpas: ObjectCache<HorizontalPodAutoscaler>;
  /** Compiled scalingModifiers formulas; one of its own when not given. */
  formulas?: FormulaCache;
}

/** A metric of this poll after fallback: what activity sees, and the value (or error) the formula sees. */
interface ServedRead {
  reading: TriggerReading;
  outcome: MetricOutcome;
  fallbackApplied: boolean;
}

interface MetricRead {
  trigger: TriggerScaler;
  spec: Extract<MetricSpec, { kind: 'External' }>;
  value?: number;
  active: boolean;
  error?: string;
}

/**
 * One poll of one ScaledObject (KEDA's checkScalers + RequestScale): read every trigger in parallel, pass
 * the readings, the observed replicas and the time to the pure decision, then write /scale, status and
 * events as it says. Everything it needs next time is in the cluster (status.lastActiveTime, status.health),
 * so a restarted operator continues where the previous one stopped.
 */
export class ScaleLoop {
  private readonly formulas: FormulaCache;

  constructor(private readonly deps: ScaleLoopDeps) {
    this.formulas = deps.formulas ?? new FormulaCache();
  }

  async poll(key: string): Promise<void> {
    const cached = this.deps.scaledObjects.get(key);
    const set = this.deps.scalers.get(key);
    if (!cached || !set || cached.metadata.deletionTimestamp || readPauseState(cached.metadata.annotations).paused) return;
    const so = this.deps.status.current(key, cached);
    const gvkr = so.status?.scaleTargetGVKR;
    if (!gvkr) return;
    const namespace = so.metadata.namespace ?? '';
    const targetName = so.spec.scaleTargetRef.name;
    let current: { replicas: number; selector?: string };
    try {
      current = await this.deps.targets.getScale(gvkr, namespace, targetName);
    } catch (err) {
      await this.reportReplicasUnknown(key, so, err);
      return;
    }
    const intervalMs = (so.spec.pollingInterval ?? ScaledObjectDefaults.pollingInterval) * 1000;
    const modifiers = activeScalingModifiers(so.spec);
    const reads = await this.readAll(so, set.triggers, intervalMs, modifiers !== undefined);
    const health: Record<string, MetricHealth> = {};
    const served: ServedRead[] = [];
    for (const read of reads) served.push(await this.withFallback(so, read, current, health));
    const composite = modifiers ? this.composite(so, set.triggers, modifiers, served) : undefined;
    const activity = evaluateActivity({
      triggerTypes: so.spec.triggers.map((t) => t.type),
      readings: served.map((s) => s.reading),
      ...(composite ? { composite } : {}),
    });
    if (composite) {
      const value = composite.value !== undefined ? servableMetricValue(composite.value) : undefined;
      this.deps.metrics.compositeReading(namespace, so.metadata.name ?? '', { ...(value !== undefined ? { value } : {}), active: activity.isActive });
    }
    const now = this.deps.now();
    const parsed = so.status?.lastActiveTime ? Date.parse(so.status.lastActiveTime) : NaN;
    const stored = Number.isNaN(parsed) ? undefined : parsed;
    const stepMs = lastActiveStepMs(so.spec.cooldownPeriod ?? ScaledObjectDefaults.cooldownPeriod);
    const storedActive = findCondition(so.status?.conditions, 'Active')?.status === 'True';
    const lastActive = effectiveLastActive({ ...(stored !== undefined ? { stored } : {}), storedActive, stepMs, now });
    const activation = activationCount(so, modifiers, composite, reads, served);
    const decision = decideScale({
      spec: so.spec,
      annotations: so.metadata.annotations,
      target: { kind: gvkr.kind, namespace, name: targetName },
      currentReplicas: current.replicas,
      activity,
      ...(lastActive !== undefined ? { lastActiveTime: lastActive } : {}),
      creationTime: Date.parse(so.metadata.creationTimestamp ?? '') || now,
      now,
      activationReplicas: activation.replicas,
    });
    if (decision.action === 'activate' && activation.problem)
      this.deps.log.warn({ scaledObject: key, err: activation.problem }, 'activation annotation ignored');
    const scaled = await this.applyReplicas(so, gvkr, decision.replicas, current.replicas, decision.action, activation.basis);
    const conditions = loopConditions(decision.conditions, so.status?.conditions, failures(reads, composite));
    const fallback = so.spec.fallback;
    const fallbackState = fallback ? fallbackCondition(health, fallback.failureThreshold) : undefined;
    if (fallbackState) conditions.push(fallbackState);
    const hpaHealth = hpaActiveCondition(so.status?.hpaName ? this.deps.hpas.get(`${namespace}/${so.status.hpaName}`) : undefined);
    if (hpaHealth) conditions.push(hpaHealth);
    const events = scaled ? [...decision.events] : [];
    const transition = fallbackState && fallbackTransitionEvent(findCondition(so.status?.conditions, 'Fallback')?.status, fallbackState);
    if (transition) events.push(transition);
    const active = decision.conditions.some((c) => c.type === 'Active' && c.status === 'True');
    const lastActiveTime = lastActiveToStore({
      ...(stored !== undefined ? { stored } : {}),
      ...(decision.lastActiveTime !== undefined ? { decided: decision.lastActiveTime } : {}),
      storedActive,
      active,
      stepMs,
    });
    await this.deps.status.patch(key, so, {
      conditions: setConditions(so.status?.conditions, conditions),
      ...(lastActiveTime !== undefined ? { lastActiveTime: new Date(lastActiveTime).toISOString().replace(/\.\d+Z$/, 'Z') } : {}),
      ...(fallback ? { health } : {}),
      triggersActivity: Object.fromEntries(reads.map((r) => [r.spec.metricName, { isActive: r.error === undefined && r.active }])),
    });
    for (const event of events) this.deps.events.emit(involved(so), event.type, event.reason, event.message);
    if (reads.some((r) => r.error !== undefined)) {
      this.deps.metrics.objectError(namespace, so.metadata.name ?? '');
      // KEDA drops the scalers of an object whose read failed: the next poll reconnects and re-resolves.
      await this.deps.scalers.refresh(key).catch((err: unknown) => this.deps.log.warn({ scaledObject: key, err: String(err) }, 'rebuilding scalers failed'));
    }
  }

  private async readAll(so: ScaledObject, triggers: readonly TriggerScaler[], intervalMs: number, composite: boolean): Promise<MetricRead[]> {
    const namespace = so.metadata.namespace ?? '';
    const name = so.metadata.name ?? '';
    const jobs = triggers.flatMap((trigger) => trigger.scaler.metricSpecs.flatMap((spec) => (spec.kind === 'External' ? [{ trigger, spec }] : [])));
    return Promise.all(
      jobs.map(async ({ trigger, spec }): Promise<MetricRead> => {
        const labels = { namespace, scaledObject: name, scaler: trigger.label, triggerIndex: trigger.index, metric: spec.metricName };
        const started = performance.now();
        try {
          const maxAgeMs = reuseWindowMs(intervalMs, this.deps.readings.get(`${namespace}/${name}`, spec.metricName)?.at, this.deps.now());
          const reading = await trigger.scaler.read(spec.metricName, { maxAgeMs });
          const latencySeconds = (performance.now() - started) / 1000;
          this.deps.metrics.scalerReading(labels, { value: reading.value, ...(composite ? {} : { active: reading.active }), latencySeconds });
          this.deps.readings.record(`${namespace}/${name}`, spec.metricName, reading.value, reading.active, this.deps.now());
          return { trigger, spec, value: reading.value, active: reading.active };
        } catch (err) {
          const message = `${triggerField(trigger)}: ${err instanceof Error ? err.message : String(err)}`;
          this.deps.metrics.scalerError(labels);
          this.deps.log.warn({ scaledObject: `${namespace}/${name}`, metric: spec.metricName, err: message }, 'scaler read failed');
          this.deps.events.emit(involved(so), 'Warning', 'KEDAScalerFailed', message);
          return { trigger, spec, active: false, error: message };
        }
      }),
    );
  }

  /** The scalingModifiers composite of this poll; a formula that fails on these values counts as a failing trigger. */
  private composite(
    so: ScaledObject,
    triggers: readonly TriggerScaler[],
    modifiers: ActiveScalingModifiers,
    served: readonly ServedRead[],
  ): NonNullable<ActivityInput['composite']> {
    const result = evaluateComposite({
      formulas: this.formulas,
      modifiers,
      ...(so.spec.fallback ? { fallback: so.spec.fallback } : {}),
      triggers: triggers.map((t) => ({ trigger: t.trigger, metricNames: externalMetricNames(t) })),
      metrics: served.map(({ reading, outcome, fallbackApplied }) => ({ metricName: reading.metricName, outcome, fallbackApplied })),
    });
    if ('value' in result) {
      if (result.problem !== undefined) this.reportFormulaProblem(so, result.problem);
      return { value: result.value, activationTarget: modifiers.activationTarget };
    }
    // A trigger's own failure was already reported; a formula that fails on good values is news.
    if (served.every((s) => s.reading.error === undefined)) this.reportFormulaProblem(so, result.error);
    return { value: undefined, activationTarget: modifiers.activationTarget, error: result.error };
  }

  private reportFormulaProblem(so: ScaledObject, problem: string): void {
    this.deps.log.warn({ scaledObject: `${so.metadata.namespace ?? ''}/${so.metadata.name ?? ''}`, err: problem }, 'scalingModifiers formula failed');
    this.deps.events.emit(involved(so), 'Warning', 'KEDAScalerFailed', `${CompositeMetricName}: ${problem}`);
  }

  /** KEDA's fallback on a poll: counts the failure in status.health and, past the threshold, counts it as active. */
  private async withFallback(
    so: ScaledObject,
    read: MetricRead,
    current: { replicas: number; selector?: string },
    health: Record<string, MetricHealth>,
  ): Promise<ServedRead> {
    const previous = so.status?.health?.[read.spec.metricName];
    const needsReady = read.error !== undefined && read.spec.targetType === 'Value' && so.spec.fallback !== undefined;
    const readyReplicas = needsReady ? await this.deps.readyPods.count(so.metadata.namespace ?? '', current.selector) : undefined;
    const result = applyFallback({
      spec: so.spec,
      metric: read.spec,
      previous: previous?.status ? { numberOfFailures: previous.numberOfFailures ?? 0, status: previous.status } : undefined,
      outcome: read.error !== undefined ? { error: read.error } : { value: read.value ?? 0 },
      currentReplicas: current.replicas,
      ...(readyReplicas !== undefined ? { readyReplicas } : {}),
    });
    if (result.health) health[read.spec.metricName] = result.health;
    const outcome = 'value' in result.outcome ? { value: servableMetricValue(result.outcome.value) } : result.outcome;
    if (result.fallbackApplied) return { reading: { metricName: read.spec.metricName, active: true, fallbackApplied: true }, outcome, fallbackApplied: true };
    return {
      reading: { metricName: read.spec.metricName, active: read.active, ...(read.error !== undefined ? { error: read.error } : {}) },
      outcome,
      fallbackApplied: false,
    };
  }

  /** Writes /scale when the decision asks for a different count; false when the write failed. */
  private async applyReplicas(
    so: ScaledObject,
    gvkr: NonNullable<NonNullable<ScaledObject['status']>['scaleTargetGVKR']>,
    replicas: number | undefined,
    current: number,
    action: string,
    basis: ActivationCount['basis'],
  ): Promise<boolean> {
    if (replicas === undefined || replicas === current) return true;
    const namespace = so.metadata.namespace ?? '';
    try {
      await this.deps.targets.setReplicas(gvkr, namespace, so.spec.scaleTargetRef.name, replicas);
      this.deps.log.info(
        { scaledObject: `${namespace}/${so.metadata.name}`, from: current, to: replicas, action, ...(action === 'activate' ? { basis } : {}) },
        'scaled target',
      );
      return true;
    } catch (err) {
      const reason = action === 'activate' ? 'KEDAScaleTargetActivationFailed' : 'KEDAScaleTargetDeactivationFailed';
      const message = `Failed to scale ${gvkr.kind} ${namespace}/${so.spec.scaleTargetRef.name} from ${current} to ${replicas}: ${err instanceof Error ? err.message : String(err)}`;
      this.deps.events.emit(involved(so), 'Warning', reason, message);
      this.deps.log.warn({ scaledObject: `${namespace}/${so.metadata.name}`, err: message }, 'scaling target failed');
      return false;
    }
  }

  private async reportReplicasUnknown(key: string, so: ScaledObject, err: unknown): Promise<void> {
    const message = err instanceof ScaleTargetError ? err.message : `Error getting current replicas: ${err instanceof Error ? err.message : String(err)}`;
    this.deps.log.warn({ scaledObject: key, err: message }, 'reading scale target failed');
    this.deps.events.emit(involved(so), 'Warning', 'ErrorGettingCurrentReplicas', `spec.scaleTargetRef: ${message}`);
    await this.deps.status.patch(key, so, {
      conditions: setConditions(so.status?.conditions, [{ type: 'Ready', status: 'False', reason: 'ErrorGettingCurrentReplicas', message }]),
    });
  }
}

/** Names a trigger as the user wrote it: its field path, type and, when set, its name. */
export function triggerField(trigger: Pick<TriggerScaler, 'index' | 'trigger'>): string {
  const name = trigger.trigger.name ? ` "${trigger.trigger.name}"` : '';
  return `spec.triggers[${trigger.index}] (${trigger.trigger.type}${name})`;
}

/** What failed on this poll, each naming its trigger (or the formula), for the Ready condition's message. */
function failures(reads: readonly MetricRead[], composite: { error?: string } | undefined): string[] {
  const failed = reads.flatMap((r) => (r.error !== undefined ? [r.error] : []));
  if (composite?.error !== undefined && failed.length === 0) failed.push(`spec.advanced.scalingModifiers.formula: ${composite.error}`);
  return failed;
}

/**
 * The conditions a poll writes: the decision's, with a trigger-error Ready condition saying which trigger failed
 * and how. A Ready=False the reconciler set (ScaledObjectCheckFailed: the HPA or a check failed) is left for
 * the reconciler to clear, so a poll does not hide it.
 */
export function loopConditions(decided: readonly Condition[], current: readonly Condition[] | undefined, failed: readonly string[]): Condition[] {
  const checkFailed = findCondition(current, 'Ready')?.reason === 'ScaledObjectCheckFailed';
  return decided.flatMap((c) => {
    if (c.type !== 'Ready') return [c];
    if (checkFailed) return [];
    const isTriggerError = c.reason === 'PartialTriggerError' || c.reason === 'TriggerError';
    return [isTriggerError && failed.length > 0 ? { ...c, message: `${c.message ?? ''}: ${failed.join('; ')}` } : c];
  });
}

/**
 * How old a value read by another object (of a source they share) may be for this poll to take it instead of
 * reading the source again: never older than one interval, and never from before this object's own last read
 * ended. Polls keep to exact intervals, so without the second bound an object would be handed back its own
 * previous value, a hair under one interval old, and see an event a whole interval late. A shared source is
 * still read once an interval, by whichever of its objects polls first after the last read.
 */
export function reuseWindowMs(intervalMs: number, lastReadEndedAt: number | undefined, now: number): number {
  if (lastReadEndedAt === undefined) return intervalMs;
  return Math.min(intervalMs, Math.max(0, now - lastReadEndedAt - 1));
}

/**
 * The count this poll would activate to: the metrics as the HPA will see them (the composite metric when a
 * scalingModifiers formula replaces the triggers' own, else each external metric after fallback).
 */
function activationCount(
  so: ScaledObject,
  modifiers: ActiveScalingModifiers | undefined,
  composite: ActivityInput['composite'],
  reads: readonly MetricRead[],
  served: readonly ServedRead[],
): ActivationCount {
  const metrics: ActivationMetric[] = modifiers
    ? [{ targetType: modifiers.metricType, target: modifiers.target, ...(composite?.value !== undefined ? { value: composite.value } : {}) }]
    : reads.map((read, i) => {
        const outcome = served[i]?.outcome;
        return { targetType: read.spec.targetType, target: read.spec.target, ...(outcome && 'value' in outcome ? { value: outcome.value } : {}) };
      });
  const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  return activationReplicas({
    ...(so.spec.minReplicaCount !== undefined ? { minReplicaCount: so.spec.minReplicaCount } : {}),
    ...(so.spec.maxReplicaCount !== undefined ? { maxReplicaCount: so.spec.maxReplicaCount } : {}),
    ...(behavior ? { behavior } : {}),
    ...(so.metadata.annotations ? { annotations: so.metadata.annotations } : {}),
    metrics,
  });
}

/**
 * KEDA's checkHPAHealth: HPAActive follows the HPA's ScalingActive condition. An HPA whose target sits at zero
 * reports ScalingDisabled, which is healthy here (swell put it there). Unknown when the HPA or its condition
 * is not there yet, so the condition is left as it is.
 */
export function hpaActiveCondition(hpa: HorizontalPodAutoscaler | undefined): Condition | undefined {
  const scaling = hpa?.status?.conditions?.find((c) => c.type === 'ScalingActive');
  if (!scaling) return undefined;
  if (scaling.status === 'True') return { type: 'HPAActive', status: 'True', reason: 'HPAActive', message: 'HPA is actively scaling' };
  if (scaling.reason === 'ScalingDisabled')
    return { type: 'HPAActive', status: 'True', reason: 'ScalingDisabled', message: 'HPA scaling is disabled because the target is at zero replicas' };
  return {
    type: 'HPAActive',
    status: 'False',
    reason: scaling.reason || 'HPAMetricsUnavailable',
    message: `HPA is not actively scaling: ${scaling.message ?? ''}`,
  };
}
