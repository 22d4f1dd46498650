import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { createSystemClock, type Clock } from './clock.js';
import { DURATION_BUCKETS_SECONDS, registeredCounter, registeredGauge, registeredHistogram } from './metrics.js';
import type { WorkQueue } from './workqueue.js';

/**
 * What a reconcile asks for besides success. `requeueAfterMs` re-checks the key later even if nothing
 * changes (e.g. a cooldown ending); it is not a retry, so the key's failure backoff is reset.
 */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** Thrown by a reconcile when retrying cannot help (e.g. an invalid spec): logged and counted, not retried. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
}

export interface ReconcileContext {
  /** Aborted when the controller shuts down; pass it to I/O so shutdown is prompt. */
  signal: AbortSignal;
  /** A child logger carrying the controller name and key. */
  log: Logger;
}

/**
 * Brings the world in line with the desired state of the object named by `key` (`namespace/name`). It
 * receives only the key, never the event, and must re-read current state: the contract is level-triggered.
 */
export type Reconciler = (key: string, context: ReconcileContext) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  name: string;
  queue: WorkQueue;
  reconcile: Reconciler;
  /** Keys reconciled in parallel; one key is never reconciled twice at once. Defaults to 1. */
  workers?: number;
  log: Logger;
  /** Aborting it stops taking keys, drops queued ones and resolves once running reconciles return. */
  signal: AbortSignal;
  registry?: Registry;
  clock?: Clock;
}

type Outcome = 'success' | 'requeue_after' | 'error' | 'terminal_error';

/**
 * Longest stretch a worker reconciles before letting I/O and timers run. A reconcile with nothing to write
 * settles in microtasks, so without a pause a worker chains through a whole backlog in one turn of the event
 * loop: 10,000 objects at start-up starved the Lease renewal past its deadline, leadership was lost, and the
 * next term began the same backlog again.
 */
const YIELD_AFTER_MS = 10;

function controllerMetrics(registry: Registry, controller: string) {
  const labels = { controller };
  const total = registeredCounter(registry, {
    name: 'controller_runtime_reconcile_total',
    help: 'Reconciles by outcome',
    labelNames: ['controller', 'result'],
  });
  return {
    total: (result: Outcome) => total.inc({ controller, result }),
    errors: registeredCounter(registry, {
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconciles that failed',
      labelNames: ['controller'],
    }).labels(labels),
    terminal: registeredCounter(registry, {
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Reconciles that failed with an error retrying cannot fix',
      labelNames: ['controller'],
    }).labels(labels),
    duration: registeredHistogram(registry, {
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Time per reconcile',
      labelNames: ['controller'],
      buckets: DURATION_BUCKETS_SECONDS,
    }).labels(labels),
    active: registeredGauge(registry, { name: 'controller_runtime_active_workers', help: 'Workers reconciling right now', labelNames: ['controller'] }).labels(
      labels,
    ),
    maxWorkers: registeredGauge(registry, {
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Configured workers',
      labelNames: ['controller'],
    }).labels(labels),
  };
}

/**
 * Runs `workers` loops that take keys from `queue` and reconcile them, with controller-runtime's result
 * semantics: an error re-adds the key with per-key backoff, a `TerminalError` is not retried, success
 * forgets the key's failures, and `requeueAfterMs` schedules another look. Resolves after `signal` aborts
 * and every running reconcile has returned.
 */
export async function runController(options: ControllerOptions): Promise<void> {
  const { queue, signal } = options;
  const workers = Math.max(1, options.workers ?? 1);
  const clock = options.clock ?? createSystemClock();
  const metrics = options.registry && controllerMetrics(options.registry, options.name);
  const log = options.log.child({ controller: options.name });
  metrics?.maxWorkers.set(workers);
  const stop = (): void => void queue.shutDown({ drain: false });
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });

  const reconcileOne = async (key: string): Promise<void> => {
    const startedAt = clock.now();
    metrics?.active.inc();
    const outcome = await reconcileKey(key, options, log);
    metrics?.active.dec();
    metrics?.duration.observe((clock.now() - startedAt) / 1_000);
    metrics?.total(outcome);
    if (outcome === 'error') metrics?.errors.inc();
    if (outcome === 'terminal_error') metrics?.terminal.inc();
  };
  const work = async (): Promise<void> => {
    let sliceStartedAt = clock.now();
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      try {
        await reconcileOne(key);
      } finally {
        queue.done(key);
      }
      if (clock.now() - sliceStartedAt >= YIELD_AFTER_MS) {
        await nextTurn();
        sliceStartedAt = clock.now();
      }
    }
  };
  log.info({ workers }, 'controller started');
  await Promise.all(Array.from({ length: workers }, work));
  signal.removeEventListener('abort', stop);
  log.info('controller stopped');
}

async function reconcileKey(key: string, options: ControllerOptions, controllerLog: Logger): Promise<Outcome> {
  const { queue, signal } = options;
  const log = controllerLog.child({ key });
  try {
    const result = await options.reconcile(key, { signal, log });
    queue.forget(key);
    const requeueAfterMs = result?.requeueAfterMs ?? 0;
    if (requeueAfterMs > 0) {
      queue.addAfter(key, requeueAfterMs);
      return 'requeue_after';
    }
    return 'success';
  } catch (error) {
    if (error instanceof TerminalError) {
      queue.forget(key);
      log.error({ err: error }, 'reconcile failed permanently; not retrying');
      return 'terminal_error';
    }
    if (!signal.aborted) {
      queue.addRateLimited(key);
      log.error({ err: error, retries: queue.numRequeues(key) }, 'reconcile failed; will retry');
    }
    return 'error';
  }
}
