import type { Clock } from '../controller/clock.js';
import { LeaderElector, type LeaseStore } from '../controller/leader-election.js';
import type { Logger } from '../log.js';

export interface LeaderTaskOptions {
  /** The Lease to campaign on; without one the task runs at once (single replica). */
  leaseStore?: LeaseStore;
  identity: string;
  log: Logger;
  /** Runs while this process leads; must return soon after its signal aborts. */
  work: (signal: AbortSignal) => Promise<void>;
  clock?: Clock;
  random?: () => number;
  /** Leader election timings; LeaderElector's defaults when unset. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/**
 * Runs `work` only while this process holds its own Lease, campaigning again after a lost term, until
 * `signal` aborts. Every leader-only part of the operator process leads through this, each on a Lease of its
 * own: the ScaledObject and ScaledJob controllers (through their scaling-controller runner) and burst placement.
 */
export async function runWhileLeading(options: LeaderTaskOptions, signal: AbortSignal): Promise<void> {
  if (!options.leaseStore) {
    await options.work(signal);
    return;
  }
  const elector = new LeaderElector({
    store: options.leaseStore,
    identity: options.identity,
    log: options.log,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.leaseDurationMs ? { leaseDurationMs: options.leaseDurationMs } : {}),
    ...(options.renewDeadlineMs ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
    ...(options.retryPeriodMs ? { retryPeriodMs: options.retryPeriodMs } : {}),
    releaseOnCancel: true,
    onStartedLeading: (term) => options.work(term),
  });
  // A lost term (renewal failed) means campaigning again, as long as the caller is not stopping.
  while (!signal.aborted) await elector.run(signal);
}
