import type { Registry } from 'prom-client';
import { createSystemClock, type Clock, type Timer } from './clock.js';
import { KeyedMinHeap } from './keyed-heap.js';
import { DURATION_BUCKETS_SECONDS, registeredCounter, registeredGauge, registeredHistogram } from './metrics.js';
import { createDefaultRateLimiter, type RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions {
  /** Names the queue in metrics (`name` label). */
  name: string;
  clock?: Clock;
  /** Delays for `addRateLimited`; defaults to per-key 5 ms..1000 s backoff combined with a 10/s, burst 100 bucket. */
  rateLimiter?: RateLimiter;
  /** Where the workqueue_* metrics go; none are recorded without one. */
  registry?: Registry;
}

function workQueueMetrics(registry: Registry, name: string) {
  const labels = { name };
  return {
    depth: registeredGauge(registry, { name: 'workqueue_depth', help: 'Keys waiting to be processed', labelNames: ['name'] }).labels(labels),
    adds: registeredCounter(registry, { name: 'workqueue_adds_total', help: 'Keys added', labelNames: ['name'] }).labels(labels),
    retries: registeredCounter(registry, { name: 'workqueue_retries_total', help: 'Rate-limited re-adds', labelNames: ['name'] }).labels(labels),
    queueDuration: registeredHistogram(registry, {
      name: 'workqueue_queue_duration_seconds',
      help: 'Time a key waits in the queue before a worker takes it',
      labelNames: ['name'],
      buckets: DURATION_BUCKETS_SECONDS,
    }).labels(labels),
    workDuration: registeredHistogram(registry, {
      name: 'workqueue_work_duration_seconds',
      help: 'Time a worker spends on a key',
      labelNames: ['name'],
      buckets: DURATION_BUCKETS_SECONDS,
    }).labels(labels),
  };
}

/**
 * A de-duplicating, rate-limited queue of keys with controller-runtime semantics:
 * - a key is queued at most once however often it is added;
 * - a key is handed to at most one worker at a time; if it is added while being processed it is queued
 *   again when the worker calls `done`, so the latest state is always seen;
 * - `addAfter` and `addRateLimited` delay an add (the earliest pending delay wins);
 * - `shutDown` refuses new keys and resolves when the workers are idle.
 */
export class WorkQueue {
  readonly name: string;
  readonly #clock: Clock;
  readonly #rateLimiter: RateLimiter;
  readonly #metrics: ReturnType<typeof workQueueMetrics> | undefined;
  #queue: string[] = [];
  #head = 0;
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #queuedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #delayed = new KeyedMinHeap<string>();
  #delayTimer: { timer: Timer; dueAt: number } | undefined;
  #shuttingDown = false;
  #drain = true;
  readonly #idleWaiters: (() => void)[] = [];
  readonly #settledWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#clock = options.clock ?? createSystemClock();
    this.#rateLimiter = options.rateLimiter ?? createDefaultRateLimiter(this.#clock);
    this.#metrics = options.registry && workQueueMetrics(options.registry, options.name);
  }

  /** Keys waiting for a worker (not counting delayed or in-progress keys). */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  /** Keys currently held by workers. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting for their `addAfter` delay to pass. */
  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    this.#queuedAt.set(key, this.#clock.now());
    this.#metrics?.adds.inc();
    if (!this.#processing.has(key)) this.#enqueue(key);
  }

  /** Adds `key` once `delayMs` has passed; if it is already waiting, the earlier of the two times wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + delayMs;
    const pending = this.#delayed.priorityOf(key);
    if (pending !== undefined && pending <= readyAt) return;
    this.#delayed.set(key, readyAt);
    this.#armDelayTimer();
  }

  /** Re-adds a key whose processing failed, after the rate limiter's delay for it. */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.#metrics?.retries.inc();
    this.addAfter(key, this.#rateLimiter.when(key));
  }

  /** Forgets the failure history of `key` so its next failure starts from the smallest delay again. */
  forget(key: string): void {
    this.#rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#rateLimiter.retries(key);
  }

  /**
   * Waits for the next key and marks it as being processed; the caller must call `done(key)` afterwards.
   * Resolves undefined once the queue is shut down (after draining, if asked to).
   */
  get(): Promise<string | undefined> {
    if (this.length > 0) return Promise.resolve(this.#take());
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` as processed; if it was added meanwhile it is queued again. */
  done(key: string): void {
    if (!this.#processing.delete(key)) return;
    const startedAt = this.#startedAt.get(key);
    this.#startedAt.delete(key);
    if (startedAt !== undefined) this.#metrics?.workDuration.observe((this.#clock.now() - startedAt) / 1_000);
    if (this.#dirty.has(key)) {
      if (this.#shuttingDown && !this.#drain) this.#dirty.delete(key);
      else this.#enqueue(key);
    }
    this.#checkIdle();
  }

  /** Resolves once no key is queued or being processed; keys waiting out a delay do not count. */
  idle(): Promise<void> {
    if (this.length === 0 && this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /**
   * Stops accepting keys and drops delayed ones. With `drain` (the default) workers still get the keys
   * already queued; without it those are dropped too. Resolves when no key is queued or being processed.
   */
  shutDown(options: { drain?: boolean } = {}): Promise<void> {
    this.#shuttingDown = true;
    this.#drain = options.drain ?? true;
    this.#delayTimer?.timer.cancel();
    this.#delayTimer = undefined;
    this.#delayed.clear();
    if (!this.#drain) {
      for (let i = this.#head; i < this.#queue.length; i++) {
        this.#dirty.delete(this.#queue[i]!);
        this.#queuedAt.delete(this.#queue[i]!);
      }
      this.#queue = [];
      this.#head = 0;
      this.#metrics?.depth.set(0);
    }
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.#checkIdle();
    return idle;
  }

  #enqueue(key: string): void {
    const waiter = this.#waiters.shift();
    this.#queue.push(key);
    this.#metrics?.depth.inc();
    if (waiter) waiter(this.#take());
  }

  #take(): string {
    const key = this.#queue[this.#head++]!;
    if (this.#head > 1_024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#metrics?.depth.dec();
    this.#dirty.delete(key);
    this.#processing.add(key);
    const now = this.#clock.now();
    const queuedAt = this.#queuedAt.get(key);
    this.#queuedAt.delete(key);
    if (queuedAt !== undefined) this.#metrics?.queueDuration.observe((now - queuedAt) / 1_000);
    this.#startedAt.set(key, now);
    return key;
  }

  #checkIdle(): void {
    if (this.length === 0 && this.#processing.size === 0) for (const resolve of this.#settledWaiters.splice(0)) resolve();
    if (!this.#shuttingDown || this.length > 0) return;
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    if (this.#processing.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #armDelayTimer(): void {
    const next = this.#delayed.peek();
    if (!next) return;
    if (this.#delayTimer && this.#delayTimer.dueAt <= next.priority) return;
    this.#delayTimer?.timer.cancel();
    const timer = this.#clock.setTimeout(() => this.#releaseDue(), next.priority - this.#clock.now());
    this.#delayTimer = { timer, dueAt: next.priority };
  }

  #releaseDue(): void {
    this.#delayTimer = undefined;
    const now = this.#clock.now();
    for (let next = this.#delayed.peek(); next && next.priority <= now; next = this.#delayed.peek()) {
      this.#delayed.pop();
      this.add(next.key);
    }
    this.#armDelayTimer();
  }
}
