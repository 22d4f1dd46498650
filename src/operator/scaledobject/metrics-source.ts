import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { JointSignal, type Abandonable } from '../../controller/joint-signal.js';
import type { MetricSpec } from '../../../scalers/scaler.js';
import { applyFallback } from '../../scaling/fallback.js';
import { activeScalingModifiers, CompositeMetricName, evaluateComposite, FormulaCache, type ActiveScalingModifiers } from '../../scaling/formula.js';
import type { LastReadings } from './last-readings.js';
import type { ReadyPods } from './ready-pods.js';
import type { ObjectCache } from '../object-cache.js';
import type { ScaleTargets } from './scale-target.js';
import type { ScalerSet, ScalersCache, TriggerScaler } from '../scalers-cache.js';

type ExternalMetricSpec = Extract<MetricSpec, { kind: 'External' }>;

export interface MetricValue {
  /** Never negative, NaN or infinite (KEDA serves 0 instead). */
  value: number;
  /** Epoch milliseconds of the reading. */
  timestamp: number;
}

export type MetricsSourceErrorReason = 'NotFound' | 'Unavailable';

/** Why a metric cannot be served: NotFound (no such object or metric) or Unavailable (the source failed). */
export class MetricsSourceError extends Error {
  constructor(
    readonly reason: MetricsSourceErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'MetricsSourceError';
  }
}

/** What the external metrics API asks the operator for: one metric of one ScaledObject. */
export interface MetricsSource {
  /**
   * Resolves the value, or rejects with a MetricsSourceError. `caller.signal` (looked at only when a scaler is
   * read live) is the request's deadline; it reaches the scaler's source.
   */
  getMetric(namespace: string, scaledObject: string, metricName: string, caller?: Abandonable): Promise<MetricValue>;
}

export interface MetricsSourceDeps {
  now: () => number;
  scaledObjects: ObjectCache<ScaledObject>;
  scalers: ScalersCache;
  readings: LastReadings;
  targets: ScaleTargets;
  readyPods: ReadyPods;
  /**
   * Builds the scalers of a ScaledObject this process has not reconciled: a replica that does not lead serves
   * metrics too, from scalers of its own.
   */
  buildScalers?: (key: string, so: ScaledObject) => Promise<ScalerSet>;
  /** Compiled scalingModifiers formulas; one of its own when not given. */
  formulas?: FormulaCache;
}

/**
 * Serves metrics from the scalers the scale loop uses, with KEDA's rules: triggers with useCachedMetrics
 * answer from the last poll; others are read live, concurrent requests for the same metric sharing one read;
 * a failed read past the fallback threshold (counted by the scale loop in status.health) serves the
 * fallback value instead of an error. With scalingModifiers, composite-metric is the formula over all of them.
 */
export class ScaledObjectMetricsSource implements MetricsSource {
  private readonly inFlight = new Map<string, { promise: Promise<MetricValue>; joint: JointSignal }>();

  private readonly formulas: FormulaCache;

  constructor(private readonly deps: MetricsSourceDeps) {
    this.formulas = deps.formulas ?? new FormulaCache();
  }

  getMetric(namespace: string, scaledObject: string, metricName: string, caller?: Abandonable): Promise<MetricValue> {
    const key = `${namespace}/${scaledObject}/${metricName}`;
    let pending = this.inFlight.get(key);
    if (!pending || pending.joint.abandoned) {
      const joint = new JointSignal();
      const promise = this.fetch(namespace, scaledObject, metricName, joint).finally(() => {
        joint.dispose();
        if (this.inFlight.get(key)?.joint === joint) this.inFlight.delete(key);
      });
      pending = { promise, joint };
      this.inFlight.set(key, pending);
    }
    pending.joint.join(caller);
    return pending.promise;
  }

  private async fetch(namespace: string, name: string, metricName: string, caller: Abandonable): Promise<MetricValue> {
    const key = `${namespace}/${name}`;
    const so = this.deps.scaledObjects.get(key);
    if (!so) throw new MetricsSourceError('NotFound', `ScaledObject ${key} not found`);
    const set = this.deps.scalers.get(key) ?? (await this.buildScalers(key, so));
    const modifiers = activeScalingModifiers(so.spec);
    if (metricName === CompositeMetricName && modifiers) return this.composite(key, so, set, modifiers, caller);
    const trigger = set.triggers.find((t) => t.scaler.metricSpecs.some((s) => s.kind === 'External' && s.metricName === metricName));
    const spec = trigger?.scaler.metricSpecs.find((s): s is ExternalMetricSpec => s.kind === 'External' && s.metricName === metricName);
    if (!trigger || !spec) throw new MetricsSourceError('NotFound', `no matching metrics found for ${metricName}`);
    const served = await this.read(key, so, trigger, spec, caller);
    return { value: served.value, timestamp: served.timestamp };
  }

  /** One metric by KEDA's rules: from the last poll with useCachedMetrics, else live; a failure goes through fallback. */
  private async read(
    key: string,
    so: ScaledObject,
    trigger: TriggerScaler,
    spec: ExternalMetricSpec,
    caller: Abandonable,
  ): Promise<MetricValue & { fallbackApplied: boolean }> {
    if (trigger.trigger.useCachedMetrics) {
      const cached = this.deps.readings.get(key, spec.metricName);
      if (cached) return { value: servableMetricValue(cached.value), timestamp: cached.at, fallbackApplied: false };
    }
    try {
      const reading = await trigger.scaler.read(spec.metricName, { ...(caller.signal ? { signal: caller.signal } : {}) });
      return { value: servableMetricValue(reading.value), timestamp: this.deps.now(), fallbackApplied: false };
    } catch (err) {
      return { ...(await this.fallback(so, spec, err)), fallbackApplied: true };
    }
  }

  /**
   * composite-metric: every external metric read as above (in parallel), then the scalingModifiers formula over
   * them, with KEDA's fallback rules for the composite (see compositeValue).
   */
  private async composite(key: string, so: ScaledObject, set: ScalerSet, modifiers: ActiveScalingModifiers, caller: Abandonable): Promise<MetricValue> {
    const externals = set.triggers.flatMap((trigger) => trigger.scaler.metricSpecs.flatMap((spec) => (spec.kind === 'External' ? [{ trigger, spec }] : [])));
    const metrics = await Promise.all(
      externals.map(async ({ trigger, spec }) => {
        try {
          const served = await this.read(key, so, trigger, spec, caller);
          return { metricName: spec.metricName, outcome: { value: served.value }, fallbackApplied: served.fallbackApplied };
        } catch (err) {
          if (!(err instanceof MetricsSourceError)) throw err;
          return { metricName: spec.metricName, outcome: { error: err.message }, fallbackApplied: false };
        }
      }),
    );
    const result = evaluateComposite({
      formulas: this.formulas,
      modifiers,
      ...(so.spec.fallback ? { fallback: so.spec.fallback } : {}),
      triggers: set.triggers.map((t) => ({ trigger: t.trigger, metricNames: externalMetricNames(t) })),
      metrics,
    });
    if ('error' in result)
      throw new MetricsSourceError(
        'Unavailable',
        result.error.startsWith('metric:') ? result.error : `metric:${CompositeMetricName} encountered error: ${result.error}`,
      );
    return { value: servableMetricValue(result.value), timestamp: this.deps.now() };
  }

  private async buildScalers(key: string, so: ScaledObject): Promise<ScalerSet> {
    if (!this.deps.buildScalers) throw new MetricsSourceError('Unavailable', `scalers of ScaledObject ${key} are not ready`);
    try {
      return await this.deps.buildScalers(key, so);
    } catch (err) {
      throw new MetricsSourceError('Unavailable', `scalers of ScaledObject ${key} cannot be built: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async fallback(so: ScaledObject, spec: ExternalMetricSpec, err: unknown): Promise<MetricValue> {
    const failed = new MetricsSourceError('Unavailable', `metric:${spec.metricName} encountered error: ${err instanceof Error ? err.message : String(err)}`);
    const gvkr = so.status?.scaleTargetGVKR;
    if (!so.spec.fallback || !gvkr) throw failed;
    const health = so.status?.health?.[spec.metricName];
    // The scale loop owns the failure count; a request here only asks whether the count is already past it.
    const previous = health?.status ? { numberOfFailures: Math.max(0, (health.numberOfFailures ?? 0) - 1), status: health.status } : undefined;
    const scale = await this.deps.targets.getScale(gvkr, so.metadata.namespace ?? '', so.spec.scaleTargetRef.name);
    const readyReplicas = spec.targetType === 'Value' ? await this.deps.readyPods.count(so.metadata.namespace ?? '', scale.selector) : undefined;
    const result = applyFallback({
      spec: so.spec,
      metric: spec,
      previous,
      outcome: { error: failed.message },
      currentReplicas: scale.replicas,
      ...(readyReplicas !== undefined ? { readyReplicas } : {}),
    });
    if (!result.fallbackApplied || !('value' in result.outcome)) throw failed;
    return { value: servableMetricValue(result.outcome.value), timestamp: this.deps.now() };
  }
}

/** A trigger's external metric names, in the order its scaler publishes them. */
export function externalMetricNames(trigger: TriggerScaler): string[] {
  return trigger.scaler.metricSpecs.flatMap((s) => (s.kind === 'External' ? [s.metricName] : []));
}

/** KEDA serves 0 for a negative, NaN or infinite value (and feeds the formula what it serves). */
export function servableMetricValue(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
