import { describe, expect, it } from 'vitest';
import type { StoredLease } from './leader-election.js';
import { liveHolder, memberLeaseName, observeLeases, shardOf, shardQuota, wantedShards, type LeaseObservation } from './shards.js';

function lease(holderIdentity: string, resourceVersion: string, leaseDurationSeconds = 15): StoredLease {
  return { resourceVersion, record: { holderIdentity, leaseDurationSeconds, leaseTransitions: 0 } };
}

describe('shardOf', () => {
  it('is stable, within range, and spreads similar names evenly', () => {
    expect(shardOf('app/so-1', 6)).toBe(shardOf('app/so-1', 6));
    expect(shardOf('app/anything', 1)).toBe(0);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6_000; i++) counts[shardOf(`bench/so-${i}`, 6)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    expect(counts.reduce((a, b) => a + b)).toBe(6_000);
  });

  it('does not tie the shard to the poll phase (a replica holding some shards still polls across the interval)', async () => {
    const { keyPhase } = await import('./poll-scheduler.js');
    const phases = Array.from({ length: 3_000 }, (_, i) => `bench/so-${i}`)
      .filter((key) => shardOf(key, 6) === 0)
      .map(keyPhase);
    expect(Math.min(...phases)).toBeLessThan(0.05);
    expect(Math.max(...phases)).toBeGreaterThan(0.95);
  });
});

describe('shardQuota', () => {
  it.each([
    { shards: 6, members: ['a', 'b', 'c'], me: 'a', quota: 2 },
    { shards: 6, members: ['a', 'b', 'c', 'd'], me: 'a', quota: 2 },
    { shards: 6, members: ['a', 'b', 'c', 'd'], me: 'b', quota: 2 },
    { shards: 6, members: ['a', 'b', 'c', 'd'], me: 'c', quota: 1 },
    { shards: 6, members: ['a', 'b', 'c', 'd'], me: 'd', quota: 1 },
    { shards: 6, members: ['a'], me: 'a', quota: 6 },
    { shards: 2, members: ['a', 'b', 'c'], me: 'c', quota: 0 },
    { shards: 16, members: ['a', 'b', 'c'], me: 'a', quota: 6 },
    { shards: 16, members: ['a', 'b', 'c'], me: 'c', quota: 5 },
  ])('$shards shards over $members: $me holds $quota', ({ shards, members, me, quota }) => {
    expect(shardQuota(shards, members, me)).toBe(quota);
  });

  it('adds up to the shard count', () => {
    for (const members of [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b', 'c', 'd', 'e', 'f', 'g']]) {
      expect(members.reduce((sum, me) => sum + shardQuota(6, members, me), 0)).toBe(6);
    }
  });
});

describe('wantedShards', () => {
  const none = [undefined, undefined, undefined, undefined, undefined, undefined];
  it.each([
    { name: 'alone, takes every free shard', members: ['a'], me: 'a', holders: none, leading: [], wanted: [0, 1, 2, 3, 4, 5] },
    { name: 'first of three, starts at 0', members: ['a', 'b', 'c'], me: 'a', holders: none, leading: [], wanted: [0, 1] },
    { name: 'second of three, starts at 2', members: ['a', 'b', 'c'], me: 'b', holders: none, leading: [], wanted: [2, 3] },
    { name: 'third of three, starts at 4', members: ['a', 'b', 'c'], me: 'c', holders: none, leading: [], wanted: [4, 5] },
    {
      name: 'never a shard another live replica holds',
      members: ['a', 'b', 'c'],
      me: 'c',
      holders: ['a', 'a', 'b', 'b', 'b', undefined],
      leading: [],
      wanted: [5],
    },
    {
      name: 'keeps what it leads up to its quota, gives up the highest',
      members: ['a', 'b', 'c'],
      me: 'a',
      holders: ['a', 'a', 'a', 'a', 'a', 'a'],
      leading: [0, 1, 2, 3, 4, 5],
      wanted: [0, 1],
    },
    {
      name: 'at quota, claims nothing more',
      members: ['a', 'b'],
      me: 'a',
      holders: ['b', 'a', 'a', 'a', undefined, undefined],
      leading: [1, 2, 3],
      wanted: [1, 2, 3],
    },
    {
      name: "a dead replica's expired shards become free for the others",
      members: ['a', 'b'],
      me: 'b',
      holders: ['a', 'a', undefined, undefined, 'b', 'b'],
      leading: [4, 5],
      wanted: [3, 4, 5],
    },
    {
      name: 'the other survivor starts lower, so the two go for different free shards',
      members: ['b', 'c'],
      me: 'b',
      holders: [undefined, undefined, 'c', 'c', 'b', 'b'],
      leading: [4, 5],
      wanted: [0, 4, 5],
    },
    {
      name: 'a shard it holds on record but no longer leads can be taken back',
      members: ['a'],
      me: 'a',
      holders: ['a', undefined],
      leading: [],
      wanted: [0, 1],
    },
  ])('$name', ({ members, me, holders, leading, wanted }) => {
    expect(wantedShards({ shards: holders.length, members, me, holders, leading: new Set(leading) })).toEqual(wanted);
  });
});

describe('observeLeases and liveHolder', () => {
  it('stamps a changed version now, keeps the stamp of an unchanged one and drops deleted ones', () => {
    const first = observeLeases(
      new Map(),
      new Map([
        ['x', lease('a', '1')],
        ['y', lease('b', '5')],
      ]),
      1_000,
    );
    const second = observeLeases(
      first,
      new Map([
        ['x', lease('a', '1')],
        ['z', lease('c', '7')],
      ]),
      3_000,
    );
    expect([...second].map(([name, o]) => [name, o.observedAt])).toEqual([
      ['x', 1_000],
      ['z', 3_000],
    ]);
    const third = observeLeases(second, new Map([['x', lease('a', '2')]]), 5_000);
    expect(third.get('x')?.observedAt).toBe(5_000);
  });

  it.each([
    { name: 'within its duration', observation: { lease: lease('a', '1'), observedAt: 0 }, now: 14_999, holder: 'a' },
    { name: 'unchanged for its whole duration', observation: { lease: lease('a', '1'), observedAt: 0 }, now: 15_000, holder: undefined },
    { name: 'released (empty holder)', observation: { lease: lease('', '1', 1), observedAt: 0 }, now: 0, holder: undefined },
    { name: 'no duration on record: the default', observation: { lease: lease('a', '1', 0), observedAt: 0 }, now: 9_000, holder: 'a' },
    { name: 'never seen', observation: undefined, now: 0, holder: undefined },
  ] as { name: string; observation: LeaseObservation | undefined; now: number; holder: string | undefined }[])('$name', ({ observation, now, holder }) => {
    expect(liveHolder(observation, now, 10_000)).toBe(holder);
  });
});

describe('memberLeaseName', () => {
  it('makes an identity a valid Lease name', () => {
    expect(memberLeaseName('swell-operator-7d9f_3a4B')).toBe('swell-member-swell-operator-7d9f-3a4b');
    expect(memberLeaseName('host_')).toBe('swell-member-host');
  });
});
