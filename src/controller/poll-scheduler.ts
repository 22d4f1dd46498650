import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { createSystemClock, MAX_TIMER_DELAY_MS, type Clock, type Timer } from './clock.js';
import { KeyedMinHeap } from './keyed-heap.js';
import { keyHash } from './key-hash.js';
import { registeredCounter, registeredGauge, registeredHistogram } from './metrics.js';

/**
 * The periodic work of one key, e.g. polling the triggers of one ScaledObject. `dueAt` is when this run was
 * due (clock ms), so a caller can report how late it started against its own schedule.
 */
export type PollCallback = (key: string, signal: AbortSignal, dueAt: number) => Promise<void>;

export interface PollSchedulerOptions {
  /** Names the scheduler in logs and metrics (`scheduler` label). */
  name: string;
  run: PollCallback;
  /** Callbacks allowed to run at once; due keys beyond that wait (and their lateness shows it). Defaults to 32. */
  concurrency?: number;
  log: Logger;
  clock?: Clock;
  registry?: Registry;
  /** How many recent lateness samples the percentile getters look at. Defaults to 4096. */
  latencySamples?: number;
  /** Where in its interval a key runs, as a fraction in [0, 1); defaults to a hash of the key. */
  phaseOf?: (key: string) => number;
}

interface Entry {
  intervalMs: number;
  /** The key's offset within its interval (ms): its runs are due at phaseMs + k × intervalMs. */
  phaseMs: number;
  /** When the last run that started was due; undefined before the first. */
  lastDueAt: number | undefined;
  running: boolean;
  /** Unscheduled while running: dropped when the run ends. */
  removed: boolean;
  /** An explicit "run at" requested while running, applied when the run ends. */
  requestedAt: number | undefined;
}

/** Longest stretch the scheduler keeps starting due keys from run completions before yielding the event loop. */
const YIELD_AFTER_MS = 10;

const LATENESS_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function schedulerMetrics(registry: Registry, scheduler: string) {
  const labels = { scheduler };
  const runs = registeredCounter(registry, { name: 'swell_poll_runs_total', help: 'Poll callbacks run, by result', labelNames: ['scheduler', 'result'] });
  return {
    lateness: registeredHistogram(registry, {
      name: 'swell_poll_lateness_seconds',
      help: 'How long after its due time each poll started',
      labelNames: ['scheduler'],
      buckets: LATENESS_BUCKETS_SECONDS,
    }).labels(labels),
    runs: (result: 'success' | 'error') => runs.inc({ scheduler, result }),
    keys: registeredGauge(registry, { name: 'swell_poll_scheduled_keys', help: 'Keys with periodic work', labelNames: ['scheduler'] }).labels(labels),
    running: registeredGauge(registry, { name: 'swell_poll_running', help: 'Poll callbacks running now', labelNames: ['scheduler'] }).labels(labels),
  };
}

/**
 * When a key's next run is due. Its runs are planned on slots `phaseMs + k × intervalMs`, counted from the plan
 * rather than from when the last run ended, so a key polled every N seconds is polled N seconds apart however
 * long each read takes. A key that never ran takes its first slot after `now`; after a run that was due at
 * `lastDueAt` the next is the first slot at least half an interval later (one interval on the grid; a run
 * moved off the grid rejoins it without running twice in a row), skipping slots that passed while it ran.
 */
export function nextDueAt(intervalMs: number, phaseMs: number, lastDueAt: number | undefined, now: number): number {
  if (lastDueAt === undefined) return phaseMs + (Math.floor((now - phaseMs) / intervalMs) + 1) * intervalMs;
  const earliest = Math.max(lastDueAt + intervalMs / 2, now);
  return phaseMs + Math.ceil((earliest - phaseMs) / intervalMs) * intervalMs;
}

/** A stable fraction in [0, 1) for `key`, so each key keeps its place in the interval across restarts and replicas. */
export function keyPhase(key: string): number {
  return keyHash(key) / 2 ** 32;
}

/**
 * Drives the periodic work of many keys from one min-heap of due times and a single timer: no timer or
 * promise chain per key, and constant memory per key. Each key runs on a fixed grid of its interval, offset
 * by a stable per-key phase, so many keys at one interval are spread evenly across it instead of firing
 * together, and no key drifts by the time its runs take. Each key runs at most once at a time; a run that
 * overlaps its next slot skips it. At most `concurrency` callbacks run at once.
 */
export class PollScheduler {
  readonly #options: PollSchedulerOptions;
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #entries = new Map<string, Entry>();
  readonly #due = new KeyedMinHeap<string>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #metrics: ReturnType<typeof schedulerMetrics> | undefined;
  readonly #samples: Float64Array;
  #sampleCount = 0;
  #timer: { timer: Timer; dueAt: number } | undefined;
  #running = 0;
  #scheduled = 0;
  /** When the scheduler last got the event loop from a timer; see #finish. */
  #sliceStartedAt = 0;
  readonly #phaseOf: (key: string) => number;

  constructor(options: PollSchedulerOptions) {
    this.#phaseOf = options.phaseOf ?? keyPhase;
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#concurrency = Math.max(1, options.concurrency ?? 32);
    this.#metrics = options.registry && schedulerMetrics(options.registry, options.name);
    this.#samples = new Float64Array(Math.max(1, options.latencySamples ?? 4_096));
  }

  /**
   * Runs `key` every `intervalMs`, at its phase within the interval. The first run is due at the key's next
   * slot, or after `firstDelayMs` when given. Calling it again for a scheduled key with a new interval moves
   * it to the next slot of the new interval; with `firstDelayMs` it moves its next run (once; later runs
   * follow the slots again). The key is never held twice.
   */
  schedule(key: string, intervalMs: number, firstDelayMs?: number): void {
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
      throw new Error(`poll scheduler ${this.#options.name}: interval of ${key} must be a positive number of ms, got ${intervalMs}`);
    }
    if (this.#abort.signal.aborted) return;
    const now = this.#clock.now();
    let entry = this.#entries.get(key);
    const isNew = !entry;
    if (!entry) {
      entry = { intervalMs, phaseMs: 0, lastDueAt: undefined, running: false, removed: false, requestedAt: undefined };
      this.#entries.set(key, entry);
      this.#countScheduled(1);
    } else if (entry.removed) {
      entry.removed = false;
      this.#countScheduled(1);
    }
    const changed = isNew || entry.intervalMs !== intervalMs;
    entry.intervalMs = intervalMs;
    entry.phaseMs = this.#phaseOf(key) * intervalMs;
    if (entry.running) {
      if (firstDelayMs !== undefined) entry.requestedAt = now + firstDelayMs;
    } else if (firstDelayMs !== undefined) {
      this.#setDue(key, now + firstDelayMs);
    } else if (changed) {
      this.#setDue(key, nextDueAt(intervalMs, entry.phaseMs, entry.lastDueAt, now));
    }
  }

  /** Stops the periodic work of `key`; a run in progress finishes but is not followed by another. */
  unschedule(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry || entry.removed) return;
    this.#countScheduled(-1);
    this.#due.delete(key);
    if (entry.running) entry.removed = true;
    else this.#entries.delete(key);
  }

  has(key: string): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && !entry.removed;
  }

  /** When `key`'s next run is due (clock ms); undefined while it runs or if it is not scheduled. */
  nextRunAt(key: string): number | undefined {
    return this.#due.priorityOf(key);
  }

  /** Keys with periodic work. */
  get size(): number {
    return this.#scheduled;
  }

  get running(): number {
    return this.#running;
  }

  /** Median lateness (ms) over the recent runs; 0 before any run. */
  get p50LatenessMs(): number {
    return this.latenessPercentileMs(50);
  }

  /** 99th-percentile lateness (ms) over the recent runs; 0 before any run. */
  get p99LatenessMs(): number {
    return this.latenessPercentileMs(99);
  }

  /** Nearest-rank percentile of how late recent runs started, in ms. */
  latenessPercentileMs(percentile: number): number {
    const count = Math.min(this.#sampleCount, this.#samples.length);
    if (count === 0) return 0;
    const sorted = this.#samples.slice(0, count).sort();
    const rank = Math.min(count, Math.max(1, Math.ceil((percentile / 100) * count)));
    return sorted[rank - 1]!;
  }

  /** Stops all periodic work: aborts running callbacks' signals and resolves once they have returned. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#timer?.timer.cancel();
    this.#timer = undefined;
    this.#due.clear();
    this.#entries.clear();
    this.#countScheduled(-this.#scheduled);
    await Promise.all(this.#inFlight);
  }

  #countScheduled(delta: number): void {
    this.#scheduled += delta;
    // Schedulers that share a label (one per leadership term) add to the gauge rather than set it, so a term
    // that stops after its successor started does not zero the successor's count.
    this.#metrics?.keys.inc(delta);
  }

  #setDue(key: string, dueAt: number): void {
    this.#due.set(key, dueAt);
    this.#pump();
  }

  /** Starts every due key that fits under the concurrency limit, then sets the one timer for the next. */
  #pump(): void {
    const now = this.#clock.now();
    while (this.#running < this.#concurrency) {
      const next = this.#due.peek();
      if (!next || next.priority > now) break;
      this.#due.pop();
      this.#start(next.key, next.priority, now);
    }
    this.#arm();
  }

  #arm(): void {
    const next = this.#due.peek();
    // When every slot is busy the end of a run pumps again; a timer now would only spin.
    if (!next || this.#running >= this.#concurrency) return;
    if (this.#timer && this.#timer.dueAt <= next.priority) return;
    this.#timer?.timer.cancel();
    const delay = Math.min(MAX_TIMER_DELAY_MS, next.priority - this.#clock.now());
    const timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#sliceStartedAt = this.#clock.now();
      this.#pump();
    }, delay);
    this.#timer = { timer, dueAt: next.priority };
  }

  #start(key: string, dueAt: number, now: number): void {
    const entry = this.#entries.get(key)!;
    entry.running = true;
    entry.lastDueAt = dueAt;
    this.#running++;
    this.#metrics?.running.inc();
    this.#recordLateness(now - dueAt);
    const run = Promise.resolve()
      .then(() => this.#options.run(key, this.#abort.signal, dueAt))
      .then(
        () => this.#metrics?.runs('success'),
        (error: unknown) => {
          this.#metrics?.runs('error');
          this.#options.log.warn({ scheduler: this.#options.name, key, err: error }, 'poll failed');
        },
      )
      .finally(() => {
        this.#inFlight.delete(run);
        this.#finish(key, entry);
      });
    this.#inFlight.add(run);
  }

  #finish(key: string, entry: Entry): void {
    this.#running--;
    this.#metrics?.running.dec();
    entry.running = false;
    if (this.#abort.signal.aborted) return;
    if (entry.removed) {
      this.#entries.delete(key);
    } else {
      const now = this.#clock.now();
      const dueAt = entry.requestedAt ?? nextDueAt(entry.intervalMs, entry.phaseMs, entry.lastDueAt, now);
      entry.requestedAt = undefined;
      this.#due.set(key, Math.max(now, dueAt));
    }
    // Runs that settle in microtasks chain straight into one another while a backlog lasts; past a short
    // slice, continue from the timer so I/O and other timers get their turn.
    if (this.#clock.now() - this.#sliceStartedAt < YIELD_AFTER_MS) this.#pump();
    else this.#arm();
  }

  #recordLateness(latenessMs: number): void {
    const lateness = Math.max(0, latenessMs);
    this.#samples[this.#sampleCount % this.#samples.length] = lateness;
    this.#sampleCount++;
    this.#metrics?.lateness.observe(lateness / 1_000);
  }
}
