import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../controller/clock.js';
import { runController, type ReconcileResult } from '../controller/controller.js';
import { Informer, type InformerHandler } from '../controller/informer.js';
import { Leadership } from '../controller/leadership.js';
import type { Gauge } from 'prom-client';
import { registeredGauge } from '../controller/metrics.js';
import { PollScheduler } from '../controller/poll-scheduler.js';
import type { ShardWork } from '../controller/shard-claims.js';
import { shardOf } from '../controller/shards.js';
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

/**
 * The scalable objects split into shards that replicas claim: this process reconciles and polls only the
 * objects of the shards it holds, and runs all the time instead of while it leads.
 */
export interface Sharding {
  shards: number;
  /** Claims shards and runs the work of each one held (see ShardClaims). */
  claims: { run(work: ShardWork, signal: AbortSignal): Promise<void> };
  /** Drops what this process kept for an object of a shard it gave up: its polls, scalers, readings, metrics. */
  forget(key: string): Promise<void>;
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
  /** Without it the process's one Lease (`settings.leadership`) decides: the leader runs every object. */
  sharding?: Sharding;
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
  /** The shards this process holds, when sharded. */
  readonly #held = new Set<number>();
  /** Registered up front so /metrics lists the family in every mode; it has a sample only when sharded. */
  readonly #heldGauge: Gauge;
  #term: Term | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ScalingControllerRunnerOptions) {
    this.#options = options;
    this.#heldGauge = registeredGauge(options.settings.registry, {
      name: 'swell_shards_held',
      help: 'Shards of the scalable objects this replica holds',
      labelNames: ['controller'],
    });
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

  /** Reconciles `key` soon, if this process leads (when sharded: holds its shard). */
  enqueue(key: string): void {
    if (this.#owns(key)) this.#term?.queue.add(key);
  }

  /** Adds `key` to the side queue named `queue`, if this process leads (when sharded: holds the key's shard). */
  enqueueSide(queue: string, key: string): void {
    if (this.#owns(key)) this.#term?.sideQueues.get(queue)?.add(key);
  }

  /** Whether this process acts on `key`: always while it leads, or when sharded, while it holds the key's shard. */
  #owns(key: string): boolean {
    const { sharding } = this.#options;
    return !sharding || this.#held.has(shardOf(key, sharding.shards));
  }

  /**
   * Polls `key` every `intervalMs`, at its own phase within the interval, while this term lasts. A key not yet
   * scheduled whose interval is longer than `firstPollSpreadMs` first polls sooner, at a random point within
   * that spread (KEDA starts an object's loop at once; spread so a restart does not stampede); shorter intervals
   * start at their first slot, which the phases already spread.
   */
  schedule(key: string, intervalMs: number): void {
    const scheduler = this.#term?.scheduler;
    if (!scheduler || !this.#owns(key)) return;
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
    const { sharding } = this.#options;
    try {
      if (sharding) {
        // One term for the life of the process; the shards held decide which keys it acts on. Shards are claimed
        // only once the caches are full, so a replica still starting up does not sit on shards it cannot poll.
        const stop = this.#stop.signal;
        const claiming = this.#synced(stop).then((synced) =>
          synced ? sharding.claims.run((shard, term) => this.#hold(sharding, shard, term), stop) : undefined,
        );
        await Promise.all([this.#lead(stop), claiming]);
      } else {
        const leadership = settings.leadership ?? new Leadership({ identity: settings.identity, log, clock });
        await leadership.run((termSignal) => this.#lead(termSignal), this.#stop.signal);
      }
    } finally {
      await Promise.all(informers.map((i) => i.stop()));
    }
  }

  /** One leadership term: reconcile and poll until `signal` aborts, then stop and close everything. */
  async #lead(signal: AbortSignal): Promise<void> {
    const o = this.#options;
    if (!(await this.#synced(signal))) return;
    const { registry } = o.settings;
    const queue = new WorkQueue({ name: o.name, clock: o.clock, registry });
    const scheduler = new PollScheduler({
      name: o.name,
      run: (key, _signal, dueAt) => this.#mutex.run(key, () => (this.#owns(key) ? o.poll(key, dueAt) : Promise.resolve())),
      concurrency: o.settings.pollConcurrency ?? o.defaultPollConcurrency,
      log: o.log,
      clock: o.clock,
      registry,
    });
    const sides = (o.sideQueues ?? []).map((side) => ({ side, queue: new WorkQueue({ name: side.name, clock: o.clock, registry }) }));
    this.#term = { queue, scheduler, sideQueues: new Map(sides.map(({ side, queue: q }) => [side.name, q])) };
    for (const key of o.objects.keys()) if (this.#owns(key)) queue.add(key);
    for (const { side, queue: q } of sides) for (const key of side.keys()) if (this.#owns(key)) q.add(key);
    o.onTermStart();
    const common = { log: o.log, signal, registry, clock: o.clock };
    try {
      await Promise.all([
        runController({
          ...common,
          name: o.name,
          queue,
          workers: o.settings.workers ?? o.defaultWorkers,
          // A key still queued when its shard was given up is skipped: its new holder reconciles it.
          reconcile: (key) => this.#mutex.run(key, () => (this.#owns(key) ? o.reconcile(key) : Promise.resolve())),
        }),
        ...sides.map(({ side, queue: q }) =>
          runController({ ...common, name: side.name, queue: q, reconcile: (key) => (this.#owns(key) ? side.reconcile(key) : Promise.resolve()) }),
        ),
      ]);
    } finally {
      this.#term = undefined;
      await scheduler.stop();
      await o.onTermEnd();
    }
  }

  /** Whether every informer filled its cache before `signal` aborted. */
  async #synced(signal: AbortSignal): Promise<boolean> {
    // Caches that never fill (CRDs missing, apiserver gone) must not keep a stopping term waiting: the informers
    // are only stopped after the term has ended.
    const stopped = new Promise<boolean[]>((resolve) => signal.addEventListener('abort', () => resolve([false]), { once: true }));
    const synced = await Promise.race([Promise.all(this.#readInformers().map((i) => i.synced())), stopped]);
    return !signal.aborted && !synced.includes(false);
  }

  /**
   * While this process holds `shard`: its keys are reconciled (and so scheduled) from the start; when the
   * shard is given up or lost, its keys stop being polled, and only once their last reconcile or poll has
   * finished and what was kept for them is dropped does this return, letting the Lease go to the next holder.
   */
  async #hold(sharding: Sharding, shard: number, term: AbortSignal): Promise<void> {
    const o = this.#options;
    const inShard = (key: string): boolean => shardOf(key, sharding.shards) === shard;
    const held = this.#heldGauge.labels({ controller: o.name });
    this.#held.add(shard);
    held.set(this.#held.size);
    const current = this.#term;
    const keys = o.objects.keys().filter(inShard);
    if (current) {
      for (const key of keys) current.queue.add(key);
      for (const side of o.sideQueues ?? []) for (const key of side.keys()) if (inShard(key)) current.sideQueues.get(side.name)?.add(key);
    }
    o.log.info({ shard, objects: keys.length }, 'holding shard');
    await new Promise<void>((resolve) => (term.aborted ? resolve() : term.addEventListener('abort', () => resolve(), { once: true })));
    this.#held.delete(shard);
    held.set(this.#held.size);
    const dropped = o.objects.keys().filter(inShard);
    for (const key of dropped) this.#term?.scheduler.unschedule(key);
    await Promise.all(
      dropped.map((key) =>
        this.#mutex
          .run(key, () => sharding.forget(key))
          .catch((error: unknown) => o.log.warn({ key, err: error }, 'could not drop an object of a shard given up')),
      ),
    );
    o.log.info({ shard, objects: dropped.length }, 'gave up shard');
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
