import type { Logger } from '../log.js';
import { describeApiError, isConflict } from '../kube/errors.js';
import { createSystemClock, sleep, type Clock, type Timer } from './clock.js';

/** The leadership fields of a coordination.k8s.io/v1 Lease spec. */
export interface LeaseRecord {
  /** Empty when nobody holds the lease (e.g. after a clean release). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions: number;
}

export interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
}

/**
 * Reads and writes one Lease. `create` and `update` must fail with a 409 error (`code` or `statusCode`)
 * when the lease exists already or `resourceVersion` is stale: that optimistic concurrency is what makes
 * the election safe. `createKubeLeaseStore` is the Kubernetes implementation.
 */
export interface LeaseStore {
  /** `namespace/name`, for logs. */
  readonly description: string;
  get(): Promise<StoredLease | undefined>;
  create(record: LeaseRecord): Promise<StoredLease>;
  update(record: LeaseRecord, resourceVersion: string): Promise<StoredLease>;
}

export interface LeaderElectionOptions {
  store: LeaseStore;
  /** Unique per process (e.g. pod name plus a random suffix), so a restarted process is a new candidate. */
  identity: string;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  /** How long a lease stays valid after its last observed renewal. */
  leaseDurationMs?: number;
  /** The leader gives up when it has failed to renew for this long, before others may take over. */
  renewDeadlineMs?: number;
  /** Pause between acquire or renew attempts. */
  retryPeriodMs?: number;
  /** Release the lease when `run`'s signal aborts, so a successor need not wait for it to expire. */
  releaseOnCancel?: boolean;
  /**
   * The lease as the caller already saw it and when it first did (this clock): a lease still unchanged at the
   * first attempt counts as unchanged since then, so a candidate that watched it expire takes it at once.
   */
  observed?: { lease: StoredLease; observedAt: number };
  /** Starts the leader's work; it must stop when `signal` aborts (the returned promise is awaited). */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  onStoppedLeading?(): void;
  /** Called whenever the observed holder changes (including to this candidate). */
  onNewLeader?(identity: string): void;
}

export const LEADER_ELECTION_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

/** Candidates wait between `retryPeriod` and `retryPeriod * (1 + JITTER)` so they do not poll in step. */
const RETRY_JITTER = 1.2;

export type LeadershipEnd = 'cancelled' | 'lost';

/**
 * Lease-based leader election with client-go's semantics: a lease is considered expired only when this
 * candidate has itself seen it unchanged for `leaseDuration` (its own clock, never the holder's
 * timestamps, so clock skew cannot cause two leaders); writes use the lease's resourceVersion so exactly one
 * of several racing candidates wins; the leader stops its work when it cannot renew within `renewDeadline`.
 */
export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  #observed: StoredLease | undefined;
  #observedAt = 0;
  #isLeader = false;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#random = options.random ?? Math.random;
    this.#leaseDurationMs = options.leaseDurationMs ?? LEADER_ELECTION_DEFAULTS.leaseDurationMs;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? LEADER_ELECTION_DEFAULTS.renewDeadlineMs;
    this.#retryPeriodMs = options.retryPeriodMs ?? LEADER_ELECTION_DEFAULTS.retryPeriodMs;
    validateTimings(options.identity, this.#leaseDurationMs, this.#renewDeadlineMs, this.#retryPeriodMs);
    if (options.observed) {
      this.#observed = options.observed.lease;
      this.#observedAt = options.observed.observedAt;
    }
  }

  get isLeader(): boolean {
    return this.#isLeader;
  }

  /** The holder this candidate last observed, if any. */
  get leader(): string | undefined {
    return this.#observed?.record.holderIdentity || undefined;
  }

  /**
   * Campaigns until elected, leads until `signal` aborts ('cancelled') or renewal fails ('lost'), then stops
   * the leader's work, releases the lease if asked to, and returns. Resolves 'cancelled' without leading if
   * `signal` aborts first.
   */
  async run(signal: AbortSignal): Promise<LeadershipEnd> {
    const log = this.#options.log.child({ lease: this.#options.store.description, identity: this.#options.identity });
    if (!(await this.#acquire(signal, log))) return 'cancelled';
    this.#isLeader = true;
    log.info('became leader');
    const work = new AbortController();
    const leading = Promise.resolve()
      .then(() => this.#options.onStartedLeading(work.signal))
      .catch((error: unknown) => log.error({ err: error }, 'leader work failed'));
    const end = await this.#renew(signal, log);
    work.abort();
    await leading;
    if (end === 'cancelled' && (this.#options.releaseOnCancel ?? true)) await this.#release(log);
    this.#isLeader = false;
    log.info({ end }, 'stopped leading');
    this.#options.onStoppedLeading?.();
    return end;
  }

  async #acquire(signal: AbortSignal, log: Logger): Promise<boolean> {
    while (!signal.aborted) {
      if ((await this.#attempt(log)) === 'held') return true;
      await sleep(this.#clock, this.#retryPeriodMs * (1 + this.#random() * RETRY_JITTER), signal);
    }
    return false;
  }

  async #renew(signal: AbortSignal, log: Logger): Promise<LeadershipEnd> {
    let renewedAt = this.#clock.now();
    for (;;) {
      if (!(await sleep(this.#clock, this.#retryPeriodMs, signal))) return 'cancelled';
      const result = await this.#attempt(log, renewedAt + this.#renewDeadlineMs);
      if (result === 'held') renewedAt = this.#clock.now();
      else if (result === 'taken') {
        log.warn({ holder: this.leader }, 'lost leadership: another candidate holds the lease');
        return 'lost';
      } else if (this.#clock.now() - renewedAt >= this.#renewDeadlineMs) {
        log.warn({ renewDeadlineMs: this.#renewDeadlineMs }, 'lost leadership: the lease was not renewed within the renew deadline');
        return 'lost';
      }
    }
  }

  /**
   * One acquire-or-renew round trip. 'held': this candidate holds the lease now; 'taken': someone else
   * holds a valid lease; 'failed': the API call failed or lost a write race. A call still pending at
   * `deadline` counts as failed.
   */
  async #attempt(log: Logger, deadline?: number): Promise<'held' | 'taken' | 'failed'> {
    if (deadline !== undefined && deadline <= this.#clock.now()) return 'failed';
    try {
      const attempt = this.#tryAcquireOrRenew();
      const outcome = deadline === undefined ? await attempt : await this.#before(attempt, deadline);
      return outcome ?? 'failed';
    } catch (error) {
      if (!isConflict(error)) log.warn({ error: describeApiError(error) }, 'lease request failed');
      return 'failed';
    }
  }

  async #tryAcquireOrRenew(): Promise<'held' | 'taken'> {
    const { store, identity } = this.#options;
    const now = this.#clock.now();
    const observed = this.#observed;
    if (this.#isLeader && observed?.record.holderIdentity === identity) {
      // A leader renews on the version it wrote last: one write a period instead of a read and a write. A
      // conflict means someone else wrote since, so it reads the Lease and decides as any candidate would.
      try {
        this.#observe(await store.update(this.#claim(observed.record, now), observed.resourceVersion));
        return 'held';
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    const current = await store.get();
    if (!current) {
      this.#observe(await store.create(this.#claim(undefined, now)));
      return 'held';
    }
    this.#observe(current);
    const holder = current.record.holderIdentity;
    // The holder's declared duration counts, not ours: candidates may be configured differently.
    const durationMs = current.record.leaseDurationSeconds > 0 ? current.record.leaseDurationSeconds * 1_000 : this.#leaseDurationMs;
    const expired = this.#observedAt + durationMs <= now;
    if (holder && holder !== identity && !expired) return 'taken';
    this.#observe(await store.update(this.#claim(current.record, now), current.resourceVersion));
    return 'held';
  }

  /** The record this candidate writes to take or keep the lease. */
  #claim(previous: LeaseRecord | undefined, now: number): LeaseRecord {
    const leaseDurationSeconds = Math.ceil(this.#leaseDurationMs / 1_000);
    if (previous && previous.holderIdentity === this.#options.identity) {
      return { ...previous, leaseDurationSeconds, renewTime: new Date(now) };
    }
    return {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds,
      acquireTime: new Date(now),
      renewTime: new Date(now),
      leaseTransitions: previous ? previous.leaseTransitions + 1 : 0,
    };
  }

  /** Remembers the lease and, if it changed, when this candidate first saw that version. */
  #observe(lease: StoredLease): void {
    const previousHolder = this.#observed?.record.holderIdentity;
    if (this.#observed?.resourceVersion !== lease.resourceVersion) this.#observedAt = this.#clock.now();
    this.#observed = lease;
    const holder = lease.record.holderIdentity;
    if (holder && holder !== previousHolder) this.#options.onNewLeader?.(holder);
  }

  /** Gives the lease up (empty holder, 1 s duration) so the next candidate takes over at its next retry. */
  async #release(log: Logger): Promise<void> {
    const observed = this.#observed;
    if (!observed || observed.record.holderIdentity !== this.#options.identity) return;
    const now = new Date(this.#clock.now());
    const record = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: observed.record.leaseTransitions };
    try {
      this.#observed = await this.#options.store.update(record, observed.resourceVersion);
      log.info('released lease');
    } catch (error) {
      log.warn({ error: describeApiError(error) }, 'could not release lease; successors will wait for it to expire');
    }
  }

  /** Resolves with `promise`, or undefined if `deadline` (clock time) passes first. */
  #before<T>(promise: Promise<T>, deadline: number): Promise<T | undefined> {
    let timer: Timer | undefined;
    const expired = new Promise<undefined>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(undefined), deadline - this.#clock.now());
    });
    return Promise.race([promise, expired]).finally(() => timer?.cancel());
  }
}

function validateTimings(identity: string, leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): void {
  if (!identity) throw new Error('leader election: identity must not be empty');
  if (!(retryPeriodMs > 0)) throw new Error(`leader election: retryPeriodMs must be positive, got ${retryPeriodMs}`);
  if (!(leaseDurationMs > renewDeadlineMs)) {
    throw new Error(`leader election: leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs})`);
  }
  if (!(renewDeadlineMs > retryPeriodMs * RETRY_JITTER)) {
    throw new Error(`leader election: renewDeadlineMs (${renewDeadlineMs}) must be greater than ${RETRY_JITTER} x retryPeriodMs (${retryPeriodMs})`);
  }
}
