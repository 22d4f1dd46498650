import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import { FakeClock } from '../../controller/fake-clock.js';
import { KubeApiError } from '../../kube/errors.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { ScalersCache } from '../scalers-cache.js';
import { JobNameLabel, type JobObject } from './jobs.js';
import { ScaledJobMetrics } from './metrics.js';
import { ScaledJobPoller } from './poller.js';
import { scaledJobPath, ScaledJobStatusWriter } from './status.js';

const ns = 'ns';
const key = `${ns}/sj`;
const jobsPath = `/apis/batch/v1/namespaces/${ns}/jobs`;

type Reading = { value: number; active: boolean } | Error;

function scaledJob(spec: Partial<ScaledJob['spec']> = {}, annotations?: Record<string, string>): ScaledJob {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name: 'sj', namespace: ns, uid: 'sj-uid', generation: 1, ...(annotations ? { annotations } : {}) },
    spec: {
      jobTargetRef: { template: { spec: { containers: [{ name: 'c', image: 'worker' }] } } },
      triggers: [{ type: 'redis', metadata: { listName: 'q' } }],
      ...spec,
    },
  };
}

/** A Job of the ScaledJob; `pod` is the phase of its one pod (none when undefined), `finished` its end. */
interface TestJob {
  name: string;
  pod?: 'Pending' | 'Running';
  finished?: 'Complete' | 'Failed';
  createdAt?: string;
}

async function setup(sj: ScaledJob, jobs: TestJob[], readings: Reading[]) {
  const client = new FakeKubeClient();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  client.put(scaledJobPath(sj), sj);
  for (const job of jobs) {
    client.put(`${jobsPath}/${job.name}`, {
      metadata: { name: job.name, namespace: ns, labels: { 'scaledjob.keda.sh/name': 'sj' }, creationTimestamp: job.createdAt ?? '2026-01-01T00:00:00Z' },
      status: job.finished ? { conditions: [{ type: job.finished, status: 'True' }] } : {},
    });
    if (!job.pod) continue;
    const pod = `${job.name}-pod`;
    client.put(`/api/v1/namespaces/${ns}/pods/${pod}`, {
      metadata: { name: pod, namespace: ns, labels: { [JobNameLabel]: job.name } },
      status: { phase: job.pod },
    });
  }
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  let built = 0;
  const scalers = new ScalersCache({
    factory: (context) => {
      built++;
      return {
        metricSpecs: [{ kind: 'External', metricName: `s${context.triggerIndex}-redis-q`, targetType: 'AverageValue', target: 1 }],
        read: (metricName: string) => {
          const reading = readings[Number(metricName.slice(1, metricName.indexOf('-')))] ?? new Error('no reading');
          return reading instanceof Error ? Promise.reject(reading) : Promise.resolve(reading);
        },
        close: () => Promise.resolve(),
      };
    },
    log,
  });
  await scalers.ensure(key, {
    namespace: ns,
    triggers: sj.spec.triggers ?? [],
    auth: (sj.spec.triggers ?? []).map(() => ({ params: {}, warnings: [] })),
    env: {},
  });
  const events: string[] = [];
  const registry = new Registry();
  const jobsOf = () => [...client.objects].filter(([path]) => path.startsWith(`${jobsPath}/`)).map(([, job]) => job as unknown as JobObject);
  // Jobs the informer has not delivered yet: in the apiserver, not in the cache.
  const notInCache = new Set<string>();
  const cached = () => jobsOf().filter((job) => !notInCache.has(job.metadata.name ?? ''));
  const hideFromCache = () => jobsOf().forEach((job) => notInCache.add(job.metadata.name ?? ''));
  const poller = new ScaledJobPoller({
    log,
    client,
    now: () => clock.now(),
    version: '2.17.0',
    scaledJobs: { get: (k) => (k === key ? sj : undefined), list: () => [sj] },
    jobs: { jobsOf: cached },
    scalers,
    events: { emit: (_object, type, reason, message) => events.push(`${type} ${reason}: ${message}`) },
    metrics: new ScaledJobMetrics(registry),
    status: new ScaledJobStatusWriter(client),
  });
  const created = () => client.writes().filter((w) => w.method === 'POST' && w.path === jobsPath).length;
  const stored = () => client.get(scaledJobPath(sj)) as unknown as ScaledJob;
  const metric = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  return { client, clock, poller, events, lines, created, stored, metric, jobsOf, hideFromCache, builtScalers: () => built };
}

const running = (n: number): TestJob[] => Array.from({ length: n }, (_, i) => ({ name: `run-${i}`, pod: 'Running' as const }));
const waiting = (n: number): TestJob[] => Array.from({ length: n }, (_, i) => ({ name: `wait-${i}` }));

describe('ScaledJobPoller: Jobs created per poll', () => {
  it.each<[string, Partial<ScaledJob['spec']>, TestJob[], number, number]>([
    ['default: the queue, less the running Jobs', {}, running(2), 5, 3],
    ['default: an empty queue creates none', {}, [], 0, 0],
    ['default: capped at maxReplicaCount', { maxReplicaCount: 10 }, [], 20, 10],
    ['default: finished Jobs do not count as running', {}, [{ name: 'done', finished: 'Complete' }, ...running(1)], 4, 3],
    ['accurate: the queue less the Jobs still waiting for a pod', { scalingStrategy: { strategy: 'accurate' } }, [...running(1), ...waiting(1)], 5, 4],
    ['accurate: up to maxReplicaCount when queue and running exceed it', { maxReplicaCount: 10, scalingStrategy: { strategy: 'accurate' } }, running(3), 9, 7],
    ['eager: fills the free slots up to the queue', { maxReplicaCount: 10, scalingStrategy: { strategy: 'eager' } }, running(2), 5, 5],
    [
      'custom: queue less the deduction less a share of the running Jobs',
      { scalingStrategy: { strategy: 'custom', customScalingQueueLengthDeduction: 1, customScalingRunningJobPercentage: '0.5' } },
      running(2),
      6,
      4,
    ],
    ['minReplicaCount: tops up the running Jobs while active', { minReplicaCount: 3 }, [], 1, 3],
  ])('%s', async (_name, spec, jobs, queue, expected) => {
    const t = await setup(scaledJob(spec), jobs, [{ value: queue, active: queue > 0 }]);
    await t.poller.poll(key);
    expect(t.created()).toBe(expected);
    const made = t.jobsOf().filter((j) => j.metadata.generateName === 'sj-');
    expect(made).toHaveLength(expected);
    for (const job of made) expect(job.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ScaledJob', name: 'sj', uid: 'sj-uid', controller: true });
    if (expected > 0) expect(t.events).toContain(`Normal KEDAJobsCreated: Created ${expected} jobs`);
    expect(await t.metric('swell_scaledjob_jobs_created_total')).toBe(expected);
  });

  it('counts Jobs it created but the cache does not show yet, until the grace period ends', async () => {
    const t = await setup(scaledJob(), [], [{ value: 3, active: true }]);
    await t.poller.poll(key);
    t.hideFromCache();
    await t.poller.poll(key);
    expect(t.created()).toBe(3);
    await t.clock.advance(61_000);
    await t.poller.poll(key);
    expect(t.created()).toBe(6);
  });

  it('combines triggers by multipleScalersCalculation', async () => {
    const triggers = [
      { type: 'redis', metadata: { listName: 'a' } },
      { type: 'redis', metadata: { listName: 'b' } },
    ];
    const sum = await setup(
      scaledJob({ triggers, scalingStrategy: { multipleScalersCalculation: 'sum' } }),
      [],
      [
        { value: 2, active: true },
        { value: 3, active: true },
      ],
    );
    await sum.poller.poll(key);
    expect(sum.created()).toBe(5);
    const max = await setup(
      scaledJob({ triggers }),
      [],
      [
        { value: 2, active: true },
        { value: 3, active: true },
      ],
    );
    await max.poller.poll(key);
    expect(max.created()).toBe(3);
  });

  it('writes Active, lastActiveTime and each trigger’s activity to status', async () => {
    const t = await setup(scaledJob(), [], [{ value: 2, active: true }]);
    await t.poller.poll(key);
    const status = t.stored().status;
    expect(status?.conditions?.find((c) => c.type === 'Active')).toMatchObject({ status: 'True', reason: 'ScalerActive' });
    expect(status?.lastActiveTime).toBe('2026-01-01T00:00:00Z');
    expect(status?.triggersActivity).toEqual({ 's0-redis-q': { isActive: true } });
  });

  it.each<[string, ScaledJob | undefined]>([
    ['paused', scaledJob({}, { 'autoscaling.keda.sh/paused': 'true' })],
    ['being deleted', { ...scaledJob(), metadata: { ...scaledJob().metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }],
  ])('creates nothing for a ScaledJob %s', async (_name, sj) => {
    const t = await setup(sj ?? scaledJob(), [], [{ value: 5, active: true }]);
    await t.poller.poll(key);
    expect(t.client.writes()).toEqual([]);
  });

  it('does nothing for a ScaledJob without scalers', async () => {
    const t = await setup(scaledJob(), [], [{ value: 5, active: true }]);
    await t.poller.poll('ns/other');
    expect(t.client.writes()).toEqual([]);
  });
});

describe('ScaledJobPoller: history and failures', () => {
  it('deletes the oldest finished Jobs beyond the history limits', async () => {
    const finished: TestJob[] = [
      { name: 'ok-1', finished: 'Complete', createdAt: '2025-12-31T01:00:00Z' },
      { name: 'ok-2', finished: 'Complete', createdAt: '2025-12-31T02:00:00Z' },
      { name: 'ok-3', finished: 'Complete', createdAt: '2025-12-31T03:00:00Z' },
      { name: 'bad-1', finished: 'Failed', createdAt: '2025-12-31T01:00:00Z' },
      { name: 'bad-2', finished: 'Failed', createdAt: '2025-12-31T02:00:00Z' },
    ];
    const t = await setup(scaledJob({ successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 }), finished, [{ value: 0, active: false }]);
    await t.poller.poll(key);
    const left = t
      .jobsOf()
      .map((j) => j.metadata.name)
      .sort();
    expect(left).toEqual(['bad-2', 'ok-3']);
  });

  it('logs a Job it could not delete by name and carries on', async () => {
    const t = await setup(scaledJob({ successfulJobsHistoryLimit: 0 }), [{ name: 'ok-1', finished: 'Complete' }], [{ value: 0, active: false }]);
    t.client.fail('DELETE', `${jobsPath}/ok-1`, KubeApiError.fromResponse('DELETE', `${jobsPath}/ok-1`, 500, {}, 'etcd timeout'));
    await t.poller.poll(key);
    expect(t.lines.find((l) => l.msg === 'deleting finished job failed')).toMatchObject({ scaledJob: key, job: 'ok-1' });
    expect(t.stored().status?.conditions?.find((c) => c.type === 'Active')?.status).toBe('False');
  });

  it('a scaler error: Warning event naming the metric, trigger error condition, error metric, and rebuilt scalers', async () => {
    const t = await setup(scaledJob(), [], [new Error('connection refused')]);
    await t.poller.poll(key);
    expect(t.events).toContain('Warning KEDAScalerFailed: s0-redis-q: connection refused');
    expect(t.lines.find((l) => l.msg === 'scaler read failed')).toMatchObject({ scaledJob: key, metric: 's0-redis-q', err: 'connection refused' });
    expect(t.stored().status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'TriggerError' });
    expect(t.stored().status?.triggersActivity).toEqual({ 's0-redis-q': { isActive: false } });
    expect(t.created()).toBe(0);
    expect(await t.metric('keda_scaled_job_errors_total')).toBe(1);
    expect(await t.metric('keda_scaler_detail_errors_total')).toBe(1);
    expect(t.builtScalers()).toBe(2);
  });

  it('with one of two triggers failing, the other still drives Jobs and Ready is Unknown', async () => {
    const triggers = [
      { type: 'redis', metadata: { listName: 'a' } },
      { type: 'redis', metadata: { listName: 'b' } },
    ];
    const t = await setup(scaledJob({ triggers }), [], [new Error('timeout'), { value: 2, active: true }]);
    await t.poller.poll(key);
    expect(t.created()).toBe(2);
    expect(t.stored().status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'PartialTriggerError' });
  });

  it('a refused create stops the round with a Warning event naming the ScaledJob; Jobs made before it count', async () => {
    const t = await setup(scaledJob(), [], [{ value: 3, active: true }]);
    let posts = 0;
    const request = t.client.request.bind(t.client);
    t.client.request = (method, path, options) => {
      if (method !== 'POST' || path !== jobsPath || ++posts !== 2) return request(method, path, options);
      return Promise.reject(KubeApiError.fromResponse('POST', path, 403, { reason: 'Forbidden', message: 'exceeded quota: jobs' }, ''));
    };
    await t.poller.poll(key);
    expect(t.jobsOf()).toHaveLength(1);
    expect(t.events).toContainEqual(expect.stringMatching(/^Warning KEDAJobCreateFailed: Failed to create job for ScaledJob ns\/sj: .*exceeded quota: jobs$/));
    expect(t.events).toContain('Normal KEDAJobsCreated: Created 1 jobs');
    expect(await t.metric('keda_scaled_job_errors_total')).toBe(1);
  });

  it('forgets the Jobs it remembers for a ScaledJob that is gone', async () => {
    const t = await setup(scaledJob(), [], [{ value: 2, active: true }]);
    await t.poller.poll(key);
    t.hideFromCache();
    t.poller.forget(key);
    await t.poller.poll(key);
    expect(t.created()).toBe(4);
  });
});
