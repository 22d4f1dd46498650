import { Counter, Gauge, type Registry } from 'prom-client';
import { CompositeMetricName } from '../scaling/formula.js';

/** KEDA's common label set for per-scaler metrics. */
export interface ScalerLabels {
  namespace: string;
  scaledObject: string;
  /** The trigger's name when set, else KEDA's scaler type name (cronScaler, kafkaScaler...). */
  scaler: string;
  triggerIndex: number;
  metric: string;
}

export interface RegisteredObject {
  namespace: string;
  triggerTypes: readonly string[];
}

/** Both registration gauges are collected in one scrape; the counting pass is shared between them. */
function countRegistrations(registered: () => Iterable<RegisteredObject>): () => { triggers: Map<string, number>; perNamespace: Map<string, number> } {
  let last: { at: number; triggers: Map<string, number>; perNamespace: Map<string, number> } | undefined;
  return () => {
    const now = Date.now();
    if (last && now - last.at < 1000) return last;
    const triggers = new Map<string, number>();
    const perNamespace = new Map<string, number>();
    for (const object of registered()) {
      perNamespace.set(object.namespace, (perNamespace.get(object.namespace) ?? 0) + 1);
      for (const type of object.triggerTypes) triggers.set(type, (triggers.get(type) ?? 0) + 1);
    }
    last = { at: now, triggers, perNamespace };
    return last;
  };
}

const scalerLabelNames = ['namespace', 'metric', 'scaledObject', 'scaler', 'triggerIndex', 'type'] as const;

type ScalerSeriesLabels = Readonly<Record<(typeof scalerLabelNames)[number], string>>;

/** The last reading of one scaler series; exported to Prometheus when it scrapes, not on every poll. */
interface ScalerSeries {
  readonly labels: ScalerSeriesLabels;
  value?: number;
  active?: 0 | 1;
  latencySeconds?: number;
}

interface LoopSeries {
  readonly labels: Readonly<Record<'namespace' | 'type' | 'resource', string>>;
  seconds: number;
}

/** KEDA names scalers after their Go type; dashboards group by it, so swell derives the same names. */
export function scalerTypeName(triggerType: string): string {
  return `${triggerType.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())}Scaler`;
}

/**
 * The operator's Prometheus metrics under KEDA's names (so existing dashboards and alerts keep working),
 * registered on the registry passed in. Series of a deleted ScaledObject are removed with it.
 */
export class OperatorMetrics {
  private readonly scalerErrors: Counter<(typeof scalerLabelNames)[number]>;
  private readonly objectErrors: Counter<'namespace' | 'scaledObject'>;
  private readonly objectPaused: Gauge<'namespace' | 'scaledObject'>;
  /**
   * Each object's scaler series by metric, trigger and scaler label, holding the last reading. A poll only
   * stores numbers here; the gauges copy them out when scraped. Setting prom-client gauges on every poll
   * hashed the label set and allocated a sample each time: about a tenth of the CPU at 10,000 polls/s.
   */
  private readonly seriesByObject = new Map<string, Map<string, ScalerSeries>>();
  private readonly loopByObject = new Map<string, LoopSeries>();

  /** `registered` lists the observed ScaledObjects; it is read at scrape time, so the counts are never stale. */
  constructor(registry: Registry, version: string, registered: () => Iterable<RegisteredObject>) {
    const registers = [registry];
    new Gauge({ name: 'keda_build_info', help: 'Build information', labelNames: ['version', 'git_commit', 'goversion', 'goos', 'goarch'], registers }).set(
      { version, git_commit: '', goversion: `node${process.versions.node}`, goos: process.platform, goarch: process.arch },
      1,
    );
    const series = this.seriesByObject;
    const collectFrom = (pick: (s: ScalerSeries) => number | undefined) =>
      function collect(this: Gauge<(typeof scalerLabelNames)[number]>): void {
        this.reset();
        for (const object of series.values()) {
          for (const s of object.values()) {
            const value = pick(s);
            if (value !== undefined) this.set(s.labels, value);
          }
        }
      };
    new Gauge({
      name: 'keda_scaler_metrics_value',
      help: 'The current value for each scaler metric',
      labelNames: scalerLabelNames,
      registers,
      collect: collectFrom((s) => s.value),
    });
    new Gauge({
      name: 'keda_scaler_metrics_latency_seconds',
      help: 'The latency of retrieving the current metric from each scaler',
      labelNames: scalerLabelNames,
      registers,
      collect: collectFrom((s) => s.latencySeconds),
    });
    new Gauge({
      name: 'keda_scaler_active',
      help: 'Activity of a scaler metric (1 active, 0 inactive)',
      labelNames: scalerLabelNames,
      registers,
      collect: collectFrom((s) => s.active),
    });
    this.scalerErrors = new Counter({
      name: 'keda_scaler_detail_errors_total',
      help: 'The total number of errors encountered for each scaler',
      labelNames: scalerLabelNames,
      registers,
    });
    this.objectErrors = new Counter({
      name: 'keda_scaled_object_errors_total',
      help: 'The number of errors per ScaledObject',
      labelNames: ['namespace', 'scaledObject'],
      registers,
    });
    this.objectPaused = new Gauge({
      name: 'keda_scaled_object_paused',
      help: 'Whether a ScaledObject is paused (1) or not (0)',
      labelNames: ['namespace', 'scaledObject'],
      registers,
    });
    const counts = countRegistrations(registered);
    new Gauge({
      name: 'keda_trigger_registered_total',
      help: 'Number of triggers registered, by type',
      labelNames: ['type'],
      registers,
      collect() {
        this.reset();
        for (const [type, count] of counts().triggers) this.set({ type }, count);
      },
    });
    new Gauge({
      name: 'keda_resource_registered_total',
      help: 'Number of KEDA resources registered, by kind and namespace',
      labelNames: ['type', 'namespace'],
      registers,
      collect() {
        this.reset();
        for (const [namespace, count] of counts().perNamespace) this.set({ type: 'scaled_object', namespace }, count);
      },
    });
    const loops = this.loopByObject;
    new Gauge({
      name: 'keda_internal_scale_loop_latency_seconds',
      help: 'Deviation of a scale loop run from its schedule',
      labelNames: ['namespace', 'type', 'resource'],
      registers,
      collect() {
        this.reset();
        for (const loop of loops.values()) this.set(loop.labels, loop.seconds);
      },
    });
  }

  /** `active` is left out for triggers of a scalingModifiers object: KEDA reports activity once, for the composite. */
  scalerReading(labels: ScalerLabels, reading: { value: number; active?: boolean; latencySeconds: number }): void {
    const s = this.series(labels);
    s.value = reading.value;
    if (reading.active !== undefined) s.active = reading.active ? 1 : 0;
    s.latencySeconds = reading.latencySeconds;
  }

  /** The scalingModifiers composite under scaler="composite-metric"; no value series while the formula fails. */
  compositeReading(namespace: string, scaledObject: string, reading: { value?: number; active: boolean }): void {
    const s = this.series({ namespace, scaledObject, scaler: CompositeMetricName, triggerIndex: 0, metric: CompositeMetricName });
    s.value = reading.value;
    s.active = reading.active ? 1 : 0;
  }

  scalerError(labels: ScalerLabels): void {
    this.scalerErrors.inc(this.series(labels).labels);
  }

  objectError(namespace: string, scaledObject: string): void {
    this.objectErrors.inc({ namespace, scaledObject });
  }

  /** KEDA starts the error counter at 0 so rate() works from the first error. */
  objectRegistered(namespace: string, scaledObject: string, paused: boolean): void {
    this.objectErrors.inc({ namespace, scaledObject }, 0);
    this.objectPaused.set({ namespace, scaledObject }, paused ? 1 : 0);
  }

  scaleLoopLatency(namespace: string, scaledObject: string, seconds: number): void {
    const key = `${namespace}/${scaledObject}`;
    const loop = this.loopByObject.get(key);
    if (loop) loop.seconds = seconds;
    else this.loopByObject.set(key, { labels: Object.freeze({ namespace, type: 'scaledobject', resource: scaledObject }), seconds });
  }

  /** Drops every series of a ScaledObject that no longer exists. */
  forget(namespace: string, scaledObject: string): void {
    const key = `${namespace}/${scaledObject}`;
    for (const s of this.seriesByObject.get(key)?.values() ?? []) this.scalerErrors.remove(s.labels);
    this.seriesByObject.delete(key);
    this.loopByObject.delete(key);
    this.objectErrors.remove({ namespace, scaledObject });
    this.objectPaused.remove({ namespace, scaledObject });
  }

  private series(labels: ScalerLabels): ScalerSeries {
    const key = `${labels.namespace}/${labels.scaledObject}`;
    let object = this.seriesByObject.get(key);
    if (!object) this.seriesByObject.set(key, (object = new Map<string, ScalerSeries>()));
    const seriesKey = `${labels.metric}\u0000${labels.triggerIndex}\u0000${labels.scaler}`;
    let s = object.get(seriesKey);
    if (!s) {
      s = {
        labels: Object.freeze({
          namespace: labels.namespace,
          metric: labels.metric,
          scaledObject: labels.scaledObject,
          scaler: labels.scaler,
          triggerIndex: String(labels.triggerIndex),
          type: 'scaledobject',
        }),
      };
      object.set(seriesKey, s);
    }
    return s;
  }
}
