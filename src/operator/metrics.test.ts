import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OperatorMetrics } from './metrics.js';

type Series = Record<string, string | number | undefined>;

async function seriesOf(registry: Registry, name: string): Promise<Series[]> {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values.map((v): Series => ({ ...v.labels, value: v.value }));
}

function setup() {
  const registry = new Registry();
  const metrics = new OperatorMetrics(registry, 'test', () => []);
  return { registry, metrics };
}

const orders = { namespace: 'shop', scaledObject: 'orders', scaler: 'redisScaler', triggerIndex: 0, metric: 's0-redis-orders' };
const labels = { namespace: 'shop', scaledObject: 'orders', scaler: 'redisScaler', triggerIndex: '0', metric: 's0-redis-orders', type: 'scaledobject' };

describe('OperatorMetrics', () => {
  it('exports the last reading of each scaler series when scraped', async () => {
    const { registry, metrics } = setup();
    metrics.scalerReading(orders, { value: 12, active: true, latencySeconds: 0.25 });
    metrics.scalerReading(orders, { value: 3, active: false, latencySeconds: 0.5 });
    metrics.scaleLoopLatency('shop', 'orders', 0.004);
    expect(await seriesOf(registry, 'keda_scaler_metrics_value')).toEqual([{ ...labels, value: 3 }]);
    expect(await seriesOf(registry, 'keda_scaler_active')).toEqual([{ ...labels, value: 0 }]);
    expect(await seriesOf(registry, 'keda_scaler_metrics_latency_seconds')).toEqual([{ ...labels, value: 0.5 }]);
    expect(await seriesOf(registry, 'keda_internal_scale_loop_latency_seconds')).toEqual([
      { namespace: 'shop', type: 'scaledobject', resource: 'orders', value: 0.004 },
    ]);
  });

  it('leaves activity out for a reading without it, and drops the composite value while its formula fails', async () => {
    const { registry, metrics } = setup();
    metrics.scalerReading(orders, { value: 7, latencySeconds: 0.1 });
    expect(await seriesOf(registry, 'keda_scaler_active')).toEqual([]);
    metrics.compositeReading('shop', 'orders', { value: 20, active: true });
    expect((await seriesOf(registry, 'keda_scaler_metrics_value')).map((s) => [s.scaler, s.value])).toEqual([
      ['redisScaler', 7],
      ['composite-metric', 20],
    ]);
    metrics.compositeReading('shop', 'orders', { active: false });
    expect((await seriesOf(registry, 'keda_scaler_metrics_value')).map((s) => s.scaler)).toEqual(['redisScaler']);
    expect(await seriesOf(registry, 'keda_scaler_active')).toEqual([{ ...labels, scaler: 'composite-metric', metric: 'composite-metric', value: 0 }]);
  });

  it('forgets every series of a deleted ScaledObject and keeps the others', async () => {
    const { registry, metrics } = setup();
    const other = { ...orders, scaledObject: 'billing' };
    for (const l of [orders, other]) {
      metrics.scalerReading(l, { value: 1, active: true, latencySeconds: 0.1 });
      metrics.scalerError(l);
      metrics.scaleLoopLatency(l.namespace, l.scaledObject, 0.01);
      metrics.objectRegistered(l.namespace, l.scaledObject, false);
    }
    metrics.forget('shop', 'orders');
    for (const name of [
      'keda_scaler_metrics_value',
      'keda_scaler_active',
      'keda_scaler_metrics_latency_seconds',
      'keda_scaler_detail_errors_total',
      'keda_scaled_object_errors_total',
      'keda_scaled_object_paused',
    ]) {
      expect((await seriesOf(registry, name)).map((s) => s.scaledObject)).toEqual(['billing']);
    }
    expect((await seriesOf(registry, 'keda_internal_scale_loop_latency_seconds')).map((s) => s.resource)).toEqual(['billing']);
  });
});
