import { describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { createLogger } from '../../log.js';
import type { Scaler } from '../../../scalers/scaler.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { LastReadings } from './last-readings.js';
import { MetricsSourceError, ScaledObjectMetricsSource } from './metrics-source.js';
import { ReadyPods } from './ready-pods.js';
import { ScaleTargets } from './scale-target.js';
import { ScalersCache } from '../scalers-cache.js';

function scaledObject(extra: Partial<ScaledObject['spec']> = {}, health?: number): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'orders', namespace: 'app' },
    spec: { scaleTargetRef: { name: 'web' }, triggers: [{ type: 'fake', metadata: {} }], ...extra },
    status: {
      scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
      ...(health !== undefined ? { health: { 's0-fake': { numberOfFailures: health, status: 'Failing' } } } : {}),
    },
  };
}

async function setup(so: ScaledObject, read: (signal?: AbortSignal) => Promise<number>) {
  const client = new FakeKubeClient();
  client.put('/apis/apps/v1/namespaces/app/deployments/web', { metadata: { name: 'web' }, spec: { replicas: 2 } });
  let reads = 0;
  const scaler: Scaler = {
    metricSpecs: [{ kind: 'External', metricName: 's0-fake', targetType: 'AverageValue', target: 5 }],
    read: async (_metric, options) => {
      reads++;
      return { value: await read(options?.signal), active: true };
    },
    close: () => Promise.resolve(),
  };
  const scalers = new ScalersCache({ factory: () => scaler, log: createLogger({ level: 'silent' }) });
  await scalers.ensure('app/orders', { namespace: 'app', triggers: so.spec.triggers, auth: [{ params: {}, warnings: [] }], env: {} });
  const readings = new LastReadings();
  const source = new ScaledObjectMetricsSource({
    now: () => 1_000,
    scaledObjects: { get: (key) => (key === 'app/orders' ? so : undefined), list: () => [so] },
    scalers,
    readings,
    targets: new ScaleTargets(client),
    readyPods: new ReadyPods(client),
  });
  return { source, readings, reads: () => reads };
}

describe('ScaledObjectMetricsSource', () => {
  it('reads live, coalescing concurrent requests for one metric, and clamps negatives to 0', async () => {
    const { source, reads } = await setup(scaledObject(), () => new Promise((r) => setTimeout(() => r(-3), 10)));
    const values = await Promise.all([1, 2, 3].map(() => source.getMetric('app', 'orders', 's0-fake')));
    expect(values.map((v) => v.value)).toEqual([0, 0, 0]);
    expect(reads()).toBe(1);
  });

  it("passes the requests' deadline to the scaler: aborted once every coalesced request has given up", async () => {
    let scalerSignal: AbortSignal | undefined;
    const { source } = await setup(scaledObject(), (signal) => {
      scalerSignal = signal;
      return new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error)));
    });
    const first = new AbortController();
    const second = new AbortController();
    const results = [first, second].map((c) => source.getMetric('app', 'orders', 's0-fake', { signal: c.signal }).catch((err: unknown) => err));
    first.abort(new Error('first deadline'));
    await Promise.resolve();
    expect(scalerSignal?.aborted).toBe(false);
    second.abort(new Error('second deadline'));
    expect(scalerSignal?.aborted).toBe(true);
    expect(await results[0]).toMatchObject({ reason: 'Unavailable', message: 'metric:s0-fake encountered error: second deadline' });
  });

  it('answers useCachedMetrics triggers from the last poll without reading', async () => {
    const so = scaledObject({ triggers: [{ type: 'fake', metadata: {}, useCachedMetrics: true }] });
    const { source, readings, reads } = await setup(so, () => Promise.resolve(9));
    readings.record('app/orders', 's0-fake', 4, true, 500);
    expect(await source.getMetric('app', 'orders', 's0-fake')).toEqual({ value: 4, timestamp: 500 });
    expect(reads()).toBe(0);
  });

  it.each([
    { name: 'no fallback: the error', so: scaledObject(), expected: 'metric:s0-fake encountered error: down' },
    {
      name: 'below the threshold: the error',
      so: scaledObject({ fallback: { failureThreshold: 3, replicas: 4 } }, 2),
      expected: 'metric:s0-fake encountered error: down',
    },
    { name: 'past the threshold: target x fallback replicas', so: scaledObject({ fallback: { failureThreshold: 3, replicas: 4 } }, 4), expected: 20 },
  ])('when the source fails, $name', async ({ so, expected }) => {
    const { source } = await setup(so, () => Promise.reject(new Error('down')));
    const result = source.getMetric('app', 'orders', 's0-fake');
    if (typeof expected === 'number') expect((await result).value).toBe(expected);
    else await expect(result).rejects.toThrow(expected);
  });

  it('names what is missing', async () => {
    const { source } = await setup(scaledObject(), () => Promise.resolve(1));
    await expect(source.getMetric('app', 'orders', 's9-nope')).rejects.toMatchObject({ reason: 'NotFound', message: 'no matching metrics found for s9-nope' });
    await expect(source.getMetric('app', 'ghost', 's0-fake')).rejects.toBeInstanceOf(MetricsSourceError);
  });
});

describe('ScaledObjectMetricsSource on a replica that does not lead', () => {
  it('builds the scalers itself on the first request, then reuses them', async () => {
    const so = scaledObject();
    const client = new FakeKubeClient();
    let built = 0;
    const scaler: Scaler = {
      metricSpecs: [{ kind: 'External', metricName: 's0-fake', targetType: 'AverageValue', target: 5 }],
      read: () => Promise.resolve({ value: 12, active: true }),
      close: () => Promise.resolve(),
    };
    const scalers = new ScalersCache({ factory: () => scaler, log: createLogger({ level: 'silent' }) });
    const source = new ScaledObjectMetricsSource({
      now: () => 1_000,
      scaledObjects: { get: () => so, list: () => [so] },
      scalers,
      readings: new LastReadings(),
      targets: new ScaleTargets(client),
      readyPods: new ReadyPods(client),
      buildScalers: (key) => {
        built++;
        return scalers.ensure(key, { namespace: 'app', triggers: so.spec.triggers, auth: [{ params: {}, warnings: [] }], env: {} });
      },
    });
    expect((await source.getMetric('app', 'orders', 's0-fake')).value).toBe(12);
    expect((await source.getMetric('app', 'orders', 's0-fake')).value).toBe(12);
    expect(built).toBe(1);
  });

  it('reports scalers that cannot be built as unavailable, naming the object', async () => {
    const so = scaledObject();
    const client = new FakeKubeClient();
    const source = new ScaledObjectMetricsSource({
      now: () => 1_000,
      scaledObjects: { get: () => so, list: () => [so] },
      scalers: new ScalersCache({
        factory: () => {
          throw new Error('unused');
        },
        log: createLogger({ level: 'silent' }),
      }),
      readings: new LastReadings(),
      targets: new ScaleTargets(client),
      readyPods: new ReadyPods(client),
      buildScalers: () => Promise.reject(new Error('TriggerAuthentication app/creds not found')),
    });
    await expect(source.getMetric('app', 'orders', 's0-fake')).rejects.toThrow(/app\/orders cannot be built: TriggerAuthentication app\/creds not found/);
  });
});

describe('ScaledObjectMetricsSource composite-metric', () => {
  const named = (name: string, extra: Record<string, unknown> = {}) => ({ type: 'fake', name, metadata: {}, ...extra });

  async function compositeSource(spec: Partial<ScaledObject['spec']>, values: (() => Promise<number>)[], health?: Record<string, number>) {
    const so = scaledObject(spec);
    if (health)
      so.status = {
        ...so.status,
        health: Object.fromEntries(Object.entries(health).map(([m, n]) => [m, { numberOfFailures: n, status: 'Failing' as const }])),
      };
    const client = new FakeKubeClient();
    client.put('/apis/apps/v1/namespaces/app/deployments/web', { metadata: { name: 'web' }, spec: { replicas: 2 } });
    const reads: string[] = [];
    const scalers = new ScalersCache({
      log: createLogger({ level: 'silent' }),
      factory: ({ triggerIndex }) => ({
        metricSpecs: [{ kind: 'External', metricName: `s${triggerIndex}-fake`, targetType: 'AverageValue', target: 1 }],
        read: async (metricName) => {
          reads.push(metricName);
          return { value: await (values[triggerIndex] ?? (() => Promise.reject(new Error('no source'))))(), active: true };
        },
        close: () => Promise.resolve(),
      }),
    });
    await scalers.ensure('app/orders', {
      namespace: 'app',
      triggers: so.spec.triggers,
      auth: so.spec.triggers.map(() => ({ params: {}, warnings: [] })),
      env: {},
    });
    const readings = new LastReadings();
    const source = new ScaledObjectMetricsSource({
      now: () => 1_000,
      scaledObjects: { get: (key) => (key === 'app/orders' ? so : undefined), list: () => [so] },
      scalers,
      readings,
      targets: new ScaleTargets(client),
      readyPods: new ReadyPods(client),
    });
    return { source, readings, reads };
  }

  const modifiers = (formula: string) => ({ advanced: { scalingModifiers: { formula, target: '5' } } });
  const ok = (v: number) => () => Promise.resolve(v);
  const down = () => Promise.reject(new Error('down'));

  it.each([
    { name: 'the formula over live values', formula: '(a + b) / 2', values: [ok(3), ok(8)], expected: 5.5 },
    { name: 'negative readings enter the formula as 0, as KEDA serves them', formula: 'a + b + 1', values: [ok(-7), ok(2)], expected: 3 },
    { name: 'a negative composite is served as 0', formula: 'a - b', values: [ok(1), ok(9)], expected: 0 },
    { name: 'a ternary', formula: 'a > b ? a * 2 : b', values: [ok(6), ok(4)], expected: 12 },
  ])('serves $name', async ({ formula, values, expected }) => {
    const { source } = await compositeSource({ triggers: [named('a'), named('b')], ...modifiers(formula) }, values);
    expect(await source.getMetric('app', 'orders', 'composite-metric')).toEqual({ value: expected, timestamp: 1_000 });
  });

  it.each([
    { name: 'Infinity', values: [ok(1), ok(0)] },
    { name: 'NaN', values: [ok(0), ok(0)] },
  ])('refuses to serve a composite of $name without fallback, as the scale loop counts it inactive', async ({ name, values }) => {
    const { source } = await compositeSource({ triggers: [named('a'), named('b')], ...modifiers('a / b') }, values);
    await expect(source.getMetric('app', 'orders', 'composite-metric')).rejects.toMatchObject({
      reason: 'Unavailable',
      message: expect.stringContaining(`formula produced ${name}`) as unknown,
    });
  });

  it('serves fallback.replicas x target for a composite of Infinity when a fallback is set', async () => {
    const { source } = await compositeSource({ triggers: [named('a'), named('b')], ...modifiers('a / b'), fallback: { failureThreshold: 3, replicas: 4 } }, [
      ok(1),
      ok(0),
    ]);
    expect((await source.getMetric('app', 'orders', 'composite-metric')).value).toBe(20);
  });

  it('answers useCachedMetrics triggers from the last poll and reads the others live', async () => {
    const { source, readings, reads } = await compositeSource({ triggers: [named('a', { useCachedMetrics: true }), named('b')], ...modifiers('a + b') }, [
      ok(100),
      ok(2),
    ]);
    readings.record('app/orders', 's0-fake', 7, true, 500);
    expect((await source.getMetric('app', 'orders', 'composite-metric')).value).toBe(9);
    expect(reads).toEqual(['s1-fake']);
  });

  it.each([
    { name: 'a failing trigger without fallback', spec: {}, health: undefined, message: 'metric:s1-fake encountered error: down' },
    {
      name: 'a failing trigger below the threshold',
      spec: { fallback: { failureThreshold: 3, replicas: 4 } },
      health: { 's1-fake': 2 },
      message: 'metric:s1-fake encountered error: down',
    },
  ])('fails with $name', async ({ spec, health, message }) => {
    const { source } = await compositeSource({ triggers: [named('a'), named('b')], ...modifiers('a + b'), ...spec }, [ok(1), down], health);
    await expect(source.getMetric('app', 'orders', 'composite-metric')).rejects.toMatchObject({ reason: 'Unavailable', message });
  });

  it.each([
    { name: 'static: target x replicas, skipping the formula', behavior: 'static' as const, formula: 'a + b', expected: 20 },
    { name: 'scalingModifiers: the failing trigger is nil in the formula', behavior: 'scalingModifiers' as const, formula: 'a + (b ?? 10)', expected: 11 },
    { name: 'scalingModifiers: a nil result serves fallback.replicas x target', behavior: 'scalingModifiers' as const, formula: 'b ?? nil', expected: 20 },
  ])('past the fallback threshold, $name', async ({ behavior, formula, expected }) => {
    const { source } = await compositeSource(
      { triggers: [named('a'), named('b')], ...modifiers(formula), fallback: { failureThreshold: 1, replicas: 4, behavior } },
      [ok(1), down],
      { 's1-fake': 5 },
    );
    expect((await source.getMetric('app', 'orders', 'composite-metric')).value).toBe(expected);
  });

  it('names the formula when it fails on the values', async () => {
    const { source } = await compositeSource({ triggers: [named('a'), named('b')], ...modifiers('a > 2 ? a : nil') }, [ok(1), ok(1)]);
    await expect(source.getMetric('app', 'orders', 'composite-metric')).rejects.toMatchObject({
      reason: 'Unavailable',
      message: 'metric:composite-metric encountered error: spec.advanced.scalingModifiers.formula: formula produced nil; use ?? to give a default',
    });
  });

  it('has no composite-metric without scalingModifiers, and still serves each trigger metric with them', async () => {
    const plain = await compositeSource({ triggers: [named('a'), named('b')] }, [ok(1), ok(2)]);
    await expect(plain.source.getMetric('app', 'orders', 'composite-metric')).rejects.toMatchObject({ reason: 'NotFound' });
    const modified = await compositeSource({ triggers: [named('a'), named('b')], ...modifiers('a + b') }, [ok(1), ok(2)]);
    expect((await modified.source.getMetric('app', 'orders', 's1-fake')).value).toBe(2);
  });
});
