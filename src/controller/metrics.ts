import { Counter, Gauge, Histogram, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration, type Registry } from 'prom-client';

/**
 * Metric constructors that reuse a metric already on `registry` under the same name, so that several
 * queues or controllers sharing one registry share one metric family (told apart by labels).
 */
export function registeredCounter<L extends string>(registry: Registry, config: CounterConfiguration<L>): Counter<L> {
  return reuse(registry, config.name, Counter) ?? new Counter({ ...config, registers: [registry] });
}

export function registeredGauge<L extends string>(registry: Registry, config: GaugeConfiguration<L>): Gauge<L> {
  return reuse(registry, config.name, Gauge) ?? new Gauge({ ...config, registers: [registry] });
}

export function registeredHistogram<L extends string>(registry: Registry, config: HistogramConfiguration<L>): Histogram<L> {
  return reuse(registry, config.name, Histogram) ?? new Histogram({ ...config, registers: [registry] });
}

function reuse<M>(registry: Registry, name: string, type: abstract new (...args: never[]) => M): M | undefined {
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return undefined;
  if (!(existing instanceof type)) throw new Error(`metric ${name} is already registered with a different type`);
  return existing;
}

/** Durations from 1 ms to about 17 min, for queue waits, reconciles and polls. */
export const DURATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1_000];
