import { ScaledJobDefaults, type ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import type { Logger } from '../../log.js';
import { combineTriggerQueues, decideScaledJob, scaledJobMaxReplicaCount } from '../../scaling/scaledjob.js';
import type { EventRecorder } from '../events.js';
import { resourcePath, type KubeClient } from '../../kube/client.js';
import type { ObjectCache } from '../object-cache.js';
import type { ScalersCache, TriggerScaler } from '../scalers-cache.js';
import { findCondition, setConditions } from '../status.js';
import { buildJob, countJobs, JobNameLabel, jobPhase, jobsBeyondHistory, liveJobs, type JobObject, type PodObject } from './jobs.js';
import type { ScaledJobMetrics } from './metrics.js';
import { triggerQueues, type MetricRead } from './readings.js';
import { deleteJob, scaledJobPaused, type JobCache } from './reconciler.js';
import { involvedScaledJob, type ScaledJobStatusWriter } from './status.js';

export interface ScaledJobPollerDeps {
  log: Logger;
  client: KubeClient;
  now: () => number;
  version: string;
  scaledJobs: ObjectCache<ScaledJob>;
  jobs: JobCache;
  scalers: ScalersCache;
  events: EventRecorder;
  metrics: ScaledJobMetrics;
  status: ScaledJobStatusWriter;
}

/** Jobs created but not yet seen in the cache count as running and pending for this long at most. */
const unseenCreationGraceMs = 60_000;

/** Job names per pod list request, so the label selector stays a reasonable length. */
const podListChunk = 50;

/**
 * One poll of one ScaledJob (KEDA's checkScalers + RequestJobScale): read every trigger, count the Jobs still
 * running and those still waiting for a pod, let the pure strategy arithmetic say how many Jobs to create,
 * create them, trim the finished ones beyond the history limits, and write status and events.
 */
export class ScaledJobPoller {
  /** Jobs this operator created that the informer has not shown yet, so a quick next poll does not overshoot. */
  private readonly unseen = new Map<string, Map<string, number>>();

  constructor(private readonly deps: ScaledJobPollerDeps) {}

  async poll(key: string): Promise<void> {
    const cached = this.deps.scaledJobs.get(key);
    const set = this.deps.scalers.get(key);
    if (!cached || !set || cached.metadata.deletionTimestamp || scaledJobPaused(cached.metadata.annotations)) return;
    const sj = this.deps.status.current(key, cached);
    const namespace = sj.metadata.namespace ?? '';
    const name = sj.metadata.name ?? '';
    const intervalMs = (sj.spec.pollingInterval ?? ScaledJobDefaults.pollingInterval) * 1000;
    const reads = await this.readAll(sj, set.triggers, intervalMs);
    const { queues, isError } = triggerQueues(reads);
    const spec = sj.spec;
    const combined = combineTriggerQueues(queues, {
      ...(spec.scalingStrategy?.multipleScalersCalculation ? { calculation: spec.scalingStrategy.multipleScalersCalculation } : {}),
      ...(spec.minReplicaCount !== undefined ? { minReplicaCount: spec.minReplicaCount } : {}),
      maxReplicaCount: scaledJobMaxReplicaCount(spec),
    });
    const jobs = this.deps.jobs.jobsOf(namespace, name);
    const counts = await this.countJobs(key, namespace, jobs, spec.scalingStrategy?.pendingPodConditions);
    const now = this.deps.now();
    const lastActive = sj.status?.lastActiveTime ? Date.parse(sj.status.lastActiveTime) : NaN;
    const previousActive = findCondition(sj.status?.conditions, 'Active')?.status;
    const decision = decideScaledJob({
      spec,
      combined,
      runningJobs: counts.running,
      pendingJobs: counts.pending,
      isError,
      ...(previousActive !== undefined ? { previousActiveStatus: previousActive } : {}),
      ...(Number.isNaN(lastActive) ? {} : { lastActiveTime: lastActive }),
      now,
    });
    const created = await this.createJobs(key, sj, decision.jobsToCreate);
    await this.trimHistory(sj, jobs);
    await this.deps.status.patch(key, sj, {
      conditions: setConditions(sj.status?.conditions, decision.conditions),
      ...(decision.lastActiveTime !== undefined ? { lastActiveTime: new Date(decision.lastActiveTime).toISOString().replace(/\.\d+Z$/, 'Z') } : {}),
      triggersActivity: Object.fromEntries(reads.map((r) => [r.metricName, { isActive: r.error === undefined && r.active }])),
    });
    for (const event of decision.events) {
      if (event.reason !== 'KEDAJobsCreated') this.deps.events.emit(involvedScaledJob(sj), event.type, event.reason, event.message);
    }
    if (created > 0) this.deps.events.emit(involvedScaledJob(sj), 'Normal', 'KEDAJobsCreated', `Created ${created} jobs`);
    this.deps.log.debug({ scaledJob: key, ...counts, active: combined.isActive, queue: combined.scaleTo, toCreate: decision.jobsToCreate, created }, 'polled');
    if (isError) {
      this.deps.metrics.jobError(namespace, name);
      // As KEDA does: a failed read drops the scalers, so the next poll reconnects.
      await this.deps.scalers.refresh(key).catch((err: unknown) => this.deps.log.warn({ scaledJob: key, err: String(err) }, 'rebuilding scalers failed'));
    }
  }

  forget(key: string): void {
    this.unseen.delete(key);
  }

  private async readAll(sj: ScaledJob, triggers: readonly TriggerScaler[], intervalMs: number): Promise<MetricRead[]> {
    const namespace = sj.metadata.namespace ?? '';
    const name = sj.metadata.name ?? '';
    const wanted = triggers.flatMap((trigger) => trigger.scaler.metricSpecs.flatMap((spec) => (spec.kind === 'External' ? [{ trigger, spec }] : [])));
    return Promise.all(
      wanted.map(async ({ trigger, spec }): Promise<MetricRead> => {
        const labels = { namespace, scaledJob: name, scaler: trigger.label, triggerIndex: trigger.index, metric: spec.metricName };
        const base = { triggerIndex: trigger.index, metricName: spec.metricName, targetType: spec.targetType, target: spec.target };
        const started = performance.now();
        try {
          const reading = await trigger.scaler.read(spec.metricName, { maxAgeMs: intervalMs });
          this.deps.metrics.scalerReading(labels, { value: reading.value, active: reading.active, latencySeconds: (performance.now() - started) / 1000 });
          return { ...base, value: reading.value, active: reading.active };
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.deps.metrics.scalerError(labels);
          this.deps.log.warn({ scaledJob: `${namespace}/${name}`, metric: spec.metricName, err: message }, 'scaler read failed');
          this.deps.events.emit(involvedScaledJob(sj), 'Warning', 'KEDAScalerFailed', `${spec.metricName}: ${message}`);
          return { ...base, active: false, error: message };
        }
      }),
    );
  }

  private async countJobs(key: string, namespace: string, jobs: readonly JobObject[], pendingPodConditions: readonly string[] | undefined) {
    const running = liveJobs(jobs).filter((job) => jobPhase(job) === 'running');
    const pods = await this.podsOf(
      namespace,
      running.map((job) => job.metadata.name ?? ''),
    );
    const counts = countJobs(jobs, (jobName) => pods.get(jobName) ?? [], pendingPodConditions);
    const unseen = this.unseenCreations(key, jobs);
    return { running: counts.running + unseen, pending: counts.pending + unseen };
  }

  /** The pods of the given Jobs, by Job name, in as few list requests as the selector length allows. */
  private async podsOf(namespace: string, jobNames: readonly string[]): Promise<Map<string, PodObject[]>> {
    const byJob = new Map<string, PodObject[]>();
    for (let i = 0; i < jobNames.length; i += podListChunk) {
      const names = jobNames.slice(i, i + podListChunk);
      const list = await this.deps.client.request<{ items?: PodObject[] }>('GET', resourcePath({ group: '', version: 'v1', resource: 'pods', namespace }), {
        query: { labelSelector: `${JobNameLabel} in (${names.join(',')})` },
      });
      for (const pod of list.items ?? []) {
        const job = pod.metadata?.labels?.[JobNameLabel];
        if (job) byJob.set(job, [...(byJob.get(job) ?? []), pod]);
      }
    }
    return byJob;
  }

  /** Counts (and forgets once seen or too old) the Jobs created by earlier polls that the cache lacks. */
  private unseenCreations(key: string, jobs: readonly JobObject[]): number {
    const created = this.unseen.get(key);
    if (!created) return 0;
    const seen = new Set(jobs.map((job) => job.metadata.name));
    const now = this.deps.now();
    for (const [name, at] of created) if (seen.has(name) || now - at > unseenCreationGraceMs) created.delete(name);
    if (created.size === 0) this.unseen.delete(key);
    return created.size;
  }

  /** Creates up to `count` Jobs; returns how many were created. A failure stops this round and is reported. */
  private async createJobs(key: string, sj: ScaledJob, count: number): Promise<number> {
    if (count <= 0) return 0;
    const namespace = sj.metadata.namespace ?? '';
    const path = resourcePath({ group: 'batch', version: 'v1', resource: 'jobs', namespace });
    const body = buildJob(sj, this.deps.version);
    let created = 0;
    try {
      for (; created < count; created++) {
        const job = await this.deps.client.request<JobObject>('POST', path, { body });
        this.remember(key, job.metadata.name ?? '');
      }
    } catch (err) {
      const message = `Failed to create job for ScaledJob ${namespace}/${sj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`;
      this.deps.log.warn({ scaledJob: key, created, wanted: count, err: message }, 'creating jobs failed');
      this.deps.events.emit(involvedScaledJob(sj), 'Warning', 'KEDAJobCreateFailed', message);
      this.deps.metrics.jobError(namespace, sj.metadata.name ?? '');
    }
    this.deps.metrics.created(namespace, sj.metadata.name ?? '', created);
    if (created > 0) this.deps.log.info({ scaledJob: key, created }, 'created jobs');
    return created;
  }

  private remember(key: string, jobName: string): void {
    let created = this.unseen.get(key);
    if (!created) this.unseen.set(key, (created = new Map<string, number>()));
    created.set(jobName, this.deps.now());
  }

  /** Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit. */
  private async trimHistory(sj: ScaledJob, jobs: readonly JobObject[]): Promise<void> {
    const excess = jobsBeyondHistory(jobs, sj.spec);
    const namespace = sj.metadata.namespace ?? '';
    for (const job of excess) {
      try {
        await deleteJob(this.deps.client, namespace, job.metadata.name ?? '', 'Background');
      } catch (err) {
        this.deps.log.warn({ scaledJob: `${namespace}/${sj.metadata.name}`, job: job.metadata.name, err: String(err) }, 'deleting finished job failed');
      }
    }
    if (excess.length > 0) this.deps.log.info({ scaledJob: `${namespace}/${sj.metadata.name}`, deleted: excess.length }, 'trimmed job history');
  }
}
