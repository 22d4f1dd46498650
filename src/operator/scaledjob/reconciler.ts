import { KedaAnnotations, KedaFinalizer, parseGoBool } from '../../apis/keda/v1alpha1/annotations.js';
import { ScaledJobDefaults, type ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import type { KedaValidator } from '../../apis/keda/v1alpha1/validator.js';
import { splitObjectKey } from '../../controller/keys.js';
import { describeApiError, isConflict, isNotFound } from '../../kube/errors.js';
import type { Logger } from '../../log.js';
import type { DependencyIndex } from '../dependencies.js';
import type { EventRecorder } from '../events.js';
import { resourcePath, type KubeClient } from '../../kube/client.js';
import type { ObjectCache, PollRegistry } from '../object-cache.js';
import { TriggersInvalidError, type ScalersCache } from '../scalers-cache.js';
import { findCondition, setConditions } from '../status.js';
import { jobsOfOtherGenerations, rolloutOf, type JobObject } from './jobs.js';
import type { ScaledJobMetrics } from './metrics.js';
import type { AuthObjectSources } from '../scaler-inputs.js';
import { resolveScaledJobInputs } from './scaler-inputs.js';
import { involvedScaledJob, ScaledJobReconcileConditions, scaledJobPath, type ScaledJobStatusWriter } from './status.js';

export interface JobCache {
  /** The Jobs labelled scaledjob.keda.sh/name=<name> in the namespace, as last observed. */
  jobsOf(namespace: string, scaledJobName: string): JobObject[];
}

export interface ScaledJobReconcilerDeps {
  log: Logger;
  client: KubeClient;
  scaledJobs: ObjectCache<ScaledJob>;
  jobs: JobCache;
  auth: AuthObjectSources;
  /** What each ScaledJob's scalers were built from, so a change to one of those objects reconciles it again. */
  dependencies: DependencyIndex;
  scalers: ScalersCache;
  events: EventRecorder;
  metrics: ScaledJobMetrics;
  status: ScaledJobStatusWriter;
  polling: PollRegistry;
  validator: KedaValidator;
}

/** Ready reasons the poll owns; a reconcile does not overwrite them with ScaledJobReady. */
const readyReasonsOwnedByPoll = new Set(['PartialTriggerError', 'TriggerError']);

/** KEDA's pause for ScaledJobs: only `autoscaling.keda.sh/paused`, true unless it parses as false. */
export function scaledJobPaused(annotations: Readonly<Record<string, string>> | undefined): boolean {
  const raw = annotations?.[KedaAnnotations.paused];
  return raw !== undefined && parseGoBool(raw) !== false;
}

/**
 * Level-triggered reconcile of one ScaledJob: finalizer, pause, validation, the rollout of a changed spec,
 * scalers built from the triggers and their authentication, status, and the poll scheduled. It writes only
 * what differs, so it can run any number of times.
 */
export class ScaledJobReconciler {
  constructor(private readonly deps: ScaledJobReconcilerDeps) {}

  async reconcile(key: string): Promise<void> {
    const cached = this.deps.scaledJobs.get(key);
    if (!cached) {
      await this.forget(key);
      return;
    }
    const sj = this.deps.status.current(key, cached);
    if (sj.metadata.deletionTimestamp) {
      await this.finalize(key, sj);
      return;
    }
    const finalizers = sj.metadata.finalizers ?? [];
    if (!finalizers.includes(KedaFinalizer)) {
      // The watch delivers the patched object, which brings the next round.
      await this.patchMetadata(sj, { resourceVersion: sj.metadata.resourceVersion, finalizers: [...finalizers, KedaFinalizer] });
      return;
    }
    this.deps.metrics.registered(sj.metadata.namespace ?? '', sj.metadata.name ?? '');
    if (scaledJobPaused(sj.metadata.annotations)) {
      await this.pause(key, sj);
      return;
    }
    const problems = this.problems(sj);
    if (problems.length > 0) {
      await this.reportCheckFailed(key, sj, problems.join('; '));
      return;
    }
    await this.rollout(sj);
    const resolved = await resolveScaledJobInputs(sj, this.deps.auth);
    this.deps.dependencies.set(key, resolved.dependencies);
    for (const warning of resolved.warnings) this.deps.log.warn({ scaledJob: key, warning }, 'trigger authentication problem');
    let metricNames: string[];
    try {
      const set = await this.deps.scalers.ensure(key, resolved.inputs);
      metricNames = set.metricSpecs.flatMap((s) => (s.kind === 'External' ? [s.metricName] : []));
    } catch (err) {
      if (!(err instanceof TriggersInvalidError)) throw err;
      await this.reportCheckFailed(key, sj, err.message);
      return;
    }
    await this.writeReadyStatus(key, sj, metricNames);
    this.deps.polling.schedule(key, (sj.spec.pollingInterval ?? ScaledJobDefaults.pollingInterval) * 1000);
  }

  /** Stops everything run for a ScaledJob that is gone. */
  async forget(key: string): Promise<void> {
    this.deps.polling.unschedule(key);
    this.deps.dependencies.remove(key);
    await this.deps.scalers.remove(key);
    const { namespace, name } = splitObjectKey(key);
    this.deps.metrics.forget(namespace ?? '', name);
    this.deps.status.forget(key);
  }

  /** Schema and KEDA's rules; each problem names its field. */
  private problems(sj: ScaledJob): string[] {
    const result = this.deps.validator.validate(sj);
    return (result?.errors ?? []).map((e) => `${e.path}: ${e.message}`);
  }

  /** The Jobs go with the ScaledJob through their owner reference; KEDA's finalizer only stops the loop. */
  private async finalize(key: string, sj: ScaledJob): Promise<void> {
    await this.forget(key);
    const finalizers = sj.metadata.finalizers ?? [];
    if (!finalizers.includes(KedaFinalizer)) return;
    await this.patchMetadata(sj, { resourceVersion: sj.metadata.resourceVersion, finalizers: finalizers.filter((f) => f !== KedaFinalizer) });
    this.deps.events.emit(involvedScaledJob(sj), 'Normal', 'ScaledJobDeleted', 'ScaledJob was deleted');
  }

  private async pause(key: string, sj: ScaledJob): Promise<void> {
    this.deps.polling.unschedule(key);
    const wasPaused = findCondition(sj.status?.conditions, 'Paused')?.status === 'True';
    await this.deps.status.patch(key, sj, { Paused: 'true', conditions: setConditions(sj.status?.conditions, [ScaledJobReconcileConditions.paused]) });
    if (!wasPaused) this.deps.events.emit(involvedScaledJob(sj), 'Normal', 'ScaledJobPaused', 'ScaledJob is paused');
  }

  private async reportCheckFailed(key: string, sj: ScaledJob, message: string): Promise<void> {
    this.deps.polling.unschedule(key);
    this.deps.metrics.jobError(sj.metadata.namespace ?? '', sj.metadata.name ?? '');
    const previous = findCondition(sj.status?.conditions, 'Ready');
    await this.deps.status.patch(key, sj, {
      conditions: setConditions(sj.status?.conditions, [ScaledJobReconcileConditions.checkFailed(message), ScaledJobReconcileConditions.unknownActivity]),
    });
    if (previous?.reason !== 'ScaledJobCheckFailed' || previous.message !== message) {
      this.deps.log.info({ scaledJob: key, message }, 'ScaledJob check failed');
      this.deps.events.emit(involvedScaledJob(sj), 'Warning', 'ScaledJobCheckFailed', message);
    }
  }

  /** An immediate rollout deletes the Jobs an earlier spec created; a gradual one lets them finish. */
  private async rollout(sj: ScaledJob): Promise<void> {
    const { strategy, propagationPolicy } = rolloutOf(sj);
    if (strategy === 'gradual') return;
    const namespace = sj.metadata.namespace ?? '';
    const stale = jobsOfOtherGenerations(this.deps.jobs.jobsOf(namespace, sj.metadata.name ?? ''), sj.metadata.generation);
    if (stale.length === 0) return;
    for (const job of stale) await deleteJob(this.deps.client, namespace, job.metadata.name ?? '', propagationPolicy);
    const message = `Deleted jobs owned by the previous version of the ScaledJob: ${stale.length} jobs deleted`;
    this.deps.log.info({ scaledJob: `${namespace}/${sj.metadata.name}`, deleted: stale.length, propagationPolicy }, 'rollout deleted previous jobs');
    this.deps.events.emit(involvedScaledJob(sj), 'Normal', 'ScaledJobRolloutJobsDeleted', message);
  }

  private async writeReadyStatus(key: string, sj: ScaledJob, metricNames: string[]): Promise<void> {
    const conditions = sj.status?.conditions;
    const ready = findCondition(conditions, 'Ready');
    const becameReady = ready?.status !== 'True' && !readyReasonsOwnedByPoll.has(ready?.reason ?? '');
    const wasPaused = findCondition(conditions, 'Paused')?.status === 'True';
    const updates = [...(becameReady ? [ScaledJobReconcileConditions.ready] : []), ...(wasPaused ? [ScaledJobReconcileConditions.unpaused] : [])];
    const authNames = sj.spec.triggers.map((t) => t.authenticationRef?.name).filter((n): n is string => Boolean(n));
    await this.deps.status.patch(key, sj, {
      triggersTypes: sj.spec.triggers.map((t) => t.type).join(','),
      authenticationsTypes: authNames.length > 0 ? authNames.join(',') : null,
      externalMetricNames: metricNames,
      Paused: null,
      ...(updates.length > 0 ? { conditions: setConditions(conditions, updates) } : {}),
    });
    if (becameReady) this.deps.events.emit(involvedScaledJob(sj), 'Normal', 'ScaledJobReady', 'ScaledJob is ready for scaling');
    if (wasPaused) this.deps.events.emit(involvedScaledJob(sj), 'Normal', 'ScaledJobUnpaused', 'ScaledJob was unpaused');
  }

  private async patchMetadata(sj: ScaledJob, metadata: Record<string, unknown>): Promise<void> {
    try {
      await this.deps.client.request('PATCH', scaledJobPath(sj), { body: { metadata }, contentType: 'application/merge-patch+json' });
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err))
        throw new Error(`ScaledJob ${sj.metadata.namespace}/${sj.metadata.name} changed meanwhile: ${describeApiError(err)}`, { cause: err });
      throw err;
    }
  }
}

/** Deletes one Job and, per the propagation policy, its pods; a Job already gone is fine. */
export async function deleteJob(client: KubeClient, namespace: string, name: string, propagationPolicy: 'Foreground' | 'Background'): Promise<void> {
  try {
    await client.request('DELETE', resourcePath({ group: 'batch', version: 'v1', resource: 'jobs', namespace, name }), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
