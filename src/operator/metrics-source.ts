import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { applyFallback } from '../scaling/fallback.js';
import type { LastReadings } from './last-readings.js';
import type { ReadyPods } from './ready-pods.js';
import type { ObjectCache } from './reconciler.js';
import type { ScaleTargets } from './scale-target.js';
import type { ScalerSet, ScalersCache } from './scalers-cache.js';

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
  /** Resolves the value, or rejects with a MetricsSourceError. */
  getMetric(namespace: string, scaledObject: string, metricName: string): Promise<MetricValue>;
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
}

/**
 * Serves metrics from the scalers the scale loop uses, with KEDA's rules: triggers with useCachedMetrics
 * answer from the last poll; others are read live, concurrent requests for the same metric sharing one read;
 * a failed read past the fallback threshold (counted by the scale loop in status.health) serves the
 * fallback value instead of an error.
 */
export class ScaledObjectMetricsSource implements MetricsSource {
  private readonly inFlight = new Map<string, Promise<MetricValue>>();

  constructor(private readonly deps: MetricsSourceDeps) {}

  getMetric(namespace: string, scaledObject: string, metricName: string): Promise<MetricValue> {
    const key = `${namespace}/${scaledObject}/${metricName}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetch(namespace, scaledObject, metricName).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async fetch(namespace: string, name: string, metricName: string): Promise<MetricValue> {
    const key = `${namespace}/${name}`;
    const so = this.deps.scaledObjects.get(key);
    if (!so) throw new MetricsSourceError('NotFound', `ScaledObject ${key} not found`);
    const set = this.deps.scalers.get(key) ?? (await this.buildScalers(key, so));
    const trigger = set.triggers.find((t) => t.scaler.metricSpecs.some((s) => s.kind === 'External' && s.metricName === metricName));
    const spec = trigger?.scaler.metricSpecs.find((s) => s.kind === 'External' && s.metricName === metricName);
    if (!trigger || !spec) throw new MetricsSourceError('NotFound', `no matching metrics found for ${metricName}`);
    if (trigger.trigger.useCachedMetrics) {
      const cached = this.deps.readings.get(key, metricName);
      if (cached) return { value: servable(cached.value), timestamp: cached.at };
    }
    try {
      const reading = await trigger.scaler.read(metricName);
      return { value: servable(reading.value), timestamp: this.deps.now() };
    } catch (err) {
      return this.fallback(so, spec, err);
    }
  }

  private async buildScalers(key: string, so: ScaledObject): Promise<ScalerSet> {
    if (!this.deps.buildScalers) throw new MetricsSourceError('Unavailable', `scalers of ScaledObject ${key} are not ready`);
    try {
      return await this.deps.buildScalers(key, so);
    } catch (err) {
      throw new MetricsSourceError('Unavailable', `scalers of ScaledObject ${key} cannot be built: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async fallback(so: ScaledObject, spec: Parameters<typeof applyFallback>[0]['metric'], err: unknown): Promise<MetricValue> {
    const failed = new MetricsSourceError('Unavailable', `metric:${spec.kind === 'External' ? spec.metricName : spec.resource} encountered error: ${err instanceof Error ? err.message : String(err)}`);
    const gvkr = so.status?.scaleTargetGVKR;
    if (!so.spec.fallback || !gvkr) throw failed;
    const health = so.status?.health?.[spec.kind === 'External' ? spec.metricName : ''];
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
    return { value: servable(result.outcome.value), timestamp: this.deps.now() };
  }
}

function servable(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
