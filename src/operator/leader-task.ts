import { LeaderElector, type LeaseStore } from '../controller/leader-election.js';
import type { Logger } from '../log.js';

export interface LeaderTaskOptions {
  /** The Lease to campaign on; without one the task runs at once (single replica). */
  leaseStore?: LeaseStore;
  identity: string;
  log: Logger;
  /** Runs while this process leads; must return soon after its signal aborts. */
  work: (signal: AbortSignal) => Promise<void>;
}

/**
 * Runs `work` only while this process holds its own Lease, campaigning again after a lost term, until
 * `signal` aborts. Controllers that are not part of the ScaledObject operator (burst placement) lead through
 * this, on a Lease of their own, as the ScaledJob controller does.
 */
export async function runWhileLeading(options: LeaderTaskOptions, signal: AbortSignal): Promise<void> {
  if (!options.leaseStore) {
    await options.work(signal);
    return;
  }
  const elector = new LeaderElector({ store: options.leaseStore, identity: options.identity, log: options.log, releaseOnCancel: true, onStartedLeading: (term) => options.work(term) });
  while (!signal.aborted) await elector.run(signal);
}
