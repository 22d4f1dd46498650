import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { apiStatusCode, describeApiError } from '../kube/errors.js';
import { WATCH_RECONNECT_BACKOFF, backoffDelayMs, type BackoffPolicy } from './backoff.js';
import { createSystemClock, sleep, type Clock, type Timer } from './clock.js';
import { objectKey } from './keys.js';
import type { ListWatchSource, WatchEvent } from './list-watch-source.js';

/** Callbacks for cache changes; they normally just enqueue `objectKey(object)` and must not block. */
export interface InformerHandler<T extends KubernetesObject> {
  add?(object: T): void;
  /** Also called with `oldObject === newObject` on every periodic resync. */
  update?(oldObject: T, newObject: T): void;
  /** Receives the last state the informer knew of the object. */
  delete?(object: T): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** Names the informer in logs, e.g. `scaledobjects`. */
  name: string;
  source: ListWatchSource<T>;
  log: Logger;
  labelSelector?: string;
  fieldSelector?: string;
  clock?: Clock;
  random?: () => number;
  /** Every cached object is re-delivered as an update this often, so missed work is retried. 0 disables. */
  resyncPeriodMs?: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is presumed dead and replaced by a relist. */
  staleAfterMs?: number;
  /** Each watch asks the server to end it after a random time in this range. */
  watchTimeoutSeconds?: { min: number; max: number };
  backoff?: BackoffPolicy;
}

export const INFORMER_DEFAULTS = {
  resyncPeriodMs: 10 * 60_000,
  staleAfterMs: 15 * 60_000,
  watchTimeoutSeconds: { min: 300, max: 600 },
} as const;

/** A secondary lookup kept current with the cache: each object filed under the values `valuesOf` gives it. */
interface Index<T> {
  valuesOf(object: T): readonly string[];
  /** value → cache key → object */
  entries: Map<string, Map<string, T>>;
}

/** How one watch connection ended, which decides what the informer does next. */
type WatchOutcome = { kind: 'stopped' } | { kind: 'gone' } | { kind: 'stale' } | { kind: 'closed'; healthy: boolean } | { kind: 'error'; error: unknown };

/**
 * A self-supervising list-then-watch cache of one Kubernetes collection. It relists when the server says
 * the resource version is gone (410) or the watch goes silent, reconnects with jittered exponential backoff
 * after any other failure, and periodically re-delivers every object so handlers stay level-triggered.
 * Objects are cached under `namespace/name` without `metadata.managedFields`.
 */
export class Informer<T extends KubernetesObject> {
  readonly #options: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #cache = new Map<string, T>();
  readonly #handlers = new Set<InformerHandler<T>>();
  readonly #indexes = new Map<string, Index<T>>();
  #resourceVersion = '';
  #failures = 0;
  #lastEventAt: number | undefined;
  #hasSynced = false;
  #syncWaiters: ((synced: boolean) => void)[] = [];
  #abort: AbortController | undefined;
  #resyncTimer: Timer | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#random = options.random ?? Math.random;
  }

  /** Starts listing and watching in the background; a no-op when already running. */
  start(): void {
    if (this.#abort) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#armResync();
    this.#loop = this.#run(abort.signal);
  }

  /** Stops watching and resyncing; resolves once the background loop has exited. The cache is kept. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#resyncTimer?.cancel();
    await this.#loop;
    this.#abort = undefined;
    this.#loop = undefined;
    for (const resolve of this.#syncWaiters.splice(0)) resolve(false);
  }

  /** Registers handlers; returns a function that removes them. */
  addHandler(handler: InformerHandler<T>): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** True once the first list has filled the cache. */
  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  /** Resolves true once the cache has been filled, or false if the informer is stopped before that. */
  synced(): Promise<boolean> {
    if (this.#hasSynced) return Promise.resolve(true);
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /** Clock time of the last list, watch event or bookmark: how fresh the cache is, for readiness checks. */
  get lastEventAt(): number | undefined {
    return this.#lastEventAt;
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  /**
   * Files every cached object, now and as objects come, change and go, under the values `valuesOf` gives it,
   * so that `byIndex(name, value)` costs the number of matches rather than the size of the cache.
   */
  addIndex(name: string, valuesOf: (object: T) => readonly string[]): void {
    if (this.#indexes.has(name)) throw new Error(`informer ${this.#options.name}: index ${name} exists already`);
    const index: Index<T> = { valuesOf, entries: new Map() };
    this.#indexes.set(name, index);
    for (const [key, object] of this.#cache) fileUnder(index, key, object);
  }

  /** The cached objects the index files under `value`. */
  byIndex(name: string, value: string): T[] {
    const index = this.#indexes.get(name);
    if (!index) throw new Error(`informer ${this.#options.name}: no index ${name}`);
    const matches = index.entries.get(value);
    return matches ? [...matches.values()] : [];
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  get size(): number {
    return this.#cache.size;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      if (needList && !(await this.#relist(signal))) {
        await this.#backoff(signal);
        continue;
      }
      needList = await this.#afterWatch(await this.#watch(signal), signal);
    }
  }

  /** Decides, from how a watch ended, whether to relist; sleeps first when the failure calls for backoff. */
  async #afterWatch(outcome: WatchOutcome, signal: AbortSignal): Promise<boolean> {
    const log = this.#options.log;
    switch (outcome.kind) {
      case 'stopped':
        return false;
      case 'gone':
        log.info({ informer: this.#options.name, resourceVersion: this.#resourceVersion }, 'resource version expired; relisting');
        return true;
      case 'stale':
        log.warn({ informer: this.#options.name, staleAfterMs: this.#staleAfterMs }, 'watch silent for too long; relisting');
        return true;
      case 'closed':
        if (outcome.healthy) this.#failures = 0;
        else await this.#backoff(signal);
        return false;
      case 'error':
        log.warn({ informer: this.#options.name, error: describeApiError(outcome.error) }, 'watch failed; reconnecting');
        await this.#backoff(signal);
        return false;
    }
  }

  async #backoff(signal: AbortSignal): Promise<void> {
    const delayMs = backoffDelayMs(this.#failures++, this.#options.backoff ?? WATCH_RECONNECT_BACKOFF, this.#random);
    this.#options.log.debug({ informer: this.#options.name, delayMs, failures: this.#failures }, 'backing off');
    await sleep(this.#clock, delayMs, signal);
  }

  /** Lists the collection and replaces the cache with it; returns false (after logging) on failure. */
  async #relist(signal: AbortSignal): Promise<boolean> {
    const { labelSelector, fieldSelector } = this.#options;
    try {
      const result = await this.#options.source.list({ labelSelector, fieldSelector }, signal);
      if (signal.aborted) return false;
      this.#replace(result.items, result.resourceVersion);
      this.#failures = 0;
      return true;
    } catch (error) {
      if (!signal.aborted) this.#options.log.warn({ informer: this.#options.name, error: describeApiError(error) }, 'list failed');
      return false;
    }
  }

  #replace(items: T[], resourceVersion: string): void {
    const fresh = new Map<string, T>();
    for (const item of items) {
      const key = this.#keyOf(item);
      if (key !== undefined) fresh.set(key, withoutManagedFields(item));
    }
    for (const [key, old] of this.#cache) {
      if (!fresh.has(key)) {
        this.#remove(key, old);
        this.#emit((h) => h.delete?.(old));
      }
    }
    for (const [key, object] of fresh) this.#upsert(key, object);
    this.#resourceVersion = resourceVersion;
    this.#lastEventAt = this.#clock.now();
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      for (const resolve of this.#syncWaiters.splice(0)) resolve(true);
    }
  }

  /** Runs one watch connection to its end. */
  #watch(signal: AbortSignal): Promise<WatchOutcome> {
    const { labelSelector, fieldSelector } = this.#options;
    const { min, max } = this.#options.watchTimeoutSeconds ?? INFORMER_DEFAULTS.watchTimeoutSeconds;
    const timeoutSeconds = Math.floor(min + this.#random() * (max - min + 1));
    const startedAt = this.#clock.now();
    return new Promise((resolve) => {
      let finished = false;
      let sawEvent = false;
      let lastActivity = startedAt;
      let cancelWatch: (() => void) | undefined;
      let watchdog: Timer | undefined;
      const finish = (outcome: WatchOutcome): void => {
        if (finished) return;
        finished = true;
        watchdog?.cancel();
        signal.removeEventListener('abort', onAbort);
        cancelWatch?.();
        resolve(outcome);
      };
      const onAbort = (): void => finish({ kind: 'stopped' });
      const armWatchdog = (delayMs: number): void => {
        watchdog = this.#clock.setTimeout(() => {
          const silentFor = this.#clock.now() - lastActivity;
          if (silentFor >= this.#staleAfterMs) finish({ kind: 'stale' });
          else armWatchdog(this.#staleAfterMs - silentFor);
        }, delayMs);
      };
      const onEvent = (event: WatchEvent<T>): void => {
        if (finished) return;
        lastActivity = this.#clock.now();
        if (!sawEvent && event.type !== 'ERROR') {
          sawEvent = true;
          this.#failures = 0;
        }
        const outcome = this.#apply(event);
        if (outcome) finish(outcome);
      };
      const onClose = (error: unknown): void => {
        if (error === null || error === undefined) {
          // A watch the server ends at once without a word is a failure in disguise; back off from it.
          const healthy = sawEvent || this.#clock.now() - startedAt >= (this.#options.backoff ?? WATCH_RECONNECT_BACKOFF).initialMs;
          finish({ kind: 'closed', healthy });
        } else {
          finish(apiStatusCode(error) === 410 ? { kind: 'gone' } : { kind: 'error', error });
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      armWatchdog(this.#staleAfterMs);
      const query = { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds, labelSelector, fieldSelector };
      this.#options.source.watch(query, onEvent, onClose).then(
        (cancel) => {
          cancelWatch = cancel;
          if (finished) cancel();
        },
        (error: unknown) => onClose(error ?? new Error('watch failed')),
      );
    });
  }

  /** Applies one watch event to the cache; returns an outcome when the event ends the watch. */
  #apply(event: WatchEvent<T>): WatchOutcome | undefined {
    if (event.type === 'ERROR') {
      return apiStatusCode(event.object) === 410 ? { kind: 'gone' } : { kind: 'error', error: event.object };
    }
    this.#lastEventAt = this.#clock.now();
    const resourceVersion = event.object.metadata?.resourceVersion;
    if (resourceVersion) this.#resourceVersion = resourceVersion;
    if (event.type === 'BOOKMARK') return undefined;
    const key = this.#keyOf(event.object);
    if (key === undefined) return undefined;
    const object = withoutManagedFields(event.object);
    if (event.type === 'DELETED') {
      const last = this.#cache.get(key) ?? object;
      this.#remove(key, last);
      this.#emit((h) => h.delete?.(last));
    } else {
      this.#upsert(key, object);
    }
    return undefined;
  }

  #upsert(key: string, object: T): void {
    const old = this.#cache.get(key);
    this.#cache.set(key, object);
    for (const index of this.#indexes.values()) refile(index, key, old, object);
    if (!old) this.#emit((h) => h.add?.(object));
    else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.#emit((h) => h.update?.(old, object));
  }

  #remove(key: string, last: T): void {
    this.#cache.delete(key);
    for (const index of this.#indexes.values()) unfile(index, key, last);
  }

  #keyOf(object: T): string | undefined {
    try {
      return objectKey(object);
    } catch (error) {
      this.#options.log.warn({ informer: this.#options.name, error: (error as Error).message }, 'ignoring object without a name');
      return undefined;
    }
  }

  #emit(call: (handler: InformerHandler<T>) => void): void {
    for (const handler of this.#handlers) {
      try {
        call(handler);
      } catch (error) {
        this.#options.log.error({ informer: this.#options.name, err: error }, 'informer handler threw');
      }
    }
  }

  #armResync(): void {
    const period = this.#options.resyncPeriodMs ?? INFORMER_DEFAULTS.resyncPeriodMs;
    if (period <= 0) return;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      if (this.#hasSynced) for (const object of this.#cache.values()) this.#emit((h) => h.update?.(object, object));
      this.#armResync();
    }, period);
  }

  get #staleAfterMs(): number {
    return this.#options.staleAfterMs ?? INFORMER_DEFAULTS.staleAfterMs;
  }
}

/**
 * Handlers that add the key of every added, updated, resynced or deleted object to `queue`, the usual wiring
 * between an informer and a controller. `keysOf` maps an object to the keys to reconcile instead, e.g. the
 * owning ScaledObject of an HPA; returning undefined skips the object.
 */
export function enqueueHandler<T extends KubernetesObject>(
  queue: { add(key: string): void },
  keysOf: (object: T) => string | readonly string[] | undefined = objectKey,
): InformerHandler<T> {
  const enqueue = (object: T): void => {
    const keys = keysOf(object);
    if (typeof keys === 'string') queue.add(keys);
    else for (const key of keys ?? []) queue.add(key);
  };
  return { add: enqueue, update: (_old, object) => enqueue(object), delete: enqueue };
}

function fileUnder<T>(index: Index<T>, key: string, object: T, values = index.valuesOf(object)): void {
  for (const value of values) {
    let matches = index.entries.get(value);
    if (!matches) index.entries.set(value, (matches = new Map<string, T>()));
    matches.set(key, object);
  }
}

function unfile<T>(index: Index<T>, key: string, object: T, values = index.valuesOf(object)): void {
  for (const value of values) {
    const matches = index.entries.get(value);
    matches?.delete(key);
    if (matches?.size === 0) index.entries.delete(value);
  }
}

/** Moves an object from its old values to its new ones; most updates keep them, and then only the entry changes. */
function refile<T>(index: Index<T>, key: string, old: T | undefined, object: T): void {
  const values = index.valuesOf(object);
  if (old)
    unfile(
      index,
      key,
      old,
      index.valuesOf(old).filter((value) => !values.includes(value)),
    );
  fileUnder(index, key, object, values);
}

function withoutManagedFields<T extends KubernetesObject>(object: T): T {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}
