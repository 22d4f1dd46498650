/**
 * The controller runtime every swell control loop is built on, after controller-runtime's semantics:
 *
 *   informer (list + watch, cache)  --enqueueHandler-->  WorkQueue (keys, dedupe, backoff)  -->  runController
 *
 * - An {@link Informer} keeps a cache of one collection and tells handlers about changes; handlers only
 *   enqueue keys (`namespace/name`). Reconcilers read current state from the cache, never from the event.
 * - {@link runController} takes keys from the queue with N workers; a key is never reconciled twice at once.
 *   Errors retry with per-key backoff, {@link TerminalError} does not retry, `requeueAfterMs` looks again later.
 * - {@link LeaderElector} runs the leader-only work (controllers, the poll scheduler) while holding a Lease.
 * - {@link PollScheduler} drives the periodic polling of every ScaledObject from one heap and one timer.
 *
 * Sketch:
 *   const informer = new Informer({ name: 'scaledobjects', log,
 *     source: createKubeListWatchSource<ScaledObject>(kc, '/apis/keda.sh/v1alpha1/scaledobjects') });
 *   const queue = new WorkQueue({ name: 'scaledobjects', registry });
 *   informer.addHandler(enqueueHandler(queue));
 *   informer.start();
 *   await informer.synced();
 *   await runController({ name: 'scaledobjects', queue, workers: 5, log, signal, registry,
 *     reconcile: async (key, { log }) => { const so = informer.get(key); ...; return { requeueAfterMs: 30_000 }; } });
 */
export { WATCH_RECONNECT_BACKOFF, backoffDelayMs, type BackoffPolicy } from './backoff.js';
export { MAX_TIMER_DELAY_MS, createSystemClock, sleep, type Clock, type Timer } from './clock.js';
export { TerminalError, runController, type ControllerOptions, type ReconcileContext, type ReconcileResult, type Reconciler } from './controller.js';
export { INFORMER_DEFAULTS, Informer, enqueueHandler, type InformerHandler, type InformerOptions } from './informer.js';
export { objectKey, splitObjectKey } from './keys.js';
export {
  LEADER_ELECTION_DEFAULTS,
  LeaderElector,
  type LeaderElectionOptions,
  type LeadershipEnd,
  type LeaseRecord,
  type LeaseStore,
  type StoredLease,
} from './leader-election.js';
export type { ListQuery, ListResult, ListWatchSource, WatchEvent, WatchQuery } from './list-watch-source.js';
export { PollScheduler, type PollCallback, type PollSchedulerOptions } from './poll-scheduler.js';
export { ExponentialFailureRateLimiter, MaxOfRateLimiter, TokenBucketRateLimiter, createDefaultRateLimiter, type RateLimiter } from './rate-limiter.js';
export { WorkQueue, type WorkQueueOptions } from './workqueue.js';
