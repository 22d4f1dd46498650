export interface BackoffPolicy {
  /** Delay after the first failure, in ms. */
  initialMs: number;
  /** Ceiling of every delay, in ms. */
  maxMs: number;
}

/** Reconnect policy for watches: 1 s doubling to 30 s. */
export const WATCH_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000 };

/**
 * Delay before retry number `attempt` (0-based): the exponential ceiling `initialMs * 2^attempt`, capped at
 * `maxMs`, with "equal jitter" (a uniformly random point in its upper half) so that many clients cut off
 * at once do not reconnect in lockstep. Always within [initialMs, maxMs].
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(0, attempt), 52));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.min(policy.maxMs, Math.max(policy.initialMs, jittered));
}
