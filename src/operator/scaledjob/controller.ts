import type { KubernetesObject } from '@kubernetes/client-node';
import { KedaLabels } from '../../apis/keda/v1alpha1/annotations.js';
import { ScaledJobDefaults, type ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import type { ClusterTriggerAuthentication, TriggerAuthentication } from '../../apis/keda/v1alpha1/triggerauthentication.js';
import { createKedaValidator } from '../../apis/keda/v1alpha1/validator.js';
import { createSystemClock, type Clock } from '../../controller/clock.js';
import { runController } from '../../controller/controller.js';
import { splitObjectKey } from '../../controller/keys.js';
import { Informer } from '../../controller/informer.js';
import { LeaderElector } from '../../controller/leader-election.js';
import { PollScheduler } from '../../controller/poll-scheduler.js';
import { WorkQueue } from '../../controller/workqueue.js';
import { isNotFound } from '../../kube/errors.js';
import type { Logger } from '../../log.js';
import { KubeEventRecorder } from '../events.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { resourcePath, type KubeClient } from '../kube-client.js';
import type { ObjectCache } from '../reconciler.js';
import { ScalersCache } from '../scalers-cache.js';
import type { JobObject } from './jobs.js';
import { ScaledJobMetrics } from './metrics.js';
import { ScaledJobPoller } from './poller.js';
import { ScaledJobReconciler, type JobCache } from './reconciler.js';
import type { DataKind, ScaledJobAuthSources } from './scaler-inputs.js';
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
  const runner = new ScaledJobRunner(options);
  const done = runner.run();
  return {
    done,
    get isLeader() {
      return runner.isLeader;
    },
    ready: () => runner.ready(),
    stop: async () => {
      runner.abort();
      await done;
    },
  };
}

type AnyInformer = Informer<KubernetesObject>;

function view<T>(informer: AnyInformer): ObjectCache<T> {
  return { get: (key) => informer.get(key) as T | undefined, list: () => informer.list() as T[] };
}

interface Informers {
  scaledJobs: AnyInformer;
  jobs: AnyInformer;
  triggerAuths: AnyInformer;
  clusterTriggerAuths: AnyInformer;
}

interface Term {
  queue: WorkQueue;
  scheduler: PollScheduler;
}

/**
 * Informers on ScaledJobs, their Jobs and the (Cluster)TriggerAuthentications feed a work queue of ScaledJob
 * keys; while this process leads, a controller reconciles them and one poll scheduler runs every ScaledJob's
 * poll. Reconcile and poll of one ScaledJob never overlap.
 */
class ScaledJobRunner {
  readonly #options: ScaledJobControllerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #mutex = new KeyedMutex();
  readonly #scalers: ScalersCache;
  readonly #reconciler: ScaledJobReconciler;
  readonly #poller: ScaledJobPoller;
  readonly #metrics: ScaledJobMetrics;
  readonly #informers: Informers;
  /** When each key's next poll is due, to report how late it started (keda_internal_scale_loop_latency_seconds). */
  readonly #dueAt = new Map<string, number>();
  #term: Term | undefined;

  constructor(options: ScaledJobControllerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#log = options.log.child({ controller: 'scaledjob' });
    this.#informers = this.#createInformers();
    const scaledJobs = view<ScaledJob>(this.#informers.scaledJobs);
    const jobs = this.#jobCache();
    const events = options.events ?? new KubeEventRecorder(options.client, { log: this.#log, now: () => this.#clock.now(), component: 'keda-operator' });
    const status = new ScaledJobStatusWriter(options.client);
    this.#metrics = new ScaledJobMetrics(options.registry);
    this.#scalers = new ScalersCache({ factory: options.scalerFactory, log: this.#log });
    const common = { log: this.#log, client: options.client, scaledJobs, jobs, scalers: this.#scalers, events, metrics: this.#metrics, status };
    this.#reconciler = new ScaledJobReconciler({
      ...common,
      auth: this.#authSources(),
      validator: createKedaValidator(),
      polling: {
        schedule: (key, intervalMs) => this.#schedule(key, intervalMs),
        unschedule: (key) => {
          this.#term?.scheduler.unschedule(key);
          this.#dueAt.delete(key);
          this.#poller.forget(key);
        },
      },
    });
    this.#poller = new ScaledJobPoller({ ...common, now: () => this.#clock.now(), version: options.version });
  }

  get isLeader(): boolean {
    return this.#term !== undefined;
  }

  abort(): void {
    this.#stop.abort();
  }

  ready(): { ok: boolean; reason?: string } {
    const pending = this.#allInformers().filter((i) => !i.hasSynced).length;
    return pending === 0 ? { ok: true } : { ok: false, reason: `${pending} scaledjob informer(s) not synced yet` };
  }

  async run(): Promise<void> {
    for (const informer of this.#allInformers()) informer.start();
    const signal = this.#stop.signal;
    try {
      const { leaseStore } = this.#options;
      if (!leaseStore) {
        await this.#lead(signal);
        return;
      }
      const o = this.#options;
      const elector = new LeaderElector({
        store: leaseStore,
        identity: o.identity,
        log: this.#log,
        clock: this.#clock,
        ...(o.random ? { random: o.random } : {}),
        ...(o.leaseDurationMs ? { leaseDurationMs: o.leaseDurationMs } : {}),
        ...(o.renewDeadlineMs ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
        ...(o.retryPeriodMs ? { retryPeriodMs: o.retryPeriodMs } : {}),
        releaseOnCancel: true,
        onStartedLeading: (termSignal) => this.#lead(termSignal),
      });
      while (!signal.aborted) await elector.run(signal);
    } finally {
      await Promise.all(this.#allInformers().map((i) => i.stop()));
    }
  }

  /** One leadership term: reconcile and poll until `signal` aborts, then stop and close everything. */
  async #lead(signal: AbortSignal): Promise<void> {
    const synced = await Promise.all(this.#allInformers().map((i) => i.synced()));
    if (signal.aborted || synced.includes(false)) return;
    const { registry } = this.#options;
    const queue = new WorkQueue({ name: 'scaledjob', clock: this.#clock, registry });
    const scheduler = new PollScheduler({
      name: 'scaledjob',
      run: (key) => this.#mutex.run(key, () => this.#poll(key)),
      concurrency: this.#options.pollConcurrency ?? 32,
      log: this.#log,
      clock: this.#clock,
      registry,
    });
    this.#term = { queue, scheduler };
    for (const key of this.#informers.scaledJobs.keys()) queue.add(key);
    this.#log.info({ scaledJobs: this.#informers.scaledJobs.size }, 'leading: reconciling and polling ScaledJobs');
    try {
      await runController({
        name: 'scaledjob',
        queue,
        workers: this.#options.workers ?? 1,
        log: this.#log,
        signal,
        registry,
        clock: this.#clock,
        reconcile: (key) => this.#mutex.run(key, () => this.#reconciler.reconcile(key)),
      });
    } finally {
      this.#term = undefined;
      await scheduler.stop();
      await this.#scalers.closeAll();
      this.#dueAt.clear();
      this.#log.info('stopped reconciling and polling ScaledJobs');
    }
  }

  async #poll(key: string): Promise<void> {
    const started = this.#clock.now();
    const due = this.#dueAt.get(key);
    if (due !== undefined) {
      const { namespace = '', name } = splitObjectKey(key);
      this.#metrics.scaleLoopLatency(namespace, name, Math.max(0, started - due) / 1000);
    }
    try {
      await this.#poller.poll(key);
    } finally {
      const intervalMs = this.#intervalOf(key);
      if (intervalMs !== undefined && this.#term?.scheduler.has(key)) this.#dueAt.set(key, this.#clock.now() + intervalMs);
    }
  }

  #intervalOf(key: string): number | undefined {
    const sj = this.#informers.scaledJobs.get(key) as ScaledJob | undefined;
    return sj ? (sj.spec.pollingInterval ?? ScaledJobDefaults.pollingInterval) * 1000 : undefined;
  }

  #schedule(key: string, intervalMs: number): void {
    const scheduler = this.#term?.scheduler;
    if (!scheduler) return;
    if (scheduler.has(key)) {
      scheduler.schedule(key, intervalMs);
      return;
    }
    // A new ScaledJob polls soon; spread so a restart with many ScaledJobs does not stampede.
    const random = this.#options.random ?? Math.random;
    const firstDelayMs = Math.floor(random() * Math.min(intervalMs, 2_000));
    this.#dueAt.set(key, this.#clock.now() + firstDelayMs);
    scheduler.schedule(key, intervalMs, firstDelayMs);
  }

  #enqueue(key: string): void {
    this.#term?.queue.add(key);
  }

  #createInformers(): Informers {
    const { namespace, log } = this.#options;
    const make = (name: string, path: string, labelSelector?: string): AnyInformer =>
      new Informer<KubernetesObject>({
        name,
        source: this.#options.listWatch<KubernetesObject>(path),
        log,
        clock: this.#clock,
        ...(labelSelector ? { labelSelector } : {}),
        ...(this.#options.resyncPeriodMs !== undefined ? { resyncPeriodMs: this.#options.resyncPeriodMs } : {}),
      });
    const informers: Informers = {
      scaledJobs: make('scaledjobs', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledjobs', namespace })),
      jobs: make('scaledjob-jobs', resourcePath({ group: 'batch', version: 'v1', resource: 'jobs', namespace }), KedaLabels.scaledJobName),
      triggerAuths: make('scaledjob-triggerauthentications', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace })),
      clusterTriggerAuths: make('scaledjob-clustertriggerauthentications', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'clustertriggerauthentications' })),
    };
    const key = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    informers.scaledJobs.addHandler({
      add: (sj) => this.#enqueue(key(sj)),
      // Status-only changes (mostly this controller's own writes) need no reconcile; resyncs (old === new) do.
      update: (old, sj) => (old === sj || specOrMetadataChanged(old, sj) ? this.#enqueue(key(sj)) : undefined),
      delete: (sj) => this.#enqueue(key(sj)),
    });
    const authChanged = (auth: KubernetesObject): void => {
      for (const sj of informers.scaledJobs.list() as ScaledJob[]) {
        const refers = sj.spec.triggers.some((t) => {
          const ref = t.authenticationRef;
          if (!ref || ref.name !== auth.metadata?.name) return false;
          return ref.kind === 'ClusterTriggerAuthentication' ? auth.kind === 'ClusterTriggerAuthentication' : auth.metadata?.namespace === sj.metadata.namespace;
        });
        if (refers) this.#enqueue(`${sj.metadata.namespace ?? ''}/${sj.metadata.name ?? ''}`);
      }
    };
    for (const informer of [informers.triggerAuths, informers.clusterTriggerAuths]) {
      informer.addHandler({ add: authChanged, update: (old, auth) => (old === auth ? undefined : authChanged(auth)), delete: authChanged });
    }
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

  #authSources(): ScaledJobAuthSources {
    const { client, clusterAuthNamespace } = this.#options;
    return {
      triggerAuthentication: (ns, name) => this.#informers.triggerAuths.get(`${ns}/${name}`) as TriggerAuthentication | undefined,
      clusterTriggerAuthentication: (name) => this.#informers.clusterTriggerAuths.get(name) as ClusterTriggerAuthentication | undefined,
      clusterAuthNamespace,
      readData: (kind, namespace, name) => readData(client, kind, namespace, name),
    };
  }

  #allInformers(): AnyInformer[] {
    const i = this.#informers;
    return [i.scaledJobs, i.jobs, i.triggerAuths, i.clusterTriggerAuths];
  }
}

async function readData(client: KubeClient, kind: DataKind, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const resource = kind === 'Secret' ? 'secrets' : 'configmaps';
  try {
    const object = await client.request<{ data?: Record<string, string> }>('GET', resourcePath({ group: '', version: 'v1', resource, namespace, name }));
    if (kind === 'ConfigMap') return object.data ?? {};
    return Object.fromEntries(Object.entries(object.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Generation (spec), labels, annotations, finalizers or deletion changed: what a reconcile acts on. */
function specOrMetadataChanged(old: KubernetesObject, next: KubernetesObject): boolean {
  const a = old.metadata;
  const b = next.metadata;
  return (
    a?.generation !== b?.generation ||
    a?.deletionTimestamp !== b?.deletionTimestamp ||
    JSON.stringify(a?.labels ?? {}) !== JSON.stringify(b?.labels ?? {}) ||
    JSON.stringify(a?.annotations ?? {}) !== JSON.stringify(b?.annotations ?? {}) ||
    JSON.stringify(a?.finalizers ?? []) !== JSON.stringify(b?.finalizers ?? [])
  );
}
