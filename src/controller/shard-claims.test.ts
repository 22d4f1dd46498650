import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { FakeClock } from './fake-clock.js';
import type { LeaseStore, StoredLease } from './leader-election.js';
import { MemoryLeaseCollection } from './memory-lease-store.js';
import { ShardClaims, type LeaseCollection } from './shard-claims.js';
import { MEMBER_LEASE_PREFIX, shardLeaseName } from './shards.js';

const log = createLogger({ level: 'silent' });
const LEASE_MS = 15_000;
const RETRY_MS = 2_000;

/** One replica's way to the shared Leases; `kill` makes every call hang, as if the process had vanished. */
class ReplicaLeases implements LeaseCollection {
  readonly description: string;
  dead = false;

  constructor(private readonly inner: MemoryLeaseCollection) {
    this.description = inner.description;
  }

  list(): Promise<Map<string, StoredLease>> {
    return this.dead ? never() : this.inner.list();
  }

  delete(name: string, resourceVersion: string): Promise<void> {
    return this.dead ? never() : this.inner.delete(name, resourceVersion);
  }

  store(name: string): LeaseStore {
    const store = this.inner.store(name);
    return {
      description: store.description,
      get: () => (this.dead ? never() : store.get()),
      create: (record) => (this.dead ? never() : store.create(record)),
      update: (record, version) => (this.dead ? never() : store.update(record, version)),
    };
  }
}

function never<T>(): Promise<T> {
  return new Promise(() => {});
}

/** Who runs each shard's work right now, and every time two replicas ran one shard at once. */
class Holders {
  readonly active = new Map<number, string>();
  readonly overlaps: string[] = [];
  starts = 0;

  work(identity: string) {
    return async (shard: number, term: AbortSignal): Promise<void> => {
      const other = this.active.get(shard);
      if (other) this.overlaps.push(`shard ${shard}: ${identity} started while ${other} held it`);
      this.starts++;
      this.active.set(shard, identity);
      await new Promise<void>((resolve) => (term.aborted ? resolve() : term.addEventListener('abort', () => resolve(), { once: true })));
      if (this.active.get(shard) === identity) this.active.delete(shard);
    };
  }

  countOf(identity: string): number {
    return [...this.active.values()].filter((holder) => holder === identity).length;
  }
}

const stops: AbortController[] = [];
const runs: { view: ReplicaLeases; run: Promise<void> }[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) stop.abort();
  // A killed replica's calls never return, so it never finishes stopping.
  await Promise.all(runs.splice(0).flatMap(({ view, run }) => (view.dead ? [] : [run])));
});

function replica(identity: string, leases: MemoryLeaseCollection, clock: FakeClock, holders: Holders, shards: number) {
  const view = new ReplicaLeases(leases);
  const claims = new ShardClaims({
    shards,
    leases: view,
    identity,
    log,
    clock,
    random: () => 0,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: 10_000,
    retryPeriodMs: RETRY_MS,
  });
  const stop = new AbortController();
  stops.push(stop);
  runs.push({ view, run: claims.run(holders.work(identity), stop.signal) });
  return { claims, view, stop };
}

describe('ShardClaims', () => {
  it("shares the shards among three replicas, takes over a dead one's within the lease duration, and gives a newcomer its share", async () => {
    const clock = new FakeClock();
    const leases = new MemoryLeaseCollection();
    const holders = new Holders();
    replica('a', leases, clock, holders, 6);
    replica('b', leases, clock, holders, 6);
    const c = replica('c', leases, clock, holders, 6);
    await clock.advance(30_000);
    expect(holders.active.size).toBe(6);
    expect(['a', 'b', 'c'].map((id) => holders.countOf(id))).toEqual([2, 2, 2]);
    // Starting together, they saw each other before claiming: no shard was claimed and handed back.
    expect(holders.starts).toBe(6);
    for (let shard = 0; shard < 6; shard++) expect(leases.stores.get(shardLeaseName(shard))?.lease?.record.holderIdentity).toBe(holders.active.get(shard));

    const killedAt = clock.now();
    const orphaned = [...holders.active].filter(([, holder]) => holder === 'c').map(([shard]) => shard);
    c.view.dead = true;
    let takenAt: number | undefined;
    while (clock.now() - killedAt < 40_000) {
      await clock.advance(100);
      if (takenAt === undefined && orphaned.every((shard) => ['a', 'b'].includes(holders.active.get(shard) ?? ''))) takenAt = clock.now();
    }
    // c's Leases expire one duration after its last renewal; the survivors see that at their next listing
    // (up to one retry period later, as they stamp versions when they list) and claim at once.
    expect(takenAt! - killedAt).toBeLessThanOrEqual(LEASE_MS + 2 * RETRY_MS);
    expect(takenAt! - killedAt).toBeGreaterThanOrEqual(LEASE_MS - RETRY_MS);
    expect(['a', 'b'].map((id) => holders.countOf(id))).toEqual([3, 3]);
    // The dead replica's membership Lease is deleted once unchanged for two durations.
    const members = [...leases.stores]
      .filter(([name, store]) => name.startsWith(MEMBER_LEASE_PREFIX) && store.lease)
      .map(([, store]) => store.lease?.record.holderIdentity);
    expect(members.sort()).toEqual(['a', 'b']);

    replica('d', leases, clock, holders, 6);
    await clock.advance(30_000);
    expect(holders.active.size).toBe(6);
    expect(['a', 'b', 'd'].map((id) => holders.countOf(id))).toEqual([2, 2, 2]);
    expect(holders.overlaps).toEqual([]);
  });

  it('with more replicas than shards, the extra replicas stand by and take over when a holder stops', async () => {
    const clock = new FakeClock();
    const leases = new MemoryLeaseCollection();
    const holders = new Holders();
    const a = replica('a', leases, clock, holders, 2);
    replica('b', leases, clock, holders, 2);
    replica('c', leases, clock, holders, 2);
    await clock.advance(30_000);
    expect(holders.active.size).toBe(2);
    expect(new Set(holders.active.values()).size).toBe(2);
    const aHeld = holders.countOf('a');
    a.stop.abort();
    // A clean stop releases the Leases: the others take them at their next rounds, without waiting for expiry.
    await clock.advance(3 * RETRY_MS);
    expect(holders.active.size).toBe(2);
    expect(holders.countOf('a')).toBe(0);
    expect(aHeld + holders.countOf('b') + holders.countOf('c')).toBeGreaterThanOrEqual(2);
    expect(holders.overlaps).toEqual([]);
  });

  it('keeps its shards while listing fails, and rebalances once it works again', async () => {
    const clock = new FakeClock();
    const leases = new MemoryLeaseCollection();
    const holders = new Holders();
    replica('a', leases, clock, holders, 4);
    await clock.advance(10_000);
    expect(holders.countOf('a')).toBe(4);
    leases.failing = true;
    replica('b', leases, clock, holders, 4);
    await clock.advance(30_000);
    expect(holders.countOf('a')).toBe(4);
    leases.failing = false;
    await clock.advance(30_000);
    expect([holders.countOf('a'), holders.countOf('b')]).toEqual([2, 2]);
    expect(holders.overlaps).toEqual([]);
  });
});
