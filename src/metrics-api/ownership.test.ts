import { describe, expect, it } from 'vitest';
import { MetricOwnership, type ScaledObjectMetrics } from './ownership.js';

const so = (namespace: string, name: string, names: string[], composite?: string): ScaledObjectMetrics => ({
  metadata: { namespace, name },
  status: { externalMetricNames: names, ...(composite ? { compositeScalerName: composite } : {}) },
});

describe('MetricOwnership', () => {
  const ownership = new MetricOwnership();
  ownership.upsert(so('shop', 'orders', ['s0-redis-orders', 's1-cron']));
  ownership.upsert(so('shop', 'payments', ['s0-redis-orders']));
  ownership.upsert(so('batch', 'report', ['s0-kafka-report'], 'composite-metric'));
  ownership.upsert({ metadata: { namespace: 'batch', name: 'fresh' } });

  it.each([
    { q: { namespace: 'shop', metricName: 's0-redis-orders', labelSelector: undefined }, owned: true, why: 'a ScaledObject in the namespace lists the name' },
    { q: { namespace: 'shop', metricName: 's0-redis-orders', labelSelector: 'app=x' }, owned: true, why: 'the name wins whatever the selector' },
    { q: { namespace: 'other', metricName: 's0-redis-orders', labelSelector: undefined }, owned: false, why: 'names are owned per namespace' },
    { q: { namespace: 'shop', metricName: 'http_requests_per_second', labelSelector: undefined }, owned: false, why: 'a name no ScaledObject lists' },
    { q: { namespace: 'batch', metricName: 'composite-metric', labelSelector: undefined }, owned: true, why: 'the composite metric of scalingModifiers' },
    {
      q: { namespace: 'batch', metricName: 's0-new', labelSelector: 'scaledobject.keda.sh/name=fresh' },
      owned: true,
      why: 'the selector names a known ScaledObject whose status is not written yet',
    },
    {
      q: { namespace: 'batch', metricName: 's0-new', labelSelector: 'scaledobject.keda.sh/name=ghost' },
      owned: false,
      why: 'the selector names an unknown ScaledObject',
    },
    {
      q: { namespace: 'batch', metricName: 's0-new', labelSelector: 'scaledobject.keda.sh/name=a,scaledobject.keda.sh/name=b' },
      owned: false,
      why: 'a contradictory selector names none',
    },
  ])('owns=$owned when $why', ({ q, owned }) => {
    expect(ownership.owns(q)).toBe(owned);
  });

  it('lists every served name once, sorted', () => {
    expect(ownership.metricNames()).toEqual(['composite-metric', 's0-kafka-report', 's0-redis-orders', 's1-cron']);
  });

  it('keeps a name while another ScaledObject still serves it, and drops it with the last one', () => {
    const local = new MetricOwnership();
    local.upsert(so('shop', 'orders', ['s0-q']));
    local.upsert(so('shop', 'payments', ['s0-q']));
    local.remove(so('shop', 'orders', []));
    expect(local.owns({ namespace: 'shop', metricName: 's0-q', labelSelector: undefined })).toBe(true);
    local.remove(so('shop', 'payments', []));
    expect(local.owns({ namespace: 'shop', metricName: 's0-q', labelSelector: undefined })).toBe(false);
    expect(local.metricNames()).toEqual([]);
  });

  it('replaces the names of a ScaledObject whose triggers changed', () => {
    const local = new MetricOwnership();
    local.upsert(so('shop', 'orders', ['s0-old']));
    local.upsert(so('shop', 'orders', ['s0-new']));
    expect(local.metricNames()).toEqual(['s0-new']);
  });
});
