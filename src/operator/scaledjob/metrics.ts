import type { Counter, Gauge, Registry } from 'prom-client';
import { registeredCounter, registeredGauge } from '../../controller/metrics.js';

const scalerLabelNames = ['namespace', 'metric', 'scaledObject', 'scaler', 'triggerIndex', 'type'] as const;
type ScalerLabel = (typeof scalerLabelNames)[number];

export interface ScaledJobScalerLabels {
  namespace: string;
  /** KEDA reuses the `scaledObject` label for the ScaledJob's name. */
  scaledJob: string;
  scaler: string;
  triggerIndex: number;
  metric: string;
}

/**
 * KEDA's ScaledJob metrics under KEDA's names: the per-scaler families shared with ScaledObjects (told apart by
 * `type="scaledjob"`), keda_scaled_job_errors_total, the loop latency, and swell's own count of Jobs created.
 * Families another part of the operator already registered on the registry are reused, not registered twice.
 */
export class ScaledJobMetrics {
  private readonly scalerValue: Gauge<ScalerLabel>;
  private readonly scalerLatency: Gauge<ScalerLabel>;
  private readonly scalerActive: Gauge<ScalerLabel>;
  private readonly scalerErrors: Counter<ScalerLabel>;
  private readonly jobErrors: Counter<'namespace' | 'scaledJob'>;
  private readonly loopLatency: Gauge<'namespace' | 'type' | 'resource'>;
  private readonly jobsCreated: Counter<'namespace' | 'scaledJob'>;
  private readonly seriesByJob = new Map<string, Set<string>>();

  constructor(registry: Registry) {
    const scaler = (name: string, help: string) => registeredGauge(registry, { name, help, labelNames: scalerLabelNames });
    this.scalerValue = scaler('keda_scaler_metrics_value', 'The current value for each scaler metric');
    this.scalerLatency = scaler('keda_scaler_metrics_latency_seconds', 'The latency of retrieving the current metric from each scaler');
    this.scalerActive = scaler('keda_scaler_active', 'Activity of a scaler metric (1 active, 0 inactive)');
    this.scalerErrors = registeredCounter(registry, {
      name: 'keda_scaler_detail_errors_total',
      help: 'The total number of errors encountered for each scaler',
      labelNames: scalerLabelNames,
    });
    this.jobErrors = registeredCounter(registry, {
      name: 'keda_scaled_job_errors_total',
      help: 'The number of errors per ScaledJob',
      labelNames: ['namespace', 'scaledJob'],
    });
    this.loopLatency = registeredGauge(registry, {
      name: 'keda_internal_scale_loop_latency_seconds',
      help: 'Deviation of a scale loop run from its schedule',
      labelNames: ['namespace', 'type', 'resource'],
    });
    this.jobsCreated = registeredCounter(registry, {
      name: 'swell_scaledjob_jobs_created_total',
      help: 'Jobs created for each ScaledJob',
      labelNames: ['namespace', 'scaledJob'],
    });
  }

  scalerReading(labels: ScaledJobScalerLabels, reading: { value: number; active: boolean; latencySeconds: number }): void {
    const l = this.labels(labels);
    this.scalerValue.set(l, reading.value);
    this.scalerActive.set(l, reading.active ? 1 : 0);
    this.scalerLatency.set(l, reading.latencySeconds);
  }

  scalerError(labels: ScaledJobScalerLabels): void {
    this.scalerErrors.inc(this.labels(labels));
  }

  /** Starts the error counter at 0 (as KEDA does) so rate() works from the first error. */
  registered(namespace: string, scaledJob: string): void {
    this.jobErrors.inc({ namespace, scaledJob }, 0);
  }

  jobError(namespace: string, scaledJob: string): void {
    this.jobErrors.inc({ namespace, scaledJob });
  }

  created(namespace: string, scaledJob: string, count: number): void {
    this.jobsCreated.inc({ namespace, scaledJob }, count);
  }

  scaleLoopLatency(namespace: string, scaledJob: string, seconds: number): void {
    this.loopLatency.set({ namespace, type: 'scaledjob', resource: scaledJob }, seconds);
  }

  /** Drops every series of a ScaledJob that no longer exists. */
  forget(namespace: string, scaledJob: string): void {
    const key = `${namespace}/${scaledJob}`;
    for (const serialized of this.seriesByJob.get(key) ?? []) {
      const labels = JSON.parse(serialized) as Record<ScalerLabel, string>;
      for (const metric of [this.scalerValue, this.scalerActive, this.scalerLatency]) metric.remove(labels);
      this.scalerErrors.remove(labels);
    }
    this.seriesByJob.delete(key);
    this.jobErrors.remove({ namespace, scaledJob });
    this.jobsCreated.remove({ namespace, scaledJob });
    this.loopLatency.remove({ namespace, type: 'scaledjob', resource: scaledJob });
  }

  private labels(labels: ScaledJobScalerLabels): Record<ScalerLabel, string> {
    const l = {
      namespace: labels.namespace,
      metric: labels.metric,
      scaledObject: labels.scaledJob,
      scaler: labels.scaler,
      triggerIndex: String(labels.triggerIndex),
      type: 'scaledjob',
    };
    const key = `${labels.namespace}/${labels.scaledJob}`;
    let series = this.seriesByJob.get(key);
    if (!series) this.seriesByJob.set(key, (series = new Set()));
    series.add(JSON.stringify(l));
    return l;
  }
}
