import { keyHash } from './key-hash.js';
import type { StoredLease } from './leader-election.js';

/**
 * The pure decisions of sharding: which shard an object is in, how many shards a replica should hold, which
 * ones it keeps or campaigns for, and which Leases it sees as held. The Lease I/O is ShardClaims'.
 */

/** The shard of `key` (`namespace/name`) among `shards`: the same in every replica and across restarts. */
export function shardOf(key: string, shards: number): number {
  return keyHash(key) % shards;
}

export const SHARD_LEASE_PREFIX = 'swell-shard-';
export const MEMBER_LEASE_PREFIX = 'swell-member-';

export function shardLeaseName(shard: number): string {
  return `${SHARD_LEASE_PREFIX}${shard}`;
}

/** A replica's membership Lease: its identity made a valid object name (lowercase, `-` for anything else). */
export function memberLeaseName(identity: string): string {
  const name = identity.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  return `${MEMBER_LEASE_PREFIX}${name}`.slice(0, 253).replace(/[^a-z0-9]+$/, '');
}

/**
 * How many shards `me` should hold: `shards` split evenly over the live `members` (sorted identities, `me`
 * among them), the first `shards mod members` of them holding one more, so the quotas add up to `shards`.
 */
export function shardQuota(shards: number, members: readonly string[], me: string): number {
  const index = Math.max(0, members.indexOf(me));
  const count = Math.max(1, members.length);
  return Math.floor(shards / count) + (index < shards % count ? 1 : 0);
}

export interface ShardView {
  shards: number;
  me: string;
  /** Identities of the live replicas, sorted, `me` among them. */
  members: readonly string[];
  /** Per shard, who holds its Lease now (undefined: nobody, released or expired). */
  holders: readonly (string | undefined)[];
  /** The shards `me` leads now. */
  leading: ReadonlySet<number>;
}

/**
 * The shards `me` should keep or campaign for: the ones it leads up to its quota (the lowest-numbered; it gives
 * up the rest), then free shards up to its quota, searched from a point set by its place among the members so
 * that replicas looking at once mostly go for different shards. A shard another live replica holds is never
 * wanted: it is taken only after its holder released it or its Lease expired.
 */
export function wantedShards(view: ShardView): number[] {
  const { shards, me, members, holders, leading } = view;
  const quota = shardQuota(shards, members, me);
  const kept = [...leading].sort((a, b) => a - b).slice(0, quota);
  const wanted = new Set(kept);
  const start = Math.floor((Math.max(0, members.indexOf(me)) * shards) / Math.max(1, members.length));
  for (let k = 0; k < shards && wanted.size < quota; k++) {
    const shard = (start + k) % shards;
    const holder = holders[shard];
    if (holder === undefined || holder === me) wanted.add(shard);
  }
  return [...wanted].sort((a, b) => a - b);
}

/** A Lease as this replica last listed it, and when it first saw that version (its own clock). */
export interface LeaseObservation {
  lease: StoredLease;
  observedAt: number;
}

/**
 * Folds a fresh listing into the observations: a Lease whose version changed is stamped `now`, an unchanged one
 * keeps its stamp, a deleted one is dropped. Expiry is judged from these stamps, never from the holder's own
 * timestamps, so clock skew between replicas cannot make a held Lease look free.
 */
export function observeLeases(
  previous: ReadonlyMap<string, LeaseObservation>,
  listed: ReadonlyMap<string, StoredLease>,
  now: number,
): Map<string, LeaseObservation> {
  const next = new Map<string, LeaseObservation>();
  for (const [name, lease] of listed) {
    const seen = previous.get(name);
    next.set(name, seen && seen.lease.resourceVersion === lease.resourceVersion ? { lease, observedAt: seen.observedAt } : { lease, observedAt: now });
  }
  return next;
}

/** How long `observation`'s Lease has been unchanged beyond its declared duration (negative while valid). */
export function expiredForMs(observation: LeaseObservation, now: number, defaultDurationMs: number): number {
  const declared = observation.lease.record.leaseDurationSeconds;
  return now - observation.observedAt - (declared > 0 ? declared * 1_000 : defaultDurationMs);
}

/** Who holds the observed Lease: its holder while it names one and has not expired, else undefined. */
export function liveHolder(observation: LeaseObservation | undefined, now: number, defaultDurationMs: number): string | undefined {
  if (!observation) return undefined;
  const holder = observation.lease.record.holderIdentity;
  return holder && expiredForMs(observation, now, defaultDurationMs) < 0 ? holder : undefined;
}
