import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { validateScaledObject } from '../../apis/keda/v1alpha1/validation.js';
import { createLogger } from '../../log.js';
import { ConnectionPool } from '../../../scalers/connection-pool.js';
import { createScaler } from '../../../scalers/registry.js';
import { SharedReads } from '../../../scalers/shared-reads.js';
import { DependencyIndex } from '../dependencies.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { isConflict, KubeApiError } from '../../kube/errors.js';
import { createHpaPlanner } from './hpa.js';
import { LastReadings } from './last-readings.js';
import { OperatorMetrics } from '../metrics.js';
import { ScaledObjectReconciler } from './reconciler.js';
import type { IndexedObjectCache } from '../object-cache.js';
import { hpaTargetKeys, ScaleTargetIndex, scaledObjectTargetKeys } from '../../scaling/target-conflicts.js';
import { ScaleTargets } from './scale-target.js';
import { ScalersCache } from '../scalers-cache.js';
import { StatusWriter } from './status-writer.js';
import { FakeClock } from '../../controller/fake-clock.js';

const soBase = '/apis/keda.sh/v1alpha1/namespaces/app/scaledobjects';
const hpaBase = '/apis/autoscaling/v2/namespaces/app/horizontalpodautoscalers';
const deployPath = '/apis/apps/v1/namespaces/app/deployments/web';

const cronTrigger = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '4' } };

/** Reads the fake apiserver, except for paths in `stale`: an informer that has not yet seen their latest version. */
function cache<T>(client: FakeKubeClient, base: string, keysOf: (o: T) => string[], stale: ReadonlyMap<string, unknown> = new Map()): IndexedObjectCache<T> {
  const at = (key: string) => `${base}/${key.split('/')[1] ?? ''}`;
  const list = () => [...client.objects].filter(([p]) => p.startsWith(`${base}/`)).map(([, o]) => o as T);
  return {
    get: (key) => (stale.get(at(key)) ?? client.get(at(key))) as T | undefined,
    list,
    byIndex: (index, value) => (index === ScaleTargetIndex ? list().filter((o) => keysOf(o).includes(value)) : []),
  };
}

function setup(so: Partial<ScaledObject['spec']> & { annotations?: Record<string, string>; name?: string } = {}, replicas = 2) {
  const { annotations, name = 'orders', ...spec } = so;
  const client = new FakeKubeClient();
  client.put(`${soBase}/${name}`, {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: 'app', uid: `uid-${name}`, creationTimestamp: '2026-06-01T00:00:00Z', generation: 1, ...(annotations ? { annotations } : {}) },
    spec: { scaleTargetRef: { name: 'web' }, triggers: [cronTrigger], ...spec },
  });
  client.put(deployPath, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas } });
  const log = createLogger({ level: 'silent' });
  const clock = new FakeClock(Date.parse('2026-06-01T12:00:00Z'));
  const deps = { clock, log, reads: new SharedReads(clock), connections: new ConnectionPool({ clock }) };
  const scheduled = new Map<string, number>();
  const events: string[] = [];
  const targets = new ScaleTargets(client);
  const stale = new Map<string, unknown>();
  const newReconciler = () =>
    new ScaledObjectReconciler({
      log,
      client,
      scaledObjects: cache<ScaledObject>(client, soBase, scaledObjectTargetKeys, stale),
      hpas: cache<V2HorizontalPodAutoscaler>(client, hpaBase, (h) => hpaTargetKeys({ ...h, metadata: h.metadata ?? {} }), stale),
      sources: {
        triggerAuthentication: () => undefined,
        clusterTriggerAuthentication: () => undefined,
        lookup: { secret: () => undefined, configMap: () => undefined, secretData: () => undefined, configMapData: () => undefined },
        clusterAuthNamespace: 'swell-system',
        targets,
      },
      targets,
      scalers: new ScalersCache({ factory: (ctx) => createScaler(ctx, deps), log }),
      hpaPlanner: createHpaPlanner('0.1.0'),
      events: { emit: (_o, _t, reason) => void events.push(reason) },
      metrics: new OperatorMetrics(new Registry(), '0.1.0', () => []),
      polling: { schedule: (key, ms) => void scheduled.set(key, ms), unschedule: (key) => void scheduled.delete(key) },
      dependencies: new DependencyIndex(),
      status: new StatusWriter(client),
      readings: new LastReadings(),
      validate: (o) => validateScaledObject(o).errors.map((e) => `${e.path}: ${e.message}`),
    });
  const reconciler = newReconciler();
  const so$ = () => client.get(`${soBase}/${name}`) as unknown as ScaledObject;
  const reconcile = async (times = 2) => {
    for (let i = 0; i < times; i++) await reconciler.reconcile(`app/${name}`);
  };
  return {
    client,
    reconciler,
    restart: newReconciler,
    reconcile,
    so: so$,
    scheduled,
    events,
    stale,
    hpa: () => client.get(`${hpaBase}/keda-hpa-${name}`) as V2HorizontalPodAutoscaler | undefined,
  };
}

const ready = (so: ScaledObject) => so.status?.conditions?.find((c) => c.type === 'Ready');

describe('ScaledObjectReconciler', () => {
  it('adds the finalizer and the name label and converges in the same reconcile: three writes, no conflict', async () => {
    const t = setup();
    await t.reconcile(1);
    expect(t.so().metadata.finalizers).toEqual(['finalizer.keda.sh']);
    expect(t.so().metadata.labels).toEqual({ 'scaledobject.keda.sh/name': 'orders' });
    expect(ready(t.so())).toMatchObject({ status: 'True', reason: 'ScaledObjectReady' });
    expect(t.hpa()).toBeDefined();
    expect(t.scheduled.get('app/orders')).toBe(30_000);
    expect(t.client.writes().map((c) => `${c.method} ${c.path}`)).toEqual([`PATCH ${soBase}/orders`, `POST ${hpaBase}`, `PATCH ${soBase}/orders/status`]);
  });

  it('writes nothing more on the watch events its own writes bring, even before the cache has seen them', async () => {
    const t = setup();
    const path = `${soBase}/orders`;
    t.stale.set(path, structuredClone(t.so()));
    await t.reconcile(1);
    const writes = t.client.writes().length;
    // The finalizer patch, the HPA and the status patch each come back as a watch event; the cache still lags.
    await t.reconcile(3);
    expect(t.client.writes().length).toBe(writes);
    t.stale.clear();
    await t.reconcile(1);
    expect(t.client.writes().length).toBe(writes);
  });

  it('after a restart, reconciling an object that is already finalized, owned and Ready writes nothing', async () => {
    const t = setup();
    await t.reconcile(1);
    const writes = t.client.writes().length;
    t.scheduled.clear();
    const restarted = t.restart();
    await restarted.reconcile('app/orders');
    expect(t.client.writes().length).toBe(writes);
    expect(t.scheduled.get('app/orders')).toBe(30_000);
  });

  it('records target, original replicas, metric names and types in status', async () => {
    const t = setup({}, 2);
    await t.reconcile();
    expect(t.so().status).toMatchObject({
      scaleTargetKind: 'apps/v1.Deployment',
      scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
      originalReplicaCount: 2,
      externalMetricNames: ['s0-cron-Etc-UTC-08xxx-018xxx'],
      hpaName: 'keda-hpa-orders',
      triggersTypes: 'cron',
    });
  });

  it('creates the HPA with KEDA shape and leaves it alone when nothing drifted', async () => {
    const t = setup({ minReplicaCount: 0, maxReplicaCount: 7 });
    await t.reconcile();
    expect(t.hpa()?.spec).toMatchObject({
      minReplicas: 1,
      maxReplicas: 7,
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      metrics: [
        {
          type: 'External',
          external: {
            metric: { name: 's0-cron-Etc-UTC-08xxx-018xxx', selector: { matchLabels: { 'scaledobject.keda.sh/name': 'orders' } } },
            target: { type: 'AverageValue', averageValue: '1' },
          },
        },
      ],
    });
    expect(t.hpa()?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'ScaledObject', name: 'orders', uid: 'uid-orders', controller: true });
    const writes = t.client.writes().length;
    await t.reconcile(3);
    expect(t.client.writes().length).toBe(writes);
  });

  it('keeps originalReplicaCount from the first reconcile', async () => {
    const t = setup({}, 2);
    await t.reconcile();
    t.client.put(deployPath, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas: 9 } });
    await t.reconcile(1);
    expect(t.so().status?.originalReplicaCount).toBe(2);
  });

  it.each([
    {
      name: 'duplicate trigger names',
      spec: {
        triggers: [
          { ...cronTrigger, name: 'a' },
          { ...cronTrigger, name: 'a' },
        ],
      },
      field: 'spec.triggers[1].name',
    },
    {
      name: 'bad trigger metadata',
      spec: { triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 8 * * *', desiredReplicas: '1' } }] },
      field: 'spec.triggers[0]',
    },
    { name: 'unknown trigger type', spec: { triggers: [{ type: 'nope', metadata: {} }] }, field: 'spec.triggers[0] (nope)' },
    {
      name: 'a target the HPA would refuse',
      spec: { triggers: [{ type: 'redis', metadata: { address: 'r:6379', listName: 'jobs', listLength: '0' } }] },
      field: 'spec.triggers[0] (redis): error parsing redis metadata: "listLength" must be greater than 0',
    },
  ])('refuses $name with Ready=False naming the field, without an HPA', async ({ spec, field }) => {
    const t = setup(spec);
    await t.reconcile();
    expect(ready(t.so())).toMatchObject({ status: 'False', reason: 'ScaledObjectCheckFailed' });
    expect(ready(t.so())?.message).toContain(field);
    expect(t.hpa()).toBeUndefined();
    expect(t.events).toContain('ScaledObjectCheckFailed');
    expect(t.scheduled.has('app/orders')).toBe(false);
  });

  it('refuses a target already scaled by an older ScaledObject', async () => {
    const t = setup({ name: 'second' });
    t.client.put(`${soBase}/first`, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'first', namespace: 'app', uid: 'uid-first', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { scaleTargetRef: { name: 'web' }, triggers: [cronTrigger] },
    });
    await t.reconciler.reconcile('app/second');
    await t.reconciler.reconcile('app/second');
    expect(ready(t.so())?.message).toContain("already managed by the ScaledObject 'first'");
  });

  it('refuses a target scaled by a foreign HPA', async () => {
    const t = setup();
    t.client.put(`${hpaBase}/legacy`, {
      metadata: { name: 'legacy', namespace: 'app' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 3 },
    });
    await t.reconcile();
    expect(ready(t.so())?.message).toContain("is already managed by the hpa 'legacy'");
  });

  it('pauses at paused-replicas: deletes the HPA, sets replicas, stops polling', async () => {
    const t = setup({}, 2);
    await t.reconcile();
    expect(t.hpa()).toBeDefined();
    const paused = t.so();
    paused.metadata.annotations = { 'autoscaling.keda.sh/paused-replicas': '5' };
    t.client.put(`${soBase}/orders`, paused);
    await t.reconcile(1);
    expect(t.hpa()).toBeUndefined();
    expect((t.client.get(deployPath) as { spec: { replicas: number } }).spec.replicas).toBe(5);
    expect(t.so().status?.pausedReplicaCount).toBe(5);
    expect(t.so().status?.conditions?.find((c) => c.type === 'Paused')).toMatchObject({ status: 'True', reason: 'ScaledObjectPaused' });
    expect(t.scheduled.has('app/orders')).toBe(false);
  });

  it('finalizes: restores the original count and removes the finalizer', async () => {
    const t = setup({ advanced: { restoreToOriginalReplicaCount: true } }, 2);
    await t.reconcile();
    t.client.put(deployPath, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas: 0 } });
    const deleting = t.so();
    deleting.metadata.deletionTimestamp = '2026-06-01T13:00:00Z';
    t.client.put(`${soBase}/orders`, deleting);
    await t.reconcile(1);
    expect((t.client.get(deployPath) as { spec: { replicas: number } }).spec.replicas).toBe(2);
    expect(t.so().metadata.finalizers).toEqual([]);
    expect(t.scheduled.has('app/orders')).toBe(false);
  });

  it('reports an HPA the apiserver refuses (422) on the object, naming the field, once, without retrying', async () => {
    const t = setup();
    const invalid =
      'HorizontalPodAutoscaler.autoscaling "keda-hpa-orders" is invalid: spec.metrics[0].external.target.averageValue: Invalid value: "0": must be positive';
    t.client.fail('POST', hpaBase, KubeApiError.fromResponse('POST', '/', 422, { reason: 'Invalid', message: invalid }, ''));
    await t.reconcile(1);
    const outcome = await t.reconciler.reconcile('app/orders');
    expect(outcome.requeueAfterMs).toBeUndefined();
    expect(ready(t.so())).toMatchObject({ status: 'False', reason: 'ScaledObjectCheckFailed' });
    expect(ready(t.so())?.message).toContain('spec.metrics[0].external.target.averageValue');
    expect(ready(t.so())?.message).toContain("creating HPA 'keda-hpa-orders' failed");
    await t.reconcile(3);
    expect(t.events.filter((e) => e === 'ScaledObjectCheckFailed')).toHaveLength(1);
    expect(t.scheduled.has('app/orders')).toBe(false);
    t.client.heal();
    await t.reconcile(1);
    expect(ready(t.so())).toMatchObject({ status: 'True', reason: 'ScaledObjectReady' });
    expect(t.hpa()).toBeDefined();
  });

  it('meets 409 when its cached ScaledObject is stale: writes nothing, fails to be retried, converges on the fresh copy', async () => {
    const t = setup();
    const path = `${soBase}/orders`;
    t.stale.set(path, structuredClone(t.so()));
    // Someone else changes the object; the cache has not seen it yet.
    t.client.put(path, { ...t.so(), metadata: { ...t.so().metadata, annotations: { team: 'payments' } } });
    const writes = t.client.writes().length;
    const error: unknown = await t.reconciler.reconcile('app/orders').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^ScaledObject app\/orders changed meanwhile: .*409 Conflict/);
    expect(isConflict((error as Error).cause)).toBe(true);
    expect(t.so().metadata.finalizers).toBeUndefined();
    expect(t.so().status).toBeUndefined();
    expect(
      t.client
        .writes()
        .slice(writes)
        .map((c) => c.method),
    ).toEqual(['PATCH']);
    expect(t.events).toEqual([]);

    t.stale.clear();
    await t.reconcile();
    expect(t.so().metadata).toMatchObject({ finalizers: ['finalizer.keda.sh'], annotations: { team: 'payments' } });
    expect(ready(t.so())).toMatchObject({ status: 'True' });
  });

  it('replacing a drifted HPA from a stale cache meets 409: retried, not reported as a check failure', async () => {
    const t = setup();
    await t.reconcile();
    const path = `${hpaBase}/keda-hpa-orders`;
    const cached = structuredClone(t.hpa());
    // The cache holds a drifted copy at an old version; the apiserver has moved on.
    t.stale.set(path, { ...cached, spec: { ...cached?.spec, maxReplicas: 99 } });
    await t.client.request('PATCH', path, { body: { metadata: { labels: { touched: 'by someone else' } } } });
    const current = structuredClone(t.hpa());
    await expect(t.reconciler.reconcile('app/orders')).rejects.toSatisfy(isConflict);
    expect(t.hpa()).toEqual(current);
    expect(ready(t.so())).toMatchObject({ status: 'True' });
    expect(t.events).not.toContain('ScaledObjectCheckFailed');

    t.stale.clear();
    await t.reconcile(1);
    expect(ready(t.so())).toMatchObject({ status: 'True' });
  });

  it('reports an HPA write that fails for a passing reason, and still fails the reconcile so it is retried', async () => {
    const t = setup();
    t.client.fail('POST', hpaBase, KubeApiError.fromResponse('POST', '/', 503, { reason: 'ServiceUnavailable', message: 'etcdserver: request timed out' }, ''));
    await expect(t.reconciler.reconcile('app/orders')).rejects.toThrow('request timed out');
    expect(ready(t.so())).toMatchObject({ status: 'False', reason: 'ScaledObjectCheckFailed' });
    expect(ready(t.so())?.message).toMatch(
      /^Failed to ensure HPA is correctly created for ScaledObject: creating HPA 'keda-hpa-orders' failed: etcdserver: request timed out$/,
    );
    expect(t.events).toContain('ScaledObjectCheckFailed');
  });
});
