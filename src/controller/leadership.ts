import { LeaderElector, type LeaderElectionOptions, type LeaseStore } from './leader-election.js';

/** The leader election settings of one Lease; without a `store` the process always leads (single replica, tests). */
export type LeadershipOptions = Pick<
  LeaderElectionOptions,
  'identity' | 'log' | 'clock' | 'random' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'
> & {
  store?: LeaseStore;
};

/** Work that runs while the process leads; it must return soon after its signal aborts. */
export type LeaderWork = (term: AbortSignal) => Promise<void>;

interface Task {
  work: LeaderWork;
  signal: AbortSignal;
  /** The task's work in the current term, if it runs. */
  running: Promise<void> | undefined;
}

/**
 * One Lease for every leader-only part of a process (the ScaledObject and ScaledJob controllers, burst
 * placement): they lead and step down together, so a process campaigns and renews once instead of once per
 * part, and no two replicas can each lead a different part. The campaign runs while at least one part has
 * work registered; when the last one leaves, its term ends and the Lease is released.
 */
export class Leadership {
  readonly #options: LeadershipOptions;
  readonly #tasks = new Set<Task>();
  /** The current term's signal and the works it started; undefined while not leading. */
  #term: { signal: AbortSignal; runs: Set<Promise<void>> } | undefined;
  #campaignStop: AbortController | undefined;
  #campaign: Promise<void> = Promise.resolve();

  constructor(options: LeadershipOptions) {
    this.#options = options;
  }

  get isLeader(): boolean {
    return this.#term !== undefined;
  }

  /**
   * Runs `work` in every term this process leads until `signal` aborts; resolves once its last run has
   * returned (and, if it was the last part, the Lease was released).
   */
  async run(work: LeaderWork, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const task: Task = { work, signal, running: undefined };
    this.#tasks.add(task);
    if (this.#term) this.#start(task, this.#term);
    this.#ensureCampaign();
    await aborted(signal);
    this.#tasks.delete(task);
    await task.running;
    if (this.#tasks.size === 0) {
      this.#campaignStop?.abort();
      await this.#campaign;
    }
  }

  #ensureCampaign(): void {
    if (this.#campaignStop && !this.#campaignStop.signal.aborted) return;
    const stop = new AbortController();
    this.#campaignStop = stop;
    // A campaign still stepping down (releasing its Lease) finishes before the next one starts.
    this.#campaign = this.#campaign.then(() => this.#campaignUntil(stop.signal));
  }

  async #campaignUntil(signal: AbortSignal): Promise<void> {
    const { store } = this.#options;
    if (!store) {
      await this.#lead(signal);
      return;
    }
    const o = this.#options;
    const elector = new LeaderElector({
      store,
      identity: o.identity,
      log: o.log,
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.random ? { random: o.random } : {}),
      ...(o.leaseDurationMs ? { leaseDurationMs: o.leaseDurationMs } : {}),
      ...(o.renewDeadlineMs ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
      ...(o.retryPeriodMs ? { retryPeriodMs: o.retryPeriodMs } : {}),
      releaseOnCancel: true,
      onStartedLeading: (term) => this.#lead(term),
    });
    // A lost term (renewal failed) means campaigning again, as long as some part still has work.
    while (!signal.aborted) await elector.run(signal);
  }

  /** One term: every registered work runs until the term ends, and the term ends only when they all returned. */
  async #lead(signal: AbortSignal): Promise<void> {
    const term = { signal, runs: new Set<Promise<void>>() };
    this.#term = term;
    for (const task of this.#tasks) this.#start(task, term);
    await aborted(signal);
    this.#term = undefined;
    await Promise.all(term.runs);
  }

  #start(task: Task, term: { signal: AbortSignal; runs: Set<Promise<void>> }): void {
    const signal = AbortSignal.any([term.signal, task.signal]);
    const previous = task.running ?? Promise.resolve();
    const running = previous
      .then(() => (signal.aborted ? undefined : task.work(signal)))
      .catch((error: unknown) => this.#options.log.error({ err: error }, 'leader work failed'));
    task.running = running;
    term.runs.add(running);
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
