import { describeApiError } from '../kube/errors.js';
import { createSystemClock, sleep, type Clock } from './clock.js';
import { LEADER_ELECTION_DEFAULTS, LeaderElector, type LeaderElectionOptions, type LeaseStore, type StoredLease } from './leader-election.js';
import {
  expiredForMs,
  liveHolder,
  MEMBER_LEASE_PREFIX,
  memberLeaseName,
  observeLeases,
  shardLeaseName,
  wantedShards,
  type LeaseObservation,
} from './shards.js';

/** The Leases of one namespace that sharding uses (shard and membership Leases). */
export interface LeaseCollection {
  /** The namespace, for logs. */
  readonly description: string;
  /** Every Lease of the collection, by name. */
  list(): Promise<Map<string, StoredLease>>;
  store(name: string): LeaseStore;
  /** Deletes `name` only while it is still at `resourceVersion` (a 409 otherwise). */
  delete(name: string, resourceVersion: string): Promise<void>;
}

export type ShardClaimsOptions = Pick<
  LeaderElectionOptions,
  'identity' | 'log' | 'clock' | 'random' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'
> & {
  shards: number;
  leases: LeaseCollection;
};

/** Work that runs while this replica holds `shard`; it must return soon after `term` aborts. */
export type ShardWork = (shard: number, term: AbortSignal) => Promise<void>;

interface Campaign {
  elector: LeaderElector;
  stop: AbortController;
  /** Settles when the campaign's one term (if it won one) has ended and its Lease was released. */
  done: Promise<void>;
}

/** A membership Lease unchanged for this many of its durations is a replica that died; it is deleted. */
const MEMBER_GARBAGE_AFTER_DURATIONS = 2;

/**
 * Shares `shards` shards among the replicas, each shard through its own Lease `swell-shard-<i>` held with a
 * {@link LeaderElector}, so one shard never has two holders. Every replica renews a membership Lease of its own
 * and lists the collection once per retry period; from that listing it counts the live replicas, works out its
 * quota ({@link wantedShards}), campaigns for free shards up to it and gives up (releases) shards beyond it, so
 * the shards spread when replicas join and a dead replica's shards are taken once their Leases expire.
 */
export class ShardClaims {
  readonly #options: ShardClaimsOptions;
  readonly #clock: Clock;
  readonly #retryPeriodMs: number;
  readonly #leaseDurationMs: number;
  readonly #campaigns = new Map<number, Campaign>();
  #observations = new Map<string, LeaseObservation>();

  constructor(options: ShardClaimsOptions) {
    if (!(Number.isInteger(options.shards) && options.shards >= 1)) throw new Error(`shards must be a positive integer, got ${options.shards}`);
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#retryPeriodMs = options.retryPeriodMs ?? LEADER_ELECTION_DEFAULTS.retryPeriodMs;
    this.#leaseDurationMs = options.leaseDurationMs ?? LEADER_ELECTION_DEFAULTS.leaseDurationMs;
  }

  /** The shards this replica leads now. */
  get held(): number[] {
    return [...this.#campaigns]
      .filter(([, c]) => c.elector.isLeader)
      .map(([shard]) => shard)
      .sort((a, b) => a - b);
  }

  /** Claims and gives up shards until `signal` aborts, running `work` for each shard held; then releases them all. */
  async run(work: ShardWork, signal: AbortSignal): Promise<void> {
    const member = this.#membership(signal);
    try {
      // Waiting a period before each round, the first included, lets replicas that start together see each
      // other's membership before they claim, instead of each claiming every shard and handing most back.
      while (await sleep(this.#clock, this.#retryPeriodMs, signal)) await this.#round(work, signal);
    } finally {
      for (const campaign of this.#campaigns.values()) campaign.stop.abort();
      await Promise.all([...this.#campaigns.values()].map((c) => c.done));
      await member;
    }
  }

  /** Keeps this replica's membership Lease renewed until `signal` aborts (then releases it). */
  async #membership(signal: AbortSignal): Promise<void> {
    const elector = this.#elector(memberLeaseName(this.#options.identity), undefined, (term) => aborted(term));
    while (!signal.aborted) await elector.run(signal);
  }

  async #round(work: ShardWork, signal: AbortSignal): Promise<void> {
    const { leases, shards, identity, log } = this.#options;
    let listed: Map<string, StoredLease>;
    try {
      listed = await leases.list();
    } catch (error) {
      // Held shards keep renewing on their own; only the rebalancing waits for the next listing.
      log.warn({ leases: leases.description, error: describeApiError(error) }, 'could not list shard leases');
      return;
    }
    const now = this.#clock.now();
    this.#observations = observeLeases(this.#observations, listed, now);
    const members = new Set([identity]);
    for (const [name, observation] of this.#observations) {
      if (!name.startsWith(MEMBER_LEASE_PREFIX)) continue;
      const holder = liveHolder(observation, now, this.#leaseDurationMs);
      if (holder) members.add(holder);
      else await this.#collectGarbage(name, observation, now);
    }
    const holders = Array.from({ length: shards }, (_, i) => liveHolder(this.#observations.get(shardLeaseName(i)), now, this.#leaseDurationMs));
    const wanted = new Set(wantedShards({ shards, me: identity, members: [...members].sort(), holders, leading: new Set(this.held) }));
    for (const [shard, campaign] of this.#campaigns) if (!wanted.has(shard)) campaign.stop.abort();
    for (const shard of wanted) if (!this.#campaigns.has(shard) && !signal.aborted) this.#campaign(shard, work, signal);
  }

  /** Deletes the membership Lease of a replica that released it or died long ago, so they do not pile up. */
  async #collectGarbage(name: string, observation: LeaseObservation, now: number): Promise<void> {
    const released = observation.lease.record.holderIdentity === '';
    const dead = expiredForMs(observation, now, this.#leaseDurationMs) >= (MEMBER_GARBAGE_AFTER_DURATIONS - 1) * this.#leaseDurationMs;
    if (!released && !dead) return;
    // Another replica may delete it first or its owner renew it: either way the precondition fails harmlessly.
    await this.#options.leases.delete(name, observation.lease.resourceVersion).catch(() => undefined);
  }

  #campaign(shard: number, work: ShardWork, signal: AbortSignal): void {
    const name = shardLeaseName(shard);
    const stop = new AbortController();
    const elector = this.#elector(name, this.#observations.get(name), (term) => work(shard, term));
    const campaign: Campaign = { elector, stop, done: Promise.resolve() };
    this.#campaigns.set(shard, campaign);
    // One term per campaign: after a lost or given-up term the next round decides afresh whether to campaign.
    campaign.done = elector
      .run(AbortSignal.any([stop.signal, signal]))
      .then(() => undefined)
      .finally(() => {
        if (this.#campaigns.get(shard) === campaign) this.#campaigns.delete(shard);
      });
  }

  #elector(name: string, observed: LeaseObservation | undefined, onStartedLeading: (term: AbortSignal) => Promise<void>): LeaderElector {
    const o = this.#options;
    return new LeaderElector({
      store: o.leases.store(name),
      identity: o.identity,
      log: o.log,
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.random ? { random: o.random } : {}),
      ...(o.leaseDurationMs ? { leaseDurationMs: o.leaseDurationMs } : {}),
      ...(o.renewDeadlineMs ? { renewDeadlineMs: o.renewDeadlineMs } : {}),
      ...(o.retryPeriodMs ? { retryPeriodMs: o.retryPeriodMs } : {}),
      ...(observed ? { observed } : {}),
      releaseOnCancel: true,
      onStartedLeading,
    });
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
