import { describe, expect, it } from 'vitest';
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import type { MetricSpec } from '../../scalers/scaler.js';
import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { buildHpa, hpaMinReplicas, hpaNeedsUpdate, isDerivative, type HpaBuildInput } from './hpa.js';

function so(spec: Partial<ScaledObject['spec']> = {}, metadata: Partial<ScaledObject['metadata']> = {}): Pick<ScaledObject, 'metadata' | 'spec'> {
  return {
    metadata: {
      name: 'orders',
      namespace: 'shop',
      uid: 'u-1',
      labels: { team: 'a', 'scaledobject.keda.sh/name': 'orders' },
      annotations: { note: 'x' },
      ...metadata,
    },
    spec: { scaleTargetRef: { name: 'worker' }, triggers: [{ type: 'redis', metadata: {} }], ...spec },
  };
}
const external = (name: string, target = 5, targetType: MetricSpec['targetType'] = 'AverageValue'): MetricSpec => ({
  kind: 'External',
  metricName: name,
  targetType,
  target,
});
const cpu: MetricSpec = { kind: 'Resource', resource: 'cpu', targetType: 'Utilization', target: 60 };

function build(overrides: Partial<HpaBuildInput> = {}): V2HorizontalPodAutoscaler {
  const result = buildHpa({
    scaledObject: so(),
    metrics: [external('s0-redis-jobs')],
    scaleTarget: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' },
    version: '0.1.0',
    ...overrides,
  });
  if (!result.ok) throw new Error(result.error);
  return result.hpa;
}

describe('buildHpa', () => {
  it('builds KEDA-shaped metadata and spec', () => {
    const hpa = build();
    expect(hpa.metadata).toEqual({
      name: 'keda-hpa-orders',
      namespace: 'shop',
      labels: {
        'app.kubernetes.io/name': 'keda-hpa-orders',
        'app.kubernetes.io/version': '0.1.0',
        'app.kubernetes.io/part-of': 'orders',
        'app.kubernetes.io/managed-by': 'keda-operator',
        team: 'a',
        'scaledobject.keda.sh/name': 'orders',
      },
      annotations: { note: 'x' },
      ownerReferences: [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', name: 'orders', uid: 'u-1', controller: true, blockOwnerDeletion: true }],
    });
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' },
      minReplicas: 1,
      maxReplicas: 100,
      metrics: [
        {
          type: 'External',
          external: {
            metric: { name: 's0-redis-jobs', selector: { matchLabels: { 'scaledobject.keda.sh/name': 'orders' } } },
            target: { type: 'AverageValue', averageValue: '5' },
          },
        },
      ],
    });
  });

  it.each<[string, number | undefined, number]>([
    ['unset', undefined, 1],
    ['0', 0, 1],
    ['4', 4, 4],
  ])('minReplicas for minReplicaCount %s is %i', (_n, min, expected) => {
    expect(hpaMinReplicas(min)).toBe(expected);
    expect(build({ scaledObject: so(min === undefined ? {} : { minReplicaCount: min }) }).spec?.minReplicas).toBe(expected);
  });

  it('uses the custom HPA name and drops excluded labels', () => {
    const hpa = build({
      scaledObject: so(
        { advanced: { horizontalPodAutoscalerConfig: { name: 'my-hpa' } } },
        { annotations: { 'scaledobject.keda.sh/hpa-excluded-labels': 'team, other' } },
      ),
    });
    expect(hpa.metadata?.name).toBe('my-hpa');
    expect(hpa.metadata?.labels?.team).toBeUndefined();
    expect(hpa.metadata?.labels?.['app.kubernetes.io/name']).toBe('my-hpa');
  });

  it('sorts metrics by type and maps targets', () => {
    const hpa = build({
      metrics: [
        { ...cpu },
        external('s1-kafka-t', 0.5, 'Value'),
        { kind: 'Resource', resource: 'memory', targetType: 'AverageValue', target: 1.5, containerName: 'app' },
      ],
    });
    expect(hpa.spec?.metrics).toEqual([
      { type: 'ContainerResource', containerResource: { name: 'memory', container: 'app', target: { type: 'AverageValue', averageValue: '1500m' } } },
      {
        type: 'External',
        external: {
          metric: { name: 's1-kafka-t', selector: { matchLabels: { 'scaledobject.keda.sh/name': 'orders' } } },
          target: { type: 'Value', value: '500m' },
        },
      },
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
    ]);
  });

  it('replaces external metrics with composite-metric under scalingModifiers', () => {
    const hpa = build({
      scaledObject: so({ advanced: { scalingModifiers: { formula: 'a + b', target: '10', metricType: 'Value' } } }),
      metrics: [external('s0-redis-a'), cpu, external('s2-redis-b')],
    });
    expect(hpa.spec?.metrics?.map((m) => m.external?.metric.name ?? m.resource?.name)).toEqual(['composite-metric', 'cpu']);
    expect(hpa.spec?.metrics?.[0]?.external?.target).toEqual({ type: 'Value', value: '10' });
  });

  it('copies behavior and disables scale-in/out per the pause annotations', () => {
    const behavior = { scaleDown: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods' as const, value: 1, periodSeconds: 30 }] } };
    expect(build({ scaledObject: so({ advanced: { horizontalPodAutoscalerConfig: { behavior } } }) }).spec?.behavior).toEqual(behavior);
    const paused = build({
      scaledObject: so(
        { advanced: { horizontalPodAutoscalerConfig: { behavior } } },
        { annotations: { 'autoscaling.keda.sh/paused-scale-in': 'true', 'autoscaling.keda.sh/paused-scale-out': 'true' } },
      ),
    });
    expect(paused.spec?.behavior).toEqual({ scaleUp: { selectPolicy: 'Disabled' }, scaleDown: { ...behavior.scaleDown, selectPolicy: 'Disabled' } });
    expect(build().spec?.behavior).toBeUndefined();
  });

  it.each<[string, MetricSpec[], RegExp]>([
    ['no metrics', [], /no metric specs returned from scalers/],
    ['a duplicate metric name', [external('s0-x'), external('s0-x')], /metricName s0-x defined multiple times in ScaledObject orders/],
  ])('fails on %s', (_n, metrics, message) => {
    const result = buildHpa({ scaledObject: so(), metrics, scaleTarget: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'w' }, version: 'v' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });
});

describe('hpaNeedsUpdate', () => {
  const desired = build({ metrics: [external('s0-redis-jobs', 1000)] });
  const clone = (h: V2HorizontalPodAutoscaler) => structuredClone(h);
  it.each<[string, (h: V2HorizontalPodAutoscaler) => void, boolean]>([
    ['an identical HPA', () => undefined, false],
    ['apiserver-canonical quantities ("1k")', (h) => void (h.spec!.metrics![0]!.external!.target.averageValue = '1k'), false],
    ['fields added by the apiserver', (h) => void Object.assign(h.metadata!, { resourceVersion: '7', labels: { ...h.metadata!.labels, extra: 'y' } }), false],
    ['a changed target', (h) => void (h.spec!.metrics![0]!.external!.target.averageValue = '999'), true],
    ['a changed maxReplicas', (h) => void (h.spec!.maxReplicas = 50), true],
    [
      'an extra metric',
      (h) => void h.spec!.metrics!.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }),
      true,
    ],
    ['a behavior the SO no longer has', (h) => void (h.spec!.behavior = { scaleUp: { selectPolicy: 'Disabled' } }), true],
    ['a missing label', (h) => void delete h.metadata!.labels!.team, true],
    ['a changed annotation', (h) => void (h.metadata!.annotations!.note = 'changed'), true],
  ])('%s → %s', (_n, mutate, expected) => {
    const observed = clone(desired);
    mutate(observed);
    expect(hpaNeedsUpdate(desired, observed)).toBe(expected);
  });

  it('ignores behavior fields the apiserver defaulted', () => {
    const want = build({ scaledObject: so({ advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } } } }) });
    const have = clone(want);
    have.spec!.behavior = {
      scaleDown: { stabilizationWindowSeconds: 60, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
      scaleUp: { stabilizationWindowSeconds: 0 },
    };
    expect(hpaNeedsUpdate(want, have)).toBe(false);
  });
});

describe('isDerivative', () => {
  it.each<[unknown, unknown, boolean]>([
    [{ a: 1 }, { a: 1, b: 2 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [[1, 2], [1, 2, 3], false],
    [{ value: '2k' }, { value: '2000' }, true],
    [{ name: '2k' }, { name: '2000' }, false],
    [undefined, { a: 1 }, true],
  ])('%j ⊆ %j is %s', (desired, observed, expected) => {
    expect(isDerivative(desired, observed)).toBe(expected);
  });
});
