import { backoffDelayMs, type BackoffPolicy } from '../../../controller/backoff.js';
import { sleep, type Clock } from '../../../controller/clock.js';
import { TokenBucketRateLimiter } from '../../../controller/rate-limiter.js';

// Cloud APIs throttle per account and Region. Calls go out through a pacer: a token bucket keeps the rate
// under the service's limit, and a throttled call is retried after a jittered, growing delay, so a burst of
// pods turns into a steady stream of calls instead of a storm of retries.

export interface PacerOptions {
  readonly clock: Clock;
  /** Sustained calls per second. */
  readonly perSecond: number;
  /** Calls allowed at once after a quiet period. */
  readonly burst: number;
  /** Retries of a throttled call before its error is passed on. */
  readonly maxRetries: number;
  readonly backoff: BackoffPolicy;
  readonly random: () => number;
}

export class Pacer {
  private readonly bucket: TokenBucketRateLimiter;
  private throttled = 0;

  constructor(private readonly options: PacerOptions) {
    this.bucket = new TokenBucketRateLimiter(options.perSecond, options.burst, options.clock);
  }

  /** Runs `call` when the bucket allows, retrying throttling errors; other errors are passed on at once. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const wait = this.bucket.when();
      if (wait > 0) await sleep(this.options.clock, wait);
      try {
        return await call();
      } catch (error) {
        if (!isThrottling(error) || attempt >= this.options.maxRetries) throw error;
        this.throttled++;
        await sleep(this.options.clock, backoffDelayMs(attempt, this.options.backoff, this.options.random));
      }
    }
  }

  /** Throttled calls retried so far. */
  get throttledCalls(): number {
    return this.throttled;
  }
}

/** AWS's throttling answers: an error code that says so, or HTTP 429. */
export function isThrottling(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return /Throttl|RequestLimitExceeded|TooManyRequests|RateExceeded/i.test(name ?? '') || $metadata?.httpStatusCode === 429;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/** DescribeTasks takes at most this many tasks per call. */
export const describeTasksBatch = 100;

export interface BurstShape {
  readonly pods: number;
  /** Distinct pod specs (usually one per workload): one task definition each. */
  readonly distinctSpecs: number;
  readonly statusIntervalMs: number;
  /** RunTask calls allowed per second (the pacer's rate). */
  readonly runTaskPerSecond: number;
  readonly runTaskBurst: number;
}

export interface ApiCallCount {
  /** Calls to start the pods: one DescribeTaskDefinition and at most one RegisterTaskDefinition per spec, one RunTask per pod. */
  readonly create: { readonly describeTaskDefinition: number; readonly registerTaskDefinition: number; readonly runTask: number };
  /** Calls per minute while the pods run: DescribeTasks in batches of 100 on one timer. */
  readonly steadyPerMinute: { readonly describeTasks: number };
  /** Calls to delete them: one StopTask per pod (their final state arrives with the steady DescribeTasks). */
  readonly delete: { readonly stopTask: number };
  /** Seconds until the last RunTask of the burst may go out, given the pacer's rate. */
  readonly secondsToLaunchAll: number;
}

/**
 * The ECS calls a burst of pods costs, derived from how the provider batches: RunTask carries one pod's tags
 * and overrides, so it is one call per pod; DescribeTasks covers 100 tasks per call for every pod at once.
 */
export function apiCallCount(shape: BurstShape): ApiCallCount {
  const describeCalls = Math.ceil(shape.pods / describeTasksBatch);
  return {
    create: { describeTaskDefinition: shape.distinctSpecs, registerTaskDefinition: shape.distinctSpecs, runTask: shape.pods },
    steadyPerMinute: { describeTasks: describeCalls * (60_000 / shape.statusIntervalMs) },
    delete: { stopTask: shape.pods },
    secondsToLaunchAll: Math.max(0, shape.pods - shape.runTaskBurst) / shape.runTaskPerSecond,
  };
}
