import { KedaLabels } from '../../apis/keda/v1alpha1/annotations.js';
import type { ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import type { ClusterTriggerAuthentication, TriggerAuthentication } from '../../apis/keda/v1alpha1/triggerauthentication.js';
import { createKedaValidator } from '../../apis/keda/v1alpha1/validator.js';
import { createSystemClock, type Clock } from '../../controller/clock.js';
import { splitObjectKey } from '../../controller/keys.js';
import type { Logger } from '../../log.js';
import { DependencyIndex, watchDependency } from '../dependencies.js';
import { KubeEventRecorder } from '../events.js';
import { resourcePath } from '../../kube/client.js';
import { createKeyCaches, type KeyCaches } from '../key-caches.js';
import type { AuthObjectSources } from '../scaler-inputs.js';
import { ScalersCache } from '../scalers-cache.js';
import { cacheView, informerFactory, reconcileOnChange, ScalingControllerRunner, type AnyInformer } from '../scaling-controller.js';
import { TriggerAuthStatus } from '../trigger-auth-status.js';
import type { JobObject } from './jobs.js';
import { ScaledJobMetrics } from './metrics.js';
import { ScaledJobPoller } from './poller.js';
import { ScaledJobReconciler, type JobCache } from './reconciler.js';
import { ScaledJobStatusWriter } from './status.js';
import type { ScalingControllerOptions } from '../controller-options.js';

/** Workers default to 1 (KEDA_SCALEDJOB_CTRL_MAX_RECONCILES), polls at once to 32. */
export type ScaledJobControllerOptions = ScalingControllerOptions;

export interface ScaledJobController {
  /** Settles once the controller has stopped (after `stop()`); rejects only on an unexpected failure. */
  readonly done: Promise<void>;
  readonly isLeader: boolean;
  /** Ready once every informer has filled its cache. */
  ready(): { ok: boolean; reason?: string };
  /** Stops polling and reconciling, releases the lease, closes every scaler and stops watching. */
  stop(): Promise<void>;
}

/** Starts the ScaledJob controller in the background; see {@link ScaledJobController}. */
export function startScaledJobController(options: ScaledJobControllerOptions): ScaledJobController {
  const parts = new ScaledJobParts(options);
  const done = parts.runner.start();
  return {
    done,
    get isLeader() {
      return parts.runner.isLeader;
    },
    ready: () => parts.runner.ready(),
    stop: () => parts.runner.stop(),
  };
}

interface Informers {
  scaledJobs: AnyInformer;
  jobs: AnyInformer;
  triggerAuths: AnyInformer;
  clusterTriggerAuths: AnyInformer;
}

/**
 * What is specific to ScaledJobs: informers on ScaledJobs, their Jobs and the (Cluster)TriggerAuthentications;
 * the reconciler and the poller that creates Jobs; and `status.scaledjobs` of the auth objects. Secrets and
 * ConfigMaps come from the process's shared caches (or its own when none are given); a change to anything a
 * ScaledJob's scalers were built from reconciles it again. The shared {@link ScalingControllerRunner} runs them
 * while this process leads.
 */
class ScaledJobParts {
  readonly runner: ScalingControllerRunner;
  readonly #options: ScaledJobControllerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #scalers: ScalersCache;
  readonly #poller: ScaledJobPoller;
  readonly #metrics: ScaledJobMetrics;
  readonly #informers: Informers;
  readonly #keys: KeyCaches;
  readonly #ownsKeys: boolean;
  readonly #dependencies = new DependencyIndex();

  constructor(options: ScaledJobControllerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#log = options.log.child({ controller: 'scaledjob' });
    this.#ownsKeys = options.keyCaches === undefined;
    this.#keys = options.keyCaches ?? createKeyCaches(options, this.#clock);
    this.#informers = this.#createInformers();
    const scaledJobs = cacheView<ScaledJob>(this.#informers.scaledJobs);
    const jobs = this.#jobCache();
    const events = options.events ?? new KubeEventRecorder(options.client, { log: this.#log, now: () => this.#clock.now(), component: 'keda-operator' });
    const status = new ScaledJobStatusWriter(options.client);
    this.#metrics = new ScaledJobMetrics(options.registry);
    this.#scalers = new ScalersCache({ factory: options.scalerFactory, log: this.#log });
    const common = { log: this.#log, client: options.client, scaledJobs, jobs, scalers: this.#scalers, events, metrics: this.#metrics, status };
    const reconciler = new ScaledJobReconciler({
      ...common,
      auth: this.#authSources(),
      dependencies: this.#dependencies,
      validator: createKedaValidator(),
      polling: {
        schedule: (key, intervalMs) => this.runner.schedule(key, intervalMs),
        unschedule: (key) => {
          this.runner.unschedule(key);
          this.#poller.forget(key);
        },
      },
    });
    this.#poller = new ScaledJobPoller({ ...common, now: () => this.#clock.now(), version: options.version });
    const authStatus = new TriggerAuthStatus({
      field: 'scaledjobs',
      client: options.client,
      referrers: this.#informers.scaledJobs,
      triggerAuths: this.#informers.triggerAuths,
      clusterTriggerAuths: this.#informers.clusterTriggerAuths,
      enqueue: (key) => this.runner.enqueueSide(authStatus.name, key),
    });
    const i = this.#informers;
    this.runner = new ScalingControllerRunner({
      name: 'scaledjob',
      settings: options,
      clock: this.#clock,
      log: this.#log,
      informers: [i.scaledJobs, i.jobs, i.triggerAuths, i.clusterTriggerAuths, ...(this.#ownsKeys ? this.#keys.informers : [])],
      ...(this.#ownsKeys ? {} : { sharedInformers: this.#keys.informers }),
      objects: i.scaledJobs,
      reconcile: (key) => reconciler.reconcile(key),
      poll: (key, dueAt) => this.#poll(key, dueAt),
      defaultWorkers: 1,
      defaultPollConcurrency: 32,
      firstPollSpreadMs: 2_000,
      sideQueues: [authStatus],
      onTermStart: () => this.#log.info({ scaledJobs: i.scaledJobs.size }, 'leading: reconciling and polling ScaledJobs'),
      onTermEnd: async () => {
        await this.#scalers.closeAll();
        this.#log.info('stopped reconciling and polling ScaledJobs');
      },
    });
  }

  /** One poll, recording how late it started against its schedule (keda_internal_scale_loop_latency_seconds). */
  async #poll(key: string, dueAt: number): Promise<void> {
    const { namespace = '', name } = splitObjectKey(key);
    this.#metrics.scaleLoopLatency(namespace, name, Math.max(0, this.#clock.now() - dueAt) / 1000);
    await this.#poller.poll(key);
  }

  #createInformers(): Informers {
    const { namespace } = this.#options;
    const make = informerFactory(this.#options, this.#clock);
    const informers: Informers = {
      scaledJobs: make('scaledjobs', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledjobs', namespace })),
      jobs: make('scaledjob-jobs', resourcePath({ group: 'batch', version: 'v1', resource: 'jobs', namespace }), KedaLabels.scaledJobName),
      triggerAuths: make(
        'scaledjob-triggerauthentications',
        resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace }),
      ),
      clusterTriggerAuths: make(
        'scaledjob-clustertriggerauthentications',
        resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'clustertriggerauthentications' }),
      ),
    };
    const enqueue = (key: string): void => this.runner.enqueue(key);
    informers.scaledJobs.addHandler(reconcileOnChange(enqueue));
    // A ScaledJob reads its auth objects, Secrets and ConfigMaps when it builds its scalers: a change to one rebuilds them.
    const dependents = (dependencyKey: string): void => {
      for (const key of this.#dependencies.dependentsOf(dependencyKey)) enqueue(key);
    };
    watchDependency('TriggerAuthentication', informers.triggerAuths, dependents);
    watchDependency('ClusterTriggerAuthentication', informers.clusterTriggerAuths, dependents);
    this.#keys.onChange(dependents);
    return informers;
  }

  #jobCache(): JobCache {
    return {
      jobsOf: (namespace, scaledJobName) =>
        (this.#informers.jobs.list() as unknown as JobObject[]).filter(
          (job) => job.metadata.namespace === namespace && job.metadata.labels?.[KedaLabels.scaledJobName] === scaledJobName,
        ),
    };
  }

  #authSources(): AuthObjectSources {
    return {
      triggerAuthentication: (ns, name) => this.#informers.triggerAuths.get(`${ns}/${name}`) as TriggerAuthentication | undefined,
      clusterTriggerAuthentication: (name) => this.#informers.clusterTriggerAuths.get(name) as ClusterTriggerAuthentication | undefined,
      lookup: this.#keys.lookup,
      clusterAuthNamespace: this.#options.clusterAuthNamespace,
    };
  }
}
