import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../controller/clock.js';
import { runController, type ReconcileResult } from '../controller/controller.js';
import { Informer, type InformerHandler } from '../controller/informer.js';
import { Leadership } from '../controller/leadership.js';
import { PollScheduler } from '../controller/poll-scheduler.js';
import { WorkQueue } from '../controller/workqueue.js';
import type { Logger } from '../log.js';
import type { ScalingControllerOptions } from './controller-options.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { ObjectCache } from './object-cache.js';

export type AnyInformer = Informer<KubernetesObject>;

/** A leader-only work queue of its own beside the scalable objects' one, e.g. TriggerAuthentication status. */
export interface SideQueue {
  /** Names the queue and its controller in logs and metrics. */
  name: string;
  /** Every key worth a look when a term starts. */
  keys(): Iterable<string>;
  reconcile(key: string): Promise<ReconcileResult | void>;
}

export interface ScalingControllerRunnerOptions {
  /** Names the queue, the poll scheduler and the controller: `scaledobject`, `scaledjob`. */
  name: string;
  settings: ScalingControllerOptions;
  clock: Clock;
  log: Logger;
  /** The informers this controller owns: started with it, stopped with it; each term waits for all of them to sync. */
  informers: readonly AnyInformer[];
  /** Informers another part owns (starts and stops) that this controller reads too; waited for like its own. */
  sharedInformers?: readonly AnyInformer[];
  /** The scalable objects: each term starts by reconciling every key it holds. */
  objects: AnyInformer;
  /** Reconciles one scalable object; never runs at the same time as its poll. */
  reconcile(key: string): Promise<ReconcileResult | void>;
  /** Polls one scalable object's triggers, a run that was due at `dueAt`. */
  poll(key: string, dueAt: number): Promise<void>;
  defaultWorkers: number;
  defaultPollConcurrency: number;
  /** A newly scheduled object with a longer interval first polls within this, spread at random. */
  firstPollSpreadMs: number;
  sideQueues?: readonly SideQueue[];
  /** After the queues were seeded, before reconciling starts. */
  onTermStart(): void;
  /** After reconciling and polling have stopped: close scalers, drop what the term kept. */
  onTermEnd(): Promise<void>;
}

/** The queues and scheduler of the current leadership term; replaced on every new term. */
interface Term {
  queue: WorkQueue;
  scheduler: PollScheduler;
  sideQueues: Map<string, WorkQueue>;
}

/**
 * The lifecycle every scaling controller (ScaledObjects, ScaledJobs) shares: its informers run for the whole
 * life of the process; while it leads, a work queue of object keys is reconciled by N workers and one poll
 * scheduler runs every object's poll, both created afresh each term and stopped when the term ends. Reconcile
 * and poll of one key never overlap. What differs between controllers (what reconcile and poll do, which
 * informers they read) comes in through the options.
 */
export class ScalingControllerRunner {
  readonly #options: ScalingControllerRunnerOptions;
  readonly #mutex = new KeyedMutex();
  readonly #stop = new AbortController();
  #term: Term | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ScalingControllerRunnerOptions) {
    this.#options = options;
  }

  /** Starts watching and campaigning; the returned promise settles when the controller has stopped. */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Stops polling and reconciling, releases the lease, closes every scaler and stops watching. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  get isLeader(): boolean {
    return this.#term !== undefined;
  }

  /** Ready once every informer has filled its cache. */
  ready(): { ok: boolean; reason?: string } {
    const pending = this.#readInformers().filter((i) => !i.hasSynced).length;
    return pending === 0 ? { ok: true } : { ok: false, reason: `${pending} ${this.#options.name} informer(s) not synced yet` };
  }

  /** Poll lateness percentiles of the current term (ms). */
  lateness(): { p50: number; p99: number; scheduled: number } {
    const scheduler = this.#term?.scheduler;
    return { p50: scheduler?.p50LatenessMs ?? 0, p99: scheduler?.p99LatenessMs ?? 0, scheduled: scheduler?.size ?? 0 };
  }

  /** Reconciles `key` soon, if this process leads. */
  enqueue(key: string): void {
    this.#term?.queue.add(key);
  }

  /** Adds `key` to the side queue named `queue`, if this process leads. */
  enqueueSide(queue: string, key: string): void {
    this.#term?.sideQueues.get(queue)?.add(key);
  }

  /**
   * Polls `key` every `intervalMs`, at its own phase within the interval, while this term lasts. A key not yet
   * scheduled whose interval is longer than `firstPollSpreadMs` first polls sooner, at a random point within
   * that spread (KEDA starts an object's loop at once; spread so a restart does not stampede); shorter intervals
   * start at their first slot, which the phases already spread.
   */
  schedule(key: string, intervalMs: number): void {
    const scheduler = this.#term?.scheduler;
    if (!scheduler) return;
    const spread = this.#options.firstPollSpreadMs;
    if (scheduler.has(key) || intervalMs <= spread) {
      scheduler.schedule(key, intervalMs);
      return;
    }
    const random = this.#options.settings.random ?? Math.random;
    scheduler.schedule(key, intervalMs, Math.floor(random() * spread));
  }

  unschedule(key: string): void {
    this.#term?.scheduler.unschedule(key);
  }

  #readInformers(): AnyInformer[] {
    return [...this.#options.informers, ...(this.#options.sharedInformers ?? [])];
  }

  async #run(): Promise<void> {
    const { informers, settings, clock, log } = this.#options;
    for (const informer of informers) informer.start();
    const leadership = settings.leadership ?? new Leadership({ identity: settings.identity, log, clock });
    try {
      await leadership.run((termSignal) => this.#lead(termSignal), this.#stop.signal);
    } finally {
      await Promise.all(informers.map((i) => i.stop()));
    }
  }

  /** One leadership term: reconcile and poll until `signal` aborts, then stop and close everything. */
  async #lead(signal: AbortSignal): Promise<void> {
    const o = this.#options;
    // Caches that never fill (CRDs missing, apiserver gone) must not keep a stopping term waiting: the informers
    // are only stopped after the term has ended.
    const stopped = new Promise<boolean[]>((resolve) => signal.addEventListener('abort', () => resolve([false]), { once: true }));
    const synced = await Promise.race([Promise.all(this.#readInformers().map((i) => i.synced())), stopped]);
    if (signal.aborted || synced.includes(false)) return;
    const { registry } = o.settings;
    const queue = new WorkQueue({ name: o.name, clock: o.clock, registry });
    const scheduler = new PollScheduler({
      name: o.name,
      run: (key, _signal, dueAt) => this.#mutex.run(key, () => o.poll(key, dueAt)),
      concurrency: o.settings.pollConcurrency ?? o.defaultPollConcurrency,
      log: o.log,
      clock: o.clock,
      registry,
    });
    const sides = (o.sideQueues ?? []).map((side) => ({ side, queue: new WorkQueue({ name: side.name, clock: o.clock, registry }) }));
    this.#term = { queue, scheduler, sideQueues: new Map(sides.map(({ side, queue: q }) => [side.name, q])) };
    for (const key of o.objects.keys()) queue.add(key);
    for (const { side, queue: q } of sides) for (const key of side.keys()) q.add(key);
    o.onTermStart();
    const common = { log: o.log, signal, registry, clock: o.clock };
    try {
      await Promise.all([
        runController({
          ...common,
          name: o.name,
          queue,
          workers: o.settings.workers ?? o.defaultWorkers,
          reconcile: (key) => this.#mutex.run(key, () => o.reconcile(key)),
        }),
        ...sides.map(({ side, queue: q }) => runController({ ...common, name: side.name, queue: q, reconcile: (key) => side.reconcile(key) })),
      ]);
    } finally {
      this.#term = undefined;
      await scheduler.stop();
      await o.onTermEnd();
    }
  }
}

/** Builds the process-long informers of one scaling controller, with its resync period and clock. */
export function informerFactory(settings: ScalingControllerOptions, clock: Clock): (name: string, path: string, labelSelector?: string) => AnyInformer {
  return (name, path, labelSelector) =>
    new Informer<KubernetesObject>({
      name,
      source: settings.listWatch<KubernetesObject>(path),
      log: settings.log,
      clock,
      ...(labelSelector ? { labelSelector } : {}),
      ...(settings.resyncPeriodMs !== undefined ? { resyncPeriodMs: settings.resyncPeriodMs } : {}),
    });
}

/**
 * The cache typed as the kind it holds. client-node's KubernetesObject types timestamps as Date, but watch
 * events carry JSON strings, which is what the KEDA types (and this operator) expect.
 */
export function cacheView<T>(informer: AnyInformer): ObjectCache<T> & { keys(): string[]; readonly size: number } {
  return {
    get: (key) => informer.get(key) as T | undefined,
    list: () => informer.list() as T[],
    keys: () => informer.keys(),
    get size() {
      return informer.size;
    },
  };
}

/** `namespace/name`: the key of a scalable object in its controller's queue. */
export function namespacedKey(o: { metadata?: { namespace?: string; name?: string } }): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/**
 * Enqueues a scalable object on add, delete, resync and any change a reconcile acts on; status-only changes
 * (most of them the controller's own writes) need no reconcile.
 */
export function reconcileOnChange(enqueue: (key: string) => void): InformerHandler<KubernetesObject> {
  return {
    add: (o) => enqueue(namespacedKey(o)),
    update: (old, o) => (old === o || specOrMetadataChanged(old, o) ? enqueue(namespacedKey(o)) : undefined),
    delete: (o) => enqueue(namespacedKey(o)),
  };
}

/** Generation (spec), labels, annotations, finalizers or deletion changed: what a reconcile acts on. */
export function specOrMetadataChanged(old: KubernetesObject, next: KubernetesObject): boolean {
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
