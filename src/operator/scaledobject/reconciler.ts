import { KedaAnnotations, KedaFinalizer, KedaLabels, readPauseState, type PauseState } from '../../apis/keda/v1alpha1/annotations.js';
import { ScaledObjectDefaults, type ScaledObject, type ScaledObjectStatus } from '../../apis/keda/v1alpha1/scaledobject.js';
import { apiStatusCode, describeApiError, isConflict, isNotFound } from '../../kube/errors.js';
import { splitObjectKey } from '../../controller/keys.js';
import type { Logger } from '../../log.js';
import type { MetricSpec } from '../../../scalers/scaler.js';
import type { KeyLookup } from '../container-env.js';
import type { DependencyIndex } from '../dependencies.js';
import type { EventRecorder } from '../events.js';
import { resolveScalerInputs, type ScalerInputSources } from './scaler-inputs.js';
import { HpaBuildError, type HpaPlanner, type HorizontalPodAutoscaler } from './hpa.js';
import { resourcePath, type KubeClient } from '../../kube/client.js';
import type { OperatorMetrics } from '../metrics.js';
import { scaleTargetKind, ScaleTargetError, type Gvkr, type ScaleTargets } from './scale-target.js';
import { TriggersInvalidError, type ScalersCache } from '../scalers-cache.js';
import { findCondition, setConditions, type Condition } from '../status.js';
import { competingScaledObject, hpaOwnership, ScaleTargetIndex, scaledObjectTargetKeys, targetApiVersion, targetKind } from '../../scaling/target-conflicts.js';
import type { StatusWriter } from './status-writer.js';
import type { IndexedObjectCache, PollRegistry } from '../object-cache.js';
import { involved, scaledObjectPath } from './object-ref.js';
import type { LastReadings } from './last-readings.js';
import { activeScalingModifiers, CompositeMetricName } from '../../scaling/formula.js';

export interface ReconcilerDeps {
  log: Logger;
  client: KubeClient;
  /** Indexed by {@link ScaleTargetIndex}. */
  scaledObjects: IndexedObjectCache<ScaledObject>;
  /** Every HPA in scope, owned or not, indexed by {@link ScaleTargetIndex}. */
  hpas: IndexedObjectCache<HorizontalPodAutoscaler>;
  sources: Omit<ScalerInputSources, 'lookup'> & { lookup: KeyLookup };
  targets: ScaleTargets;
  scalers: ScalersCache;
  hpaPlanner: HpaPlanner;
  events: EventRecorder;
  metrics: OperatorMetrics;
  polling: PollRegistry;
  dependencies: DependencyIndex;
  status: StatusWriter;
  readings: LastReadings;
  /** Semantic validation (replica bounds, trigger names, fallback...); each entry names its field. */
  validate(so: ScaledObject): string[];
}

export interface ReconcileOutcome {
  requeueAfterMs?: number;
}

const MISSING_TARGET_RECHECK_MS = 10_000;

const readyReasonsOwnedByLoop = new Set(['PartialTriggerError', 'TriggerError', 'ErrorGettingCurrentReplicas']);

/** Refusal the user must fix; reported on the object, not retried with backoff. */
class CheckFailed extends Error {
  constructor(
    message: string,
    readonly prefix = 'ScaledObject check failed',
  ) {
    super(message);
  }
}

/** A write of the owned HPA that failed for a reason that may pass (apiserver busy or down): reported, then retried. */
class HpaWriteFailed extends Error {}

/** KEDA's words when the HPA cannot be made, followed by the apiserver's, which name the offending field. */
const hpaFailurePrefix = 'Failed to ensure HPA is correctly created for ScaledObject';

/**
 * Level-triggered reconcile of one ScaledObject: whatever happened, bring the cluster to what the object
 * asks for (finalizer and label, target recorded, scalers built, HPA owned and current, status written,
 * polling scheduled). Safe to run any number of times; it writes only what differs.
 */
export class ScaledObjectReconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const cached = this.deps.scaledObjects.get(key);
    if (!cached) {
      await this.forget(key);
      return {};
    }
    const current = this.deps.status.current(key, cached);
    if (current.metadata.deletionTimestamp) {
      await this.finalize(key, current);
      return {};
    }
    // A new object gets its finalizer and converges in the same pass, from the copy the patch returned.
    const so = await this.ensureFinalizerAndLabel(key, current);
    if (!so) return {};
    try {
      await this.converge(key, so);
      return {};
    } catch (err) {
      if (err instanceof CheckFailed || err instanceof TriggersInvalidError || err instanceof ScaleTargetError || err instanceof HpaBuildError) {
        await this.reportCheckFailed(key, so, err instanceof CheckFailed ? `${err.prefix}: ${err.message}` : err.message);
        // Nothing watches scale targets: look again later in case the missing one appears.
        return err instanceof ScaleTargetError ? { requeueAfterMs: MISSING_TARGET_RECHECK_MS } : {};
      }
      // Anything else is retried with backoff, but the object says why it is not scaling meanwhile.
      if (!isConflict(err) && !isNotFound(err)) {
        const message = err instanceof HpaWriteFailed ? err.message : `ScaledObject reconcile failed: ${describeApiError(err)}`;
        await this.reportCheckFailed(key, so, message, { keepPolling: true }).catch((reportErr: unknown) =>
          this.deps.log.warn({ scaledObject: key, err: describeApiError(reportErr) }, 'could not report the failure on the ScaledObject'),
        );
      }
      throw err;
    }
  }

  /** Stops everything the operator runs for an object that is gone. */
  async forget(key: string): Promise<void> {
    this.deps.polling.unschedule(key);
    this.deps.dependencies.remove(key);
    await this.deps.scalers.remove(key);
    const { namespace, name } = splitObjectKey(key);
    this.deps.metrics.forget(namespace ?? '', name);
    this.deps.status.forget(key);
    this.deps.readings.forget(key);
  }

  private async converge(key: string, so: ScaledObject): Promise<void> {
    const namespace = so.metadata.namespace ?? '';
    const name = so.metadata.name ?? '';
    const pause = readPauseState(so.metadata.annotations);
    this.deps.metrics.objectRegistered(namespace, name, pause.paused);
    if (pause.invalidPausedReplicas !== undefined) {
      throw new CheckFailed(`annotation ${KedaAnnotations.pausedReplicas}: value "${pause.invalidPausedReplicas}" is not an int32`);
    }
    // From the index: this runs on every reconcile, and a scan would visit every cached object (10,000 and more).
    const rival = competingScaledObject(so, this.sameTarget(this.deps.scaledObjects, so));
    if (rival) throw new CheckFailed(rival);
    const gvkr = await this.deps.targets.resolve(targetApiVersion(so), targetKind(so));
    const scale = await this.deps.targets.getScale(gvkr, namespace, so.spec.scaleTargetRef.name);
    if (pause.paused) {
      await this.pause(key, so, gvkr, pause, scale.replicas);
      return;
    }
    const problems = this.deps.validate(so);
    if (problems.length > 0) throw new CheckFailed(problems.join('; '));
    const inputs = await resolveScalerInputs(so, gvkr, this.deps.sources);
    this.deps.dependencies.set(key, inputs.dependencies);
    for (const warning of inputs.warnings) this.deps.log.warn({ scaledObject: key, warning }, 'trigger authentication problem');
    const scalers = await this.deps.scalers.ensure(key, inputs.inputs);
    const hpaName = await this.ensureHpa(so, gvkr, scalers.metricSpecs);
    await this.writeReadyStatus(key, so, gvkr, scale.replicas, scalers.metricSpecs, hpaName, pause);
    this.deps.polling.schedule(key, (so.spec.pollingInterval ?? ScaledObjectDefaults.pollingInterval) * 1000);
  }

  private async pause(key: string, so: ScaledObject, gvkr: Gvkr, pause: PauseState, currentReplicas: number): Promise<void> {
    const namespace = so.metadata.namespace ?? '';
    this.deps.polling.unschedule(key);
    await this.deleteOwnedHpa(so, so.status?.hpaName ?? this.deps.hpaPlanner.name(so));
    if (pause.pausedReplicas !== undefined && pause.pausedReplicas !== currentReplicas) {
      await this.deps.targets.setReplicas(gvkr, namespace, so.spec.scaleTargetRef.name, pause.pausedReplicas);
    }
    const wasPaused = findCondition(so.status?.conditions, 'Paused')?.status === 'True';
    await this.deps.status.patch(key, so, {
      ...this.targetStatus(so, gvkr, currentReplicas),
      pausedReplicaCount: pause.pausedReplicas ?? null,
      hpaName: null,
      conditions: setConditions(so.status?.conditions, [{ type: 'Paused', status: 'True', reason: 'ScaledObjectPaused', message: 'ScaledObject is paused' }]),
    });
    if (!wasPaused) this.deps.events.emit(involved(so), 'Normal', 'ScaledObjectPaused', 'ScaledObject is paused');
  }

  private async writeReadyStatus(
    key: string,
    so: ScaledObject,
    gvkr: Gvkr,
    replicas: number,
    specs: readonly MetricSpec[],
    hpaName: string,
    pause: PauseState,
  ): Promise<void> {
    const conditions = so.status?.conditions;
    const updates: Condition[] = [];
    const ready = findCondition(conditions, 'Ready');
    const becameReady = ready?.status !== 'True' && !readyReasonsOwnedByLoop.has(ready?.reason ?? '');
    if (becameReady) {
      updates.push({ type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' });
    }
    const partlyPaused = pause.pausedScaleIn || pause.pausedScaleOut;
    const wasPaused = findCondition(conditions, 'Paused')?.status === 'True';
    if (partlyPaused) updates.push({ type: 'Paused', status: 'True', reason: 'ScaledObjectPaused', message: 'ScaledObject is paused' });
    else if (wasPaused) updates.push({ type: 'Paused', status: 'False', reason: 'ScaledObjectUnpaused', message: 'pause annotation removed for ScaledObject' });
    const triggers = so.spec.triggers;
    const authNames = triggers.map((t) => t.authenticationRef?.name).filter((n): n is string => Boolean(n));
    await this.deps.status.patch(key, so, {
      ...this.targetStatus(so, gvkr, replicas),
      externalMetricNames: specs.flatMap((s) => (s.kind === 'External' ? [s.metricName] : [])),
      compositeScalerName: activeScalingModifiers(so.spec) ? CompositeMetricName : null,
      resourceMetricNames: nonEmpty(specs.flatMap((s) => (s.kind === 'Resource' ? [s.resource] : []))),
      hpaName,
      triggersTypes: triggers.map((t) => t.type).join(','),
      authenticationsTypes: authNames.length > 0 ? authNames.join(',') : null,
      pausedReplicaCount: null,
      conditions: setConditions(conditions, updates),
    });
    if (becameReady) this.deps.events.emit(involved(so), 'Normal', 'ScaledObjectReady', 'ScaledObject is ready for scaling');
    if (wasPaused && !partlyPaused) this.deps.events.emit(involved(so), 'Normal', 'ScaledObjectUnpaused', 'ScaledObject was unpaused');
  }

  /** scaleTargetKind, scaleTargetGVKR, and originalReplicaCount, which is recorded once and never changed. */
  private targetStatus(so: ScaledObject, gvkr: Gvkr, replicas: number): Partial<ScaledObjectStatus> {
    return {
      scaleTargetKind: scaleTargetKind(gvkr),
      scaleTargetGVKR: gvkr,
      ...(so.status?.originalReplicaCount === undefined ? { originalReplicaCount: replicas } : {}),
    };
  }

  /** Ready=False with the reason, and a Warning event when the message is new; polling stops unless the failure may pass. */
  private async reportCheckFailed(key: string, so: ScaledObject, message: string, options: { keepPolling?: boolean } = {}): Promise<void> {
    if (!options.keepPolling) this.deps.polling.unschedule(key);
    this.deps.metrics.objectError(so.metadata.namespace ?? '', so.metadata.name ?? '');
    const previous = findCondition(so.status?.conditions, 'Ready');
    const changed = previous?.reason !== 'ScaledObjectCheckFailed' || previous.message !== message;
    await this.deps.status.patch(key, so, {
      conditions: setConditions(so.status?.conditions, [
        { type: 'Ready', status: 'False', reason: 'ScaledObjectCheckFailed', message },
        { type: 'Active', status: 'Unknown', reason: 'UnknownState', message: 'ScaledObject check failed' },
      ]),
    });
    if (changed) {
      this.deps.log.info({ scaledObject: key, message }, 'ScaledObject check failed');
      this.deps.events.emit(involved(so), 'Warning', 'ScaledObjectCheckFailed', message);
    }
  }

  /** Adds the finalizer and the name label in one patch when either is missing; the object as stored, undefined once it is gone. */
  private async ensureFinalizerAndLabel(key: string, so: ScaledObject): Promise<ScaledObject | undefined> {
    const finalizers = so.metadata.finalizers ?? [];
    const name = so.metadata.name ?? '';
    const hasFinalizer = finalizers.includes(KedaFinalizer);
    const hasLabel = so.metadata.labels?.[KedaLabels.scaledObjectName] === name;
    if (hasFinalizer && hasLabel) return so;
    const stored = await this.patchMetadata(so, {
      resourceVersion: so.metadata.resourceVersion,
      ...(hasFinalizer ? {} : { finalizers: [...finalizers, KedaFinalizer] }),
      ...(hasLabel ? {} : { labels: { [KedaLabels.scaledObjectName]: name } }),
    });
    // Until the watch brings this version, the next reconcile starts from it rather than from the stale cache copy.
    if (stored) this.deps.status.remember(key, stored);
    return stored;
  }

  /** KEDA's finalizer: stop polling, optionally restore the original replica count, let go of the object. */
  private async finalize(key: string, so: ScaledObject): Promise<void> {
    await this.forget(key);
    const finalizers = so.metadata.finalizers ?? [];
    if (!finalizers.includes(KedaFinalizer)) return;
    const gvkr = so.status?.scaleTargetGVKR;
    const original = so.status?.originalReplicaCount;
    if (so.spec.advanced?.restoreToOriginalReplicaCount && gvkr && original !== undefined) {
      try {
        await this.deps.targets.setReplicas(gvkr, so.metadata.namespace ?? '', so.spec.scaleTargetRef.name, original);
      } catch (err) {
        if (!(err instanceof ScaleTargetError) && !isNotFound(err)) throw err;
      }
    }
    await this.patchMetadata(so, { resourceVersion: so.metadata.resourceVersion, finalizers: finalizers.filter((f) => f !== KedaFinalizer) });
    this.deps.events.emit(involved(so), 'Normal', 'ScaledObjectDeleted', 'ScaledObject was deleted');
  }

  /** The object as stored after the patch; undefined when it is gone. */
  private async patchMetadata(so: ScaledObject, metadata: Record<string, unknown>): Promise<ScaledObject | undefined> {
    try {
      return await this.deps.client.request<ScaledObject>('PATCH', scaledObjectPath(so), { body: { metadata }, contentType: 'application/merge-patch+json' });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // A stale cache copy: the watch delivers the newer object and the key is reconciled again.
      if (isConflict(err))
        throw new Error(`ScaledObject ${so.metadata.namespace}/${so.metadata.name} changed meanwhile: ${describeApiError(err)}`, { cause: err });
      throw err;
    }
  }

  /** Creates or updates the owned HPA; returns its name. Refuses a target another HPA already scales. */
  private async ensureHpa(so: ScaledObject, gvkr: Gvkr, specs: readonly MetricSpec[]): Promise<string> {
    const namespace = so.metadata.namespace ?? '';
    const name = this.deps.hpaPlanner.name(so);
    const previousName = so.status?.hpaName;
    if (previousName && previousName !== name) await this.deleteOwnedHpa(so, previousName);
    const desired = this.deps.hpaPlanner.build(so, gvkr, specs);
    const observed = this.deps.hpas.get(`${namespace}/${name}`);
    if (observed && ownedBy(observed, so)) {
      if (this.deps.hpaPlanner.needsUpdate(desired, observed))
        await this.writeHpa('PUT', so, { ...desired, metadata: { ...desired.metadata, resourceVersion: observed.metadata?.resourceVersion } });
      return name;
    }
    // From the cache's index of every HPA in scope: neither a list call nor a scan per new ScaledObject, which
    // would make creating N objects O(N²).
    const sameTarget = this.sameTarget(this.deps.hpas, so);
    const ownership = hpaOwnership(
      so,
      sameTarget.map((h) => ({ metadata: { ...h.metadata, name: h.metadata?.name }, spec: h.spec })),
    );
    if (ownership.kind === 'refuse') throw new CheckFailed(ownership.message);
    if (observed) {
      if (ownership.kind !== 'adopt') throw new CheckFailed(`the HPA '${name}' exists and is not owned by this ScaledObject`);
      await this.writeHpa('PUT', so, { ...desired, metadata: { ...desired.metadata, resourceVersion: observed.metadata?.resourceVersion } });
    } else {
      await this.writeHpa('POST', so, desired);
    }
    return name;
  }

  /** The cached objects that name the same workload as `so`. */
  private sameTarget<T>(cache: IndexedObjectCache<T>, so: ScaledObject): T[] {
    return scaledObjectTargetKeys(so).flatMap((value) => cache.byIndex(ScaleTargetIndex, value));
  }

  /**
   * Creates or replaces the HPA. A refusal the same request would meet again (400, 422: an invalid field) is
   * a check failure the user must fix; any other failure is reported and retried.
   */
  private async writeHpa(method: 'POST' | 'PUT', so: ScaledObject, hpa: HorizontalPodAutoscaler): Promise<void> {
    const namespace = so.metadata.namespace ?? '';
    const path = resourcePath({
      group: 'autoscaling',
      version: 'v2',
      resource: 'horizontalpodautoscalers',
      namespace,
      ...(method === 'PUT' ? { name: hpa.metadata?.name } : {}),
    });
    try {
      await this.deps.client.request(method, path, { body: hpa });
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) throw err;
      const detail = `${method === 'POST' ? 'creating' : 'updating'} HPA '${hpa.metadata?.name ?? ''}' failed: ${apiServerMessage(err)}`;
      const code = apiStatusCode(err);
      if (code === 400 || code === 422) throw new CheckFailed(detail, hpaFailurePrefix);
      throw new HpaWriteFailed(`${hpaFailurePrefix}: ${detail}`, { cause: err });
    }
    this.deps.log.info({ scaledObject: `${namespace}/${so.metadata.name}`, hpa: hpa.metadata?.name }, method === 'POST' ? 'created HPA' : 'updated HPA');
  }

  private async deleteOwnedHpa(so: ScaledObject, hpaName: string): Promise<void> {
    const namespace = so.metadata.namespace ?? '';
    const observed = this.deps.hpas.get(`${namespace}/${hpaName}`);
    if (observed && !ownedBy(observed, so)) return;
    try {
      await this.deps.client.request(
        'DELETE',
        resourcePath({ group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', namespace, name: hpaName }),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** The apiserver's own sentence (it names the invalid field), without the request line the client puts before it. */
function apiServerMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  return describeApiError(err);
}

function ownedBy(hpa: HorizontalPodAutoscaler, so: ScaledObject): boolean {
  return hpa.metadata?.ownerReferences?.some((o) => o.uid === so.metadata.uid) ?? false;
}

function nonEmpty<T>(items: T[]): T[] | null {
  return items.length > 0 ? items : null;
}
