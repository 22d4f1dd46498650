import { describe, expect, it } from 'vitest';
import type { ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import { buildJob, countJobs, isJobPending, jobPhase, jobsBeyondHistory, jobsOfOtherGenerations, rolloutOf, type JobObject, type PodObject } from './jobs.js';

function scaledJob(
  overrides: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    restartPolicy?: string;
    generation?: number;
    spec?: Partial<ScaledJob['spec']>;
  } = {},
): ScaledJob {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: {
      name: 'encode',
      namespace: 'media',
      uid: 'uid-1',
      generation: overrides.generation ?? 3,
      labels: overrides.labels,
      annotations: overrides.annotations,
    },
    spec: {
      jobTargetRef: {
        backoffLimit: 2,
        template: {
          spec: { containers: [{ name: 'worker', image: 'worker:1' }], ...(overrides.restartPolicy ? { restartPolicy: overrides.restartPolicy } : {}) },
        },
      },
      triggers: [{ type: 'redis', metadata: { listName: 'q' } }],
      ...overrides.spec,
    },
  };
}

describe('buildJob', () => {
  it('shapes the Job as KEDA does: name prefix, labels, annotations, owner, restart policy', () => {
    const job = buildJob(scaledJob({ labels: { team: 'video', 'app.kubernetes.io/name': 'custom' }, annotations: { note: 'x' } }), '0.1.0');
    expect(job.metadata.generateName).toBe('encode-');
    expect(job.metadata.namespace).toBe('media');
    expect(job.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'custom',
      'app.kubernetes.io/version': '0.1.0',
      'app.kubernetes.io/part-of': 'encode',
      'app.kubernetes.io/managed-by': 'keda-operator',
      'scaledjob.keda.sh/name': 'encode',
      team: 'video',
    });
    expect(job.metadata.annotations).toEqual({ 'scaledjob.keda.sh/generation': '3', note: 'x' });
    expect(job.metadata.ownerReferences).toEqual([
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', name: 'encode', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
    ]);
    expect(job.spec?.backoffLimit).toBe(2);
    expect(job.spec?.template.spec?.restartPolicy).toBe('OnFailure');
  });

  it.each([
    { restartPolicy: undefined, expected: 'OnFailure' },
    { restartPolicy: 'Never', expected: 'Never' },
    { restartPolicy: 'OnFailure', expected: 'OnFailure' },
  ])('restartPolicy $restartPolicy becomes $expected', ({ restartPolicy, expected }) => {
    expect(buildJob(scaledJob(restartPolicy ? { restartPolicy } : {}), 'v').spec?.template.spec?.restartPolicy).toBe(expected);
  });

  it('leaves out the labels listed in scaledjob.keda.sh/job-excluded-labels', () => {
    const sj = scaledJob({ labels: { team: 'video', secret: 'no', other: 'yes' }, annotations: { 'scaledjob.keda.sh/job-excluded-labels': 'secret, other' } });
    const labels = buildJob(sj, 'v').metadata.labels ?? {};
    expect(labels.team).toBe('video');
    expect(labels).not.toHaveProperty('secret');
    expect(labels).not.toHaveProperty('other');
  });

  it('does not modify the ScaledJob it was built from', () => {
    const sj = scaledJob();
    buildJob(sj, 'v');
    expect(sj.spec.jobTargetRef.template.spec?.restartPolicy).toBeUndefined();
  });
});

const job = (
  name: string,
  conditions: { type: string; status: string }[] = [],
  created = '2025-01-01T00:00:00Z',
  extra: Partial<JobObject['metadata']> = {},
): JobObject => ({
  metadata: { name, creationTimestamp: created, ...extra },
  status: { conditions },
});
const complete = [{ type: 'Complete', status: 'True' }];
const failed = [{ type: 'Failed', status: 'True' }];

describe('jobPhase', () => {
  it.each([
    { conditions: [], phase: 'running' },
    { conditions: complete, phase: 'succeeded' },
    { conditions: failed, phase: 'failed' },
    { conditions: [{ type: 'Complete', status: 'False' }], phase: 'running' },
    { conditions: [{ type: 'Suspended', status: 'True' }], phase: 'running' },
    { conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }], phase: 'running' },
  ])('$conditions → $phase', ({ conditions, phase }) => {
    expect(jobPhase(job('j', conditions))).toBe(phase);
  });
});

const pod = (phase: string, conditions: string[] = [], deleting = false): PodObject => ({
  metadata: { name: 'p', ...(deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
  status: { phase, conditions: conditions.map((type) => ({ type, status: 'True' })) },
});

describe('isJobPending', () => {
  it.each([
    { what: 'no pod yet', pods: [], conditions: undefined, pending: true },
    { what: 'a pending pod', pods: [pod('Pending')], conditions: undefined, pending: true },
    { what: 'a running pod', pods: [pod('Running')], conditions: undefined, pending: false },
    { what: 'a succeeded pod', pods: [pod('Succeeded')], conditions: undefined, pending: false },
    { what: 'a failed pod only', pods: [pod('Failed')], conditions: undefined, pending: true },
    { what: 'a running pod being deleted', pods: [pod('Running', [], true)], conditions: undefined, pending: true },
    { what: 'running but not all conditions', pods: [pod('Running', ['PodScheduled'])], conditions: ['PodScheduled', 'Ready'], pending: true },
    {
      what: 'one pod with all conditions',
      pods: [pod('Pending', ['PodScheduled']), pod('Running', ['PodScheduled', 'Ready'])],
      conditions: ['PodScheduled', 'Ready'],
      pending: false,
    },
    {
      what: 'conditions split across pods',
      pods: [pod('Running', ['PodScheduled']), pod('Running', ['Ready'])],
      conditions: ['PodScheduled', 'Ready'],
      pending: true,
    },
    { what: 'empty condition list falls back to phases', pods: [pod('Running')], conditions: [], pending: false },
  ])('$what → pending=$pending', ({ pods, conditions, pending }) => {
    expect(isJobPending(pods, conditions)).toBe(pending);
  });
});

describe('countJobs', () => {
  it('counts unfinished Jobs as running and those without a started pod as pending; deleting Jobs not at all', () => {
    const jobs = [job('a'), job('b'), job('c', complete), job('d', failed), job('e', [], undefined, { deletionTimestamp: '2025-01-01T00:00:00Z' })];
    const pods: Record<string, PodObject[]> = { a: [pod('Running')], b: [pod('Pending')], e: [pod('Pending')] };
    expect(countJobs(jobs, (name) => pods[name] ?? [])).toEqual({ running: 2, pending: 1 });
  });
});

describe('jobsBeyondHistory', () => {
  const at = (minute: number) => `2025-01-01T00:${String(minute).padStart(2, '0')}:00Z`;
  const jobs = [
    job('s3', complete, at(3)),
    job('s1', complete, at(1)),
    job('s2', complete, at(2)),
    job('f1', failed, at(1)),
    job('f2', failed, at(2)),
    job('r1', [], at(0)),
    job('s0-deleting', complete, at(0), { deletionTimestamp: at(5) }),
  ];
  it.each([
    { limits: { successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 1 }, expected: ['s1', 's2', 'f1'] },
    { limits: { successfulJobsHistoryLimit: 0, failedJobsHistoryLimit: 0 }, expected: ['s1', 's2', 's3', 'f1', 'f2'] },
    { limits: { successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 2 }, expected: [] },
    { limits: { successfulJobsHistoryLimit: 2 }, expected: ['s1'] },
    { limits: {}, expected: [] },
  ])('limits $limits delete $expected (oldest first, running and deleting Jobs never)', ({ limits, expected }) => {
    expect(jobsBeyondHistory(jobs, limits).map((j) => j.metadata.name)).toEqual(expected);
  });

  it('breaks creation-time ties by name so repeated polls choose the same Jobs', () => {
    const tied = [job('b', complete, at(1)), job('a', complete, at(1)), job('c', complete, at(1))];
    expect(jobsBeyondHistory(tied, { successfulJobsHistoryLimit: 1 }).map((j) => j.metadata.name)).toEqual(['a', 'b']);
  });
});

describe('rollout', () => {
  it.each([
    { spec: {}, strategy: 'immediate', policy: 'Background' },
    { spec: { rolloutStrategy: 'gradual' as const }, strategy: 'gradual', policy: 'Background' },
    { spec: { rollout: { strategy: 'gradual' as const } }, strategy: 'gradual', policy: 'Background' },
    { spec: { rollout: { strategy: 'immediate' as const, propagationPolicy: 'foreground' as const } }, strategy: 'immediate', policy: 'Foreground' },
    { spec: { rolloutStrategy: 'immediate' as const, rollout: { propagationPolicy: 'background' as const } }, strategy: 'immediate', policy: 'Background' },
  ])('$spec → $strategy with $policy propagation', ({ spec, strategy, policy }) => {
    expect(rolloutOf(scaledJob({ spec }))).toEqual({ strategy, propagationPolicy: policy });
  });

  it('selects the live Jobs recorded under another generation', () => {
    const gen = (name: string, generation: string | undefined, extra: Partial<JobObject['metadata']> = {}) =>
      job(name, [], undefined, { annotations: generation === undefined ? {} : { 'scaledjob.keda.sh/generation': generation }, ...extra });
    const jobs = [
      gen('old', '1'),
      gen('current', '2'),
      gen('untracked', undefined),
      gen('old-deleting', '1', { deletionTimestamp: '2025-01-01T00:00:00Z' }),
      { ...gen('old-done', '1'), status: { conditions: complete } },
    ];
    expect(jobsOfOtherGenerations(jobs, 2).map((j) => j.metadata.name)).toEqual(['old', 'old-done']);
  });
});
