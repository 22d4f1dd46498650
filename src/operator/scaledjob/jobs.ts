import type { V1JobSpec } from '@kubernetes/client-node';
import { excludedLabelKeys, KedaAnnotations, KedaLabels } from '../../apis/keda/v1alpha1/annotations.js';
import { ScaledJobDefaults, type ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';

/*
 * What the ScaledJob controller knows about Jobs and their pods, as pure functions over the objects the
 * apiserver returns (timestamps are the JSON strings of watch events): how a Job is built, whether it still
 * runs or waits for a pod, and which finished Jobs fall outside the history limits.
 */

export interface ObjectCondition {
  type: string;
  status: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface JobObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: V1JobSpec;
  status?: { conditions?: ObjectCondition[] };
}

export interface PodObject {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { phase?: string; conditions?: ObjectCondition[] };
}

/** Label the Job controller puts on every pod of a Job (the older `job-name` is also set, but may go away). */
export const JobNameLabel = 'batch.kubernetes.io/job-name';

/**
 * The Job KEDA creates for one unit of work: `generateName: <sj>-`, KEDA's app.kubernetes.io labels plus the
 * ScaledJob's own labels (minus those listed in scaledjob.keda.sh/job-excluded-labels), the ScaledJob's
 * generation plus its annotations, the jobTargetRef as spec with restartPolicy OnFailure when unset (a Job
 * refuses Always, which clients default to), and a controller reference so the Jobs go when the ScaledJob does.
 */
export function buildJob(sj: ScaledJob, version: string): JobObject {
  const name = sj.metadata.name ?? '';
  const excluded = excludedLabelKeys(sj.metadata.annotations, KedaAnnotations.jobExcludedLabels);
  const labels: Record<string, string> = {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/part-of': name,
    'app.kubernetes.io/managed-by': 'keda-operator',
    [KedaLabels.scaledJobName]: name,
  };
  for (const [key, value] of Object.entries(sj.metadata.labels ?? {})) if (!excluded.has(key)) labels[key] = value;
  const annotations = { [KedaAnnotations.jobGeneration]: String(sj.metadata.generation ?? 0), ...(sj.metadata.annotations ?? {}) };
  const spec = structuredClone(sj.spec.jobTargetRef);
  const podSpec = spec.template.spec;
  if (podSpec && !podSpec.restartPolicy) podSpec.restartPolicy = 'OnFailure';
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      generateName: `${name}-`,
      namespace: sj.metadata.namespace ?? '',
      labels,
      annotations,
      ownerReferences: [{ apiVersion: sj.apiVersion, kind: sj.kind, name, uid: sj.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec,
  };
}

export type JobPhase = 'running' | 'succeeded' | 'failed';

/** A Job is finished once it has a Complete or Failed condition that is True; anything else still runs. */
export function jobPhase(job: JobObject): JobPhase {
  for (const condition of job.status?.conditions ?? []) {
    if (condition.status !== 'True') continue;
    if (condition.type === 'Complete') return 'succeeded';
    if (condition.type === 'Failed') return 'failed';
  }
  return 'running';
}

/** Jobs on their way out (deletion requested) no longer count for anything. */
export function liveJobs<J extends JobObject>(jobs: readonly J[]): J[] {
  return jobs.filter((job) => !job.metadata.deletionTimestamp);
}

/**
 * Whether a running Job still waits for its work to start. Without pendingPodConditions: none of its pods is
 * Running or Succeeded. With them: no pod has every listed condition True (e.g. ["Ready", "PodScheduled"]).
 */
export function isJobPending(pods: readonly PodObject[], pendingPodConditions: readonly string[] | undefined): boolean {
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  if (pendingPodConditions && pendingPodConditions.length > 0) {
    return !live.some((pod) => pendingPodConditions.every((type) => pod.status?.conditions?.some((c) => c.type === type && c.status === 'True')));
  }
  return !live.some((pod) => pod.status?.phase === 'Running' || pod.status?.phase === 'Succeeded');
}

export interface JobCounts {
  running: number;
  pending: number;
}

/** Running and pending Jobs of one ScaledJob; `podsOf` gives the pods of a Job by name. */
export function countJobs(jobs: readonly JobObject[], podsOf: (jobName: string) => readonly PodObject[], pendingPodConditions?: readonly string[]): JobCounts {
  let running = 0;
  let pending = 0;
  for (const job of liveJobs(jobs)) {
    if (jobPhase(job) !== 'running') continue;
    running++;
    if (isJobPending(podsOf(job.metadata.name ?? ''), pendingPodConditions)) pending++;
  }
  return { running, pending };
}

export interface HistoryLimits {
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
}

/**
 * The finished Jobs to delete so that at most the limits remain of each kind, oldest (by creation) first.
 * Ties keep the name order so the choice is stable from one poll to the next.
 */
export function jobsBeyondHistory<J extends JobObject>(jobs: readonly J[], limits: HistoryLimits): J[] {
  const live = liveJobs(jobs);
  const oldestFirst = (phase: JobPhase): J[] => live.filter((job) => jobPhase(job) === phase).sort((a, b) => creationOrder(a, b));
  const excess = (list: J[], limit: number): J[] => list.slice(0, Math.max(0, list.length - limit));
  return [
    ...excess(oldestFirst('succeeded'), limits.successfulJobsHistoryLimit ?? ScaledJobDefaults.successfulJobsHistoryLimit),
    ...excess(oldestFirst('failed'), limits.failedJobsHistoryLimit ?? ScaledJobDefaults.failedJobsHistoryLimit),
  ];
}

function creationOrder(a: JobObject, b: JobObject): number {
  const at = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const bt = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  return at - bt || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

export type RolloutStrategy = 'gradual' | 'immediate';

/** `rollout.strategy`, else the deprecated `rolloutStrategy`; anything but gradual replaces running Jobs. */
export function rolloutOf(sj: ScaledJob): { strategy: RolloutStrategy; propagationPolicy: 'Foreground' | 'Background' } {
  const gradual = sj.spec.rollout?.strategy === 'gradual' || sj.spec.rolloutStrategy === 'gradual';
  const policy = sj.spec.rollout?.propagationPolicy ?? ScaledJobDefaults.propagationPolicy;
  return { strategy: gradual ? 'gradual' : 'immediate', propagationPolicy: policy === 'foreground' ? 'Foreground' : 'Background' };
}

/**
 * Jobs an immediate rollout must delete: those created from another generation of the ScaledJob. Comparing
 * the generation each Job records (rather than remembering the last spec seen) keeps this correct across
 * operator restarts, and never touches the Jobs of the current spec.
 */
export function jobsOfOtherGenerations<J extends JobObject>(jobs: readonly J[], generation: number | undefined): J[] {
  const current = String(generation ?? 0);
  return liveJobs(jobs).filter((job) => {
    const recorded = job.metadata.annotations?.[KedaAnnotations.jobGeneration];
    return recorded !== undefined && recorded !== current;
  });
}
