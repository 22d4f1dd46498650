import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import { createKedaValidator } from '../../apis/keda/v1alpha1/validator.js';
import { createLogger } from '../../log.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { DependencyIndex } from '../dependencies.js';
import { ScalersCache } from '../scalers-cache.js';
import type { JobObject } from './jobs.js';
import { ScaledJobMetrics } from './metrics.js';
import { ScaledJobReconciler } from './reconciler.js';
import { scaledJobPath, ScaledJobStatusWriter } from './status.js';

const log = createLogger({ level: 'silent' });

function scaledJob(
  overrides: { annotations?: Record<string, string>; finalizers?: string[]; generation?: number; spec?: Partial<ScaledJob['spec']> } = {},
): ScaledJob {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: {
      name: 'sj',
      namespace: 'ns',
      uid: 'u1',
      generation: overrides.generation ?? 2,
      finalizers: overrides.finalizers ?? ['finalizer.keda.sh'],
      annotations: overrides.annotations,
    },
    spec: {
      jobTargetRef: { template: { spec: { containers: [{ name: 'c', image: 'i' }] } } },
      triggers: [{ type: 'redis', metadata: { address: '127.0.0.1:1', listName: 'q' } }],
      ...overrides.spec,
    },
  };
}

function setup(sj: ScaledJob, jobs: JobObject[] = []) {
  const client = new FakeKubeClient();
  client.put(scaledJobPath(sj), sj);
  for (const job of jobs) client.put(`/apis/batch/v1/namespaces/ns/jobs/${job.metadata.name}`, job as unknown as Record<string, unknown>);
  const scheduled = new Map<string, number>();
  const events: string[] = [];
  const reconciler = new ScaledJobReconciler({
    log,
    client,
    scaledJobs: { get: () => sj, list: () => [sj] },
    jobs: { jobsOf: () => jobs },
    auth: {
      triggerAuthentication: () => undefined,
      clusterTriggerAuthentication: () => undefined,
      clusterAuthNamespace: 'ns',
      lookup: { secret: () => undefined, configMap: () => undefined, secretData: () => undefined, configMapData: () => undefined },
    },
    dependencies: new DependencyIndex(),
    scalers: new ScalersCache({
      factory: (context) => {
        if (!context.trigger.metadata.listName) throw new Error('missing listName');
        return {
          metricSpecs: [{ kind: 'External', metricName: 's0-redis-q', targetType: 'AverageValue', target: 5 }],
          read: () => Promise.resolve({ value: 0, active: false }),
          close: () => Promise.resolve(),
        };
      },
      log,
    }),
    events: { emit: (_o, type, reason) => events.push(`${type} ${reason}`) },
    metrics: new ScaledJobMetrics(new Registry()),
    status: new ScaledJobStatusWriter(client),
    polling: { schedule: (key, ms) => scheduled.set(key, ms), unschedule: (key) => scheduled.delete(key) },
    validator: createKedaValidator(),
  });
  const stored = () => client.get(scaledJobPath(sj)) as unknown as ScaledJob;
  const condition = (type: string) => stored().status?.conditions?.find((c) => c.type === type);
  return { client, reconciler, scheduled, events, stored, condition };
}

const jobOf = (name: string, generation: string): JobObject => ({
  metadata: { name, namespace: 'ns', annotations: { 'scaledjob.keda.sh/generation': generation } },
});

describe('ScaledJobReconciler', () => {
  it('adds the finalizer first and does nothing else in that round', async () => {
    const t = setup(scaledJob({ finalizers: [] }));
    await t.reconciler.reconcile('ns/sj');
    expect(t.stored().metadata.finalizers).toEqual(['finalizer.keda.sh']);
    expect(t.scheduled.size).toBe(0);
  });

  it('a valid ScaledJob becomes Ready with its trigger types and metric names, and is polled at its interval', async () => {
    const t = setup(scaledJob({ spec: { pollingInterval: 7 } }));
    await t.reconciler.reconcile('ns/sj');
    expect(t.condition('Ready')).toMatchObject({ status: 'True', reason: 'ScaledJobReady' });
    expect(t.stored().status).toMatchObject({ triggersTypes: 'redis', externalMetricNames: ['s0-redis-q'] });
    expect(t.scheduled.get('ns/sj')).toBe(7000);
    expect(t.events).toContain('Normal ScaledJobReady');
  });

  it.each([
    { value: 'true', paused: true },
    { value: 'yes-please', paused: true },
    { value: 'false', paused: false },
  ])('paused annotation "$value" → paused=$paused', async ({ value, paused }) => {
    const t = setup(scaledJob({ annotations: { 'autoscaling.keda.sh/paused': value } }));
    await t.reconciler.reconcile('ns/sj');
    expect(t.scheduled.has('ns/sj')).toBe(!paused);
    expect(t.condition('Paused')?.status === 'True').toBe(paused);
    if (paused) expect(t.stored().status?.Paused).toBe('true');
  });

  it('reports a trigger that cannot be built as Ready=False naming the trigger, and does not poll', async () => {
    const t = setup(scaledJob({ spec: { triggers: [{ type: 'redis', metadata: { address: 'x:1' } }] } }));
    await t.reconciler.reconcile('ns/sj');
    expect(t.condition('Ready')).toMatchObject({ status: 'False', reason: 'ScaledJobCheckFailed' });
    expect(t.condition('Ready')?.message).toContain('spec.triggers[0]');
    expect(t.scheduled.size).toBe(0);
    expect(t.events).toContain('Warning ScaledJobCheckFailed');
  });

  it.each([
    { rollout: { strategy: 'immediate' as const, propagationPolicy: 'foreground' as const }, deleted: ['old-a', 'old-b'], policy: 'Foreground' },
    { rollout: {}, deleted: ['old-a', 'old-b'], policy: 'Background' },
    { rollout: { strategy: 'gradual' as const }, deleted: [], policy: undefined },
  ])('rollout $rollout deletes $deleted', async ({ rollout, deleted, policy }) => {
    const t = setup(scaledJob({ generation: 2, spec: { rollout } }), [jobOf('old-a', '1'), jobOf('old-b', '1'), jobOf('current', '2')]);
    await t.reconciler.reconcile('ns/sj');
    const deletes = t.client.calls.filter((c) => c.method === 'DELETE');
    expect(deletes.map((c) => c.path.split('/').pop())).toEqual(deleted);
    for (const call of deletes) expect(call.body).toMatchObject({ propagationPolicy: policy });
  });

  it('removes the finalizer of a ScaledJob being deleted and stops polling it', async () => {
    const sj = scaledJob();
    sj.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
    const t = setup(sj);
    t.scheduled.set('ns/sj', 1000);
    await t.reconciler.reconcile('ns/sj');
    expect(t.stored().metadata.finalizers).toEqual([]);
    expect(t.scheduled.size).toBe(0);
  });
});
