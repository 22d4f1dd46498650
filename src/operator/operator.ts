import type { KubernetesObject } from '@kubernetes/client-node';
import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { splitObjectKey } from '../controller/keys.js';
import type { ClusterTriggerAuthentication, TriggerAuthentication } from '../apis/keda/v1alpha1/triggerauthentication.js';
import { validateScaledObject } from '../apis/keda/v1alpha1/validation.js';
import { createSystemClock, type Clock } from '../controller/clock.js';
import type { Logger } from '../log.js';
import { DependencyIndex, watchDependency } from './dependencies.js';
import { createKeyCaches, type KeyCaches } from './key-caches.js';
import { KubeEventRecorder } from './events.js';
import { createHpaPlanner, type HorizontalPodAutoscaler } from './scaledobject/hpa.js';
import { resourcePath } from '../kube/client.js';
import { LastReadings } from './scaledobject/last-readings.js';
import { OperatorMetrics } from './metrics.js';
import { FormulaCache } from '../scaling/formula.js';
import { ScaledObjectMetricsSource, type MetricsSource } from './scaledobject/metrics-source.js';
import { ReadyPods } from './scaledobject/ready-pods.js';
import { ScaledObjectReconciler } from './scaledobject/reconciler.js';
import type { IndexedObjectCache, PollRegistry } from './object-cache.js';
import { ScaleLoop } from './scaledobject/scale-loop.js';
import { ScaleTargets, type CachedWorkload } from './scaledobject/scale-target.js';
import { resolveScalerInputs } from './scaledobject/scaler-inputs.js';
import { hpaTargetKeys, ScaleTargetIndex, scaledObjectTargetKeys, targetApiVersion, targetKind, type HpaSummary } from '../scaling/target-conflicts.js';
import type { AdmissionCaches, PodTemplateOwner } from '../webhooks/keda-validation.js';
import { ScalersCache } from './scalers-cache.js';
import {
  cacheView,
  informerFactory,
  reconcileOnChange,
  ScalingControllerRunner,
  specOrMetadataChanged,
  type AnyInformer,
  type Sharding,
} from './scaling-controller.js';
import { StatusWriter } from './scaledobject/status-writer.js';
import { TriggerAuthStatus } from './trigger-auth-status.js';
import type { ScalingControllerOptions } from './controller-options.js';

/**
 * Workers default to 5 (KEDA_SCALEDOBJECT_CTRL_MAX_RECONCILES), polls at once to 512: a poll mostly waits on its
 * source and the apiserver, and with fewer slots slow status writes of active objects hold up the polls of idle
 * ones (bench/activation.ts: poll lateness p99 1.8 s at 64, 82 ms at 512 on a loaded sandbox).
 */
export type OperatorOptions = ScalingControllerOptions & {
  /** Share the ScaledObjects with other replicas by shard instead of the leader running them all. */
  sharding?: Omit<Sharding, 'forget'>;
};

interface Informers {
  scaledObjects: AnyInformer;
  hpas: AnyInformer;
  triggerAuths: AnyInformer;
  clusterTriggerAuths: AnyInformer;
  deployments: AnyInformer;
  statefulSets: AnyInformer;
}

/**
 * `swell operator`: informers feed a work queue of ScaledObject keys; while this process leads, a controller
 * reconciles them and one poll scheduler runs every object's scale loop (the lifecycle is the shared
 * {@link ScalingControllerRunner}'s), and the (Cluster)TriggerAuthentications' `status.scaledobjects` is kept
 * current. Losing leadership stops the loop and closes every scaler; the next leader continues from what is
 * stored in the cluster.
 */
export class Operator {
  readonly metricsSource: MetricsSource;
  readonly #options: OperatorOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #informers: Informers;
  /** Secrets and ConfigMaps: shared with the ScaledJob controller when the process gives them, else watched here. */
  readonly #keys: KeyCaches;
  readonly #ownsKeys: boolean;
  readonly #runner: ScalingControllerRunner;
  readonly #loop: ScaleLoop;
  readonly #scalers: ScalersCache;
  readonly #dependencies = new DependencyIndex();
  readonly #metrics: OperatorMetrics;

  constructor(options: OperatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#log = options.log;
    this.#ownsKeys = options.keyCaches === undefined;
    this.#keys = options.keyCaches ?? createKeyCaches(options, this.#clock);
    this.#informers = this.#createInformers();
    const scaledObjects = indexedCacheView<ScaledObject>(this.#informers.scaledObjects);
    const metrics = new OperatorMetrics(options.registry, options.version, () => registered(scaledObjects.list()));
    this.#metrics = metrics;
    const events = options.events ?? new KubeEventRecorder(options.client, { log: options.log, now: () => this.#clock.now(), component: 'keda-operator' });
    const workloads = {
      deployments: cacheView<CachedWorkload>(this.#informers.deployments),
      statefulsets: cacheView<CachedWorkload>(this.#informers.statefulSets),
    };
    const targets = new ScaleTargets(options.client, (gvkr) =>
      gvkr.group === 'apps' && (gvkr.resource === 'deployments' || gvkr.resource === 'statefulsets') ? workloads[gvkr.resource] : undefined,
    );
    const readyPods = new ReadyPods(options.client);
    const status = new StatusWriter(options.client);
    const readings = new LastReadings();
    this.#scalers = new ScalersCache({ factory: options.scalerFactory, log: options.log });
    const polling: PollRegistry = {
      schedule: (key, intervalMs) => this.#runner.schedule(key, intervalMs),
      unschedule: (key) => this.#runner.unschedule(key),
    };
    const sources = {
      triggerAuthentication: (ns: string, name: string) => this.#informers.triggerAuths.get(`${ns}/${name}`) as TriggerAuthentication | undefined,
      clusterTriggerAuthentication: (name: string) => this.#informers.clusterTriggerAuths.get(name) as ClusterTriggerAuthentication | undefined,
      lookup: this.#keys.lookup,
      clusterAuthNamespace: options.clusterAuthNamespace,
      targets,
    };
    const reconciler = new ScaledObjectReconciler({
      log: options.log.child({ controller: 'scaledobject' }),
      client: options.client,
      scaledObjects,
      hpas: indexedCacheView<HorizontalPodAutoscaler>(this.#informers.hpas),
      sources,
      targets,
      scalers: this.#scalers,
      hpaPlanner: createHpaPlanner(options.version),
      events,
      metrics,
      polling,
      dependencies: this.#dependencies,
      status,
      readings,
      validate: (so) => validateScaledObject(so).errors.map((e) => `${e.path}: ${e.message}`),
    });
    // The scale loop and the metrics API evaluate the same scalingModifiers formulas: compile each once.
    const formulas = new FormulaCache();
    this.#loop = new ScaleLoop({
      log: options.log.child({ controller: 'scale-loop' }),
      now: () => this.#clock.now(),
      scaledObjects,
      hpas: cacheView<HorizontalPodAutoscaler>(this.#informers.hpas),
      scalers: this.#scalers,
      targets,
      readyPods,
      status,
      events,
      metrics,
      readings,
      formulas,
    });
    const authStatus = new TriggerAuthStatus({
      field: 'scaledobjects',
      client: options.client,
      referrers: this.#informers.scaledObjects,
      triggerAuths: this.#informers.triggerAuths,
      clusterTriggerAuths: this.#informers.clusterTriggerAuths,
      enqueue: (key) => this.#runner.enqueueSide(authStatus.name, key),
    });
    this.#runner = new ScalingControllerRunner({
      name: 'scaledobject',
      settings: options,
      clock: this.#clock,
      log: this.#log,
      informers: this.#ownedInformers(),
      ...(this.#ownsKeys ? {} : { sharedInformers: this.#keys.informers }),
      objects: this.#informers.scaledObjects,
      reconcile: (key) => reconciler.reconcile(key),
      poll: (key, dueAt) => this.#poll(key, dueAt),
      defaultWorkers: 5,
      defaultPollConcurrency: 512,
      firstPollSpreadMs: 5_000,
      sideQueues: [authStatus],
      ...(options.sharding ? { sharding: { ...options.sharding, forget: (key: string) => reconciler.forget(key) } } : {}),
      onTermStart: () => this.#log.info({ scaledObjects: this.#informers.scaledObjects.size }, 'leading: reconciling and polling'),
      onTermEnd: async () => {
        await this.#scalers.closeAll();
        this.#log.info('stopped reconciling and polling');
      },
    });
    const buildScalers = async (key: string, so: ScaledObject) => {
      const gvkr = await targets.resolve(targetApiVersion(so), targetKind(so));
      return this.#scalers.ensure(key, (await resolveScalerInputs(so, gvkr, sources)).inputs);
    };
    this.metricsSource = new ScaledObjectMetricsSource({
      now: () => this.#clock.now(),
      scaledObjects,
      scalers: this.#scalers,
      readings,
      targets,
      readyPods,
      buildScalers,
      formulas,
    });
  }

  /** Starts watching and campaigning; the returned promise settles when the operator has stopped. */
  start(): Promise<void> {
    return this.#runner.start();
  }

  /**
   * Clean shutdown: stop polling and reconciling, release the lease, stop watching, close every scaler (also
   * those a replica that never led built to serve the metrics API, which no term end closes).
   */
  async stop(): Promise<void> {
    await this.#runner.stop();
    await this.#scalers.closeAll();
  }

  get isLeader(): boolean {
    return this.#runner.isLeader;
  }

  /** Ready once every informer has filled its cache. */
  ready(): { ok: boolean; reason?: string } {
    return this.#runner.ready();
  }

  /**
   * The caches the admission webhook reads instead of listing per request (they run on every replica, leader or
   * not). Only this operator's namespaces are held.
   */
  admissionCaches(): AdmissionCaches {
    const i = this.#informers;
    const { namespace } = this.#options;
    return {
      scaledObjects: cacheView<ScaledObject>(i.scaledObjects),
      hpas: cacheView<HorizontalPodAutoscaler & HpaSummary>(i.hpas),
      workloads: { deployments: cacheView<PodTemplateOwner>(i.deployments), statefulsets: cacheView<PodTemplateOwner>(i.statefulSets) },
      synced: () => [i.scaledObjects, i.hpas, i.deployments, i.statefulSets].every((informer) => informer.hasSynced),
      covers: (ns) => namespace === undefined || ns === namespace,
    };
  }

  /** Poll lateness percentiles of the current term (ms), for the benchmark. */
  lateness(): { p50: number; p99: number; scheduled: number } {
    return this.#runner.lateness();
  }

  /** One scale-loop run, recording how late it started against its schedule (KEDA's loop latency gauge). */
  async #poll(key: string, dueAt: number): Promise<void> {
    const { namespace, name } = splitObjectKey(key);
    this.#metrics.scaleLoopLatency(namespace ?? '', name, Math.max(0, this.#clock.now() - dueAt) / 1000);
    await this.#loop.poll(key);
  }

  #enqueue(key: string): void {
    this.#runner.enqueue(key);
  }

  #createInformers(): Informers {
    const { namespace } = this.#options;
    const make = informerFactory(this.#options, this.#clock);
    const informers: Informers = {
      scaledObjects: make('scaledobjects', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace })),
      // Every HPA, not only owned ones: refusing a target another HPA scales needs to see them all.
      hpas: make('hpas', resourcePath({ group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', namespace })),
      triggerAuths: make('triggerauthentications', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace })),
      clusterTriggerAuths: make(
        'clustertriggerauthentications',
        resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'clustertriggerauthentications' }),
      ),
      // Scale targets of the common kinds, so polls read replicas from memory instead of GET /scale.
      deployments: make('deployments', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace })),
      statefulSets: make('statefulsets', resourcePath({ group: 'apps', version: 'v1', resource: 'statefulsets', namespace })),
    };
    informers.scaledObjects.addIndex(ScaleTargetIndex, (o) => scaledObjectTargetKeys(o as ScaledObject));
    informers.hpas.addIndex(ScaleTargetIndex, (o) => hpaTargetKeys(o as HpaSummary & KubernetesObject & { metadata: { namespace?: string } }));
    this.#wire(informers);
    return informers;
  }

  #wire(informers: Informers): void {
    informers.scaledObjects.addHandler(reconcileOnChange((key) => this.#enqueue(key)));
    const ownerOf = (hpa: KubernetesObject): void => {
      const owner = hpa.metadata?.ownerReferences?.find((o) => o.kind === 'ScaledObject' && o.apiVersion.startsWith('keda.sh/'));
      if (owner) this.#enqueue(`${hpa.metadata?.namespace ?? ''}/${owner.name}`);
    };
    informers.hpas.addHandler({ update: (old, hpa) => (old === hpa || specOrMetadataChanged(old, hpa) ? ownerOf(hpa) : undefined), delete: ownerOf });
    const dependents = (dependencyKey: string): void => {
      for (const owner of this.#dependencies.dependentsOf(dependencyKey)) this.#enqueue(owner);
    };
    watchDependency('TriggerAuthentication', informers.triggerAuths, dependents);
    watchDependency('ClusterTriggerAuthentication', informers.clusterTriggerAuths, dependents);
    this.#keys.onChange(dependents);
  }

  /** What this operator starts and stops: its own informers, and the Secret and ConfigMap ones unless they are shared. */
  #ownedInformers(): AnyInformer[] {
    const i = this.#informers;
    return [i.scaledObjects, i.hpas, i.triggerAuths, i.clusterTriggerAuths, i.deployments, i.statefulSets, ...(this.#ownsKeys ? this.#keys.informers : [])];
  }
}

function registered(objects: readonly ScaledObject[]): { namespace: string; triggerTypes: string[] }[] {
  return objects.map((so) => ({ namespace: so.metadata.namespace ?? '', triggerTypes: so.spec.triggers.map((t) => t.type) }));
}

/** The cache with lookups by its informer's indexes. */
function indexedCacheView<T>(informer: AnyInformer): ReturnType<typeof cacheView<T>> & IndexedObjectCache<T> {
  return Object.assign(cacheView<T>(informer), { byIndex: (index: string, value: string) => informer.byIndex(index, value) as T[] });
}
