import { describe, expect, it } from 'vitest';
import {
  countPods,
  deletionCostFor,
  planPlacement,
  regularFreeSlots,
  tierForNewPod,
  type NodeCapacityFacts,
  type PlacementInput,
  type PlacementPolicy,
  type PodFacts,
} from './placement.js';

const t0 = Date.parse('2026-05-01T10:00:00Z');
const policy: PlacementPolicy = { pendingTimeoutMs: 30_000, rebalance: true, rebalanceIntervalMs: 20_000 };

/** A settled pod: labelled and annotated as placement wants, running and ready. */
function pod(name: string, tier: PodFacts['tier'], overrides: Partial<PodFacts> = {}): PodFacts {
  const createdAtMs = overrides.createdAtMs ?? t0;
  return {
    name,
    tier,
    phase: 'Running',
    nodeName: tier === 'burst' ? 'virtual-node' : 'node-1',
    ready: true,
    createdAtMs,
    deleting: false,
    toleratesVirtualNode: tier === 'burst',
    tierLabel: tier,
    deletionCost: deletionCostFor(tier, createdAtMs),
    ...overrides,
  };
}

function pending(name: string, unschedulableSinceMs: number | undefined, overrides: Partial<PodFacts> = {}): PodFacts {
  const { nodeName: _unbound, ...base } = pod(name, 'regular');
  return { ...base, phase: 'Pending', ready: false, ...(unschedulableSinceMs !== undefined ? { unschedulableSinceMs } : {}), ...overrides };
}

function input(overrides: Partial<PlacementInput>): PlacementInput {
  const pods = overrides.pods ?? [];
  return { policy, desiredReplicas: pods.length, pods, now: t0 + 60_000, ...overrides };
}

describe('tierForNewPod', () => {
  it.each([
    { name: 'below the base', base: 3, max: undefined, regular: 2, burst: 0, want: 'regular' },
    { name: 'base full', base: 3, max: undefined, regular: 3, burst: 0, want: 'burst' },
    { name: 'base full, more burst', base: 3, max: undefined, regular: 3, burst: 4, want: 'burst' },
    { name: 'base 0 bursts everything', base: 0, max: undefined, regular: 0, burst: 0, want: 'burst' },
    { name: 'burst limit reached', base: 3, max: 2, regular: 3, burst: 2, want: 'regular' },
    { name: 'below the burst limit', base: 3, max: 2, regular: 3, burst: 1, want: 'burst' },
    { name: 'no base: regular first', base: undefined, max: undefined, regular: 40, burst: 2, want: 'regular' },
  ])('$name → $want', ({ base, max, regular, burst, want }) => {
    const decision = tierForNewPod(
      { ...(base !== undefined ? { baseReplicas: base } : {}), ...(max !== undefined ? { maxBurstReplicas: max } : {}) },
      { regular, burst },
    );
    expect(decision.tier).toBe(want);
    expect(decision.reason).not.toBe('');
  });

  it('places 0 → 8 with base 3 as 3 regular then 5 burst', () => {
    const counts = { regular: 0, burst: 0 };
    const tiers = Array.from({ length: 8 }, () => {
      const { tier } = tierForNewPod({ baseReplicas: 3 }, counts);
      counts[tier] += 1;
      return tier;
    });
    expect(tiers).toEqual(['regular', 'regular', 'regular', 'burst', 'burst', 'burst', 'burst', 'burst']);
  });
});

describe('deletionCostFor', () => {
  it('puts every burst pod below every regular pod, and newer burst pods below older ones', () => {
    const older = Number(deletionCostFor('burst', t0));
    const newer = Number(deletionCostFor('burst', t0 + 5_000));
    expect(newer).toBeLessThan(older);
    expect(older).toBeLessThan(Number(deletionCostFor('regular', t0 + 10_000)));
    expect(Number(deletionCostFor('regular', t0))).toBe(0);
  });

  it('stays within the annotation range for far-future times', () => {
    expect(Number(deletionCostFor('burst', Date.parse('2100-01-01T00:00:00Z')))).toBe(-2147483647);
  });
});

describe('countPods', () => {
  it('ignores terminating and finished pods and counts waiting regular pods', () => {
    const counts = countPods(
      [
        pod('a', 'regular'),
        pod('b', 'burst'),
        pod('c', 'burst', { deleting: true }),
        pod('d', 'regular', { phase: 'Succeeded' }),
        pending('e', t0),
        pending('f', undefined),
      ],
      5,
    );
    expect(counts).toEqual({ desired: 5, regular: 3, burst: 1, waiting: 1, ready: 2 });
  });
});

describe('planPlacement: labels and deletion costs', () => {
  it.each([
    { name: 'settled pod', facts: pod('a', 'burst'), want: [] },
    { name: 'missing cost (admitted while the webhook was down)', facts: pod('a', 'burst', { deletionCost: undefined }), want: [{ name: 'a', tier: 'burst' }] },
    { name: 'label says regular but runs on the virtual node', facts: pod('a', 'burst', { tierLabel: 'regular' }), want: [{ name: 'a', tier: 'burst' }] },
    {
      name: 'burst in place that landed on a regular node',
      facts: pod('a', 'regular', { tierLabel: 'burst', deletionCost: '-5' }),
      want: [{ name: 'a', tier: 'regular' }],
    },
    { name: 'terminating pods are left alone', facts: pod('a', 'burst', { deletionCost: undefined, deleting: true }), want: [] },
  ])('$name', ({ facts, want }) => {
    const plan = planPlacement(input({ pods: [facts] }));
    expect(plan.relabel.map(({ name, tier }) => ({ name, tier }))).toEqual(want);
    for (const change of plan.relabel) expect(change.deletionCost).toBe(deletionCostFor(change.tier, facts.createdAtMs));
  });
});

describe('planPlacement: pending timeout', () => {
  const now = t0 + 60_000;
  it.each([
    { name: 'not yet due', pods: [pending('p', now - 10_000)], max: undefined, want: [], waiting: 1, recheck: now + 20_000 },
    { name: 'due', pods: [pending('p', now - 30_000)], max: undefined, want: ['p'], waiting: 1, recheck: undefined },
    {
      name: 'oldest first, limited by maxBurstReplicas',
      pods: [pod('b', 'burst'), pending('late', now - 40_000), pending('early', now - 50_000)],
      max: 2,
      want: ['early'],
      waiting: 2,
      recheck: undefined,
    },
    { name: 'burst limit already reached', pods: [pod('b', 'burst'), pending('p', now - 40_000)], max: 1, want: [], waiting: 1, recheck: undefined },
    {
      name: 'already tolerates the virtual node',
      pods: [pending('p', now - 40_000, { toleratesVirtualNode: true })],
      max: undefined,
      want: [],
      waiting: 1,
      recheck: undefined,
    },
    { name: 'pending but not reported unschedulable', pods: [pending('p', undefined)], max: undefined, want: [], waiting: 0, recheck: undefined },
  ])('$name', ({ pods, max, want, waiting, recheck }) => {
    const plan = planPlacement(input({ pods, now, policy: { ...policy, ...(max !== undefined ? { maxBurstReplicas: max } : {}) } }));
    expect(plan.burstInPlace).toEqual(want);
    expect(plan.counts.waiting).toBe(waiting);
    expect(plan.recheckAtMs).toBe(recheck);
  });
});

describe('planPlacement: rebalance', () => {
  const settled = [pod('r1', 'regular'), pod('b-old', 'burst', { createdAtMs: t0 - 5_000 }), pod('b-new', 'burst')];
  it.each([
    { name: 'room on regular nodes → bridge for the newest burst pod', over: {}, want: { kind: 'create', replaces: 'b-new' } },
    { name: 'no room', over: { regularFreeSlots: 0 }, want: undefined },
    { name: 'room unknown', over: { regularFreeSlots: undefined }, want: undefined },
    { name: 'rebalance disabled', over: { policy: { ...policy, rebalance: false } }, want: undefined },
    { name: 'base already full', over: { policy: { ...policy, baseReplicas: 1 } }, want: undefined },
    { name: 'below the base', over: { policy: { ...policy, baseReplicas: 2 } }, want: { kind: 'create', replaces: 'b-new' } },
    { name: 'a pod is not ready', over: { pods: [...settled.slice(0, 2), pod('b-new', 'burst', { ready: false })] }, want: undefined },
    { name: 'scaling in progress (fewer pods than desired)', over: { desiredReplicas: 4 }, want: undefined },
    { name: 'too soon after the last move', over: { lastRebalanceMs: t0 + 50_000 }, want: undefined },
    { name: 'interval passed since the last move', over: { lastRebalanceMs: t0 + 30_000 }, want: { kind: 'create', replaces: 'b-new' } },
  ])('$name', ({ over, want }) => {
    const plan = planPlacement(input({ pods: settled, regularFreeSlots: 2, ...over }));
    expect(plan.bridge).toEqual(want);
  });

  it('waits for the interval and says when to look again', () => {
    const plan = planPlacement(input({ pods: settled, regularFreeSlots: 2, lastRebalanceMs: t0 + 50_000 }));
    expect(plan.recheckAtMs).toBe(t0 + 70_000);
  });

  const bridge = { name: 'bridge', ready: false, createdAtMs: t0 + 50_000 };
  it.each([
    {
      name: 'bridge ready → hand it to the ReplicaSet',
      b: { ...bridge, ready: true, nodeName: 'node-1' },
      over: {},
      want: { kind: 'release', name: 'bridge' },
    },
    { name: 'bridge starting → wait', b: { ...bridge, nodeName: 'node-1' }, over: {}, want: undefined },
    { name: 'bridge unschedulable past the timeout → abandon', b: { ...bridge, unschedulableSinceMs: t0 + 20_000 }, over: {}, want: 'abandon' },
    { name: 'no burst pod left → abandon', b: bridge, over: { pods: [pod('r1', 'regular')] }, want: 'abandon' },
  ])('$name', ({ b, over, want }) => {
    const plan = planPlacement(input({ pods: settled, regularFreeSlots: 2, bridge: b, ...over }));
    if (want === 'abandon') expect(plan.bridge?.kind).toBe('abandon');
    else expect(plan.bridge).toEqual(want);
  });
});

describe('regularFreeSlots', () => {
  const node = (name: string, regular: boolean, cpu: number, usedCpu: number, usedPods = 0): NodeCapacityFacts => ({
    name,
    regular,
    allocatable: { cpu, memory: 16 * 2 ** 30, pods: 110 },
    requested: { cpu: usedCpu, memory: 0, pods: usedPods },
  });
  it.each([
    { name: 'two empty 4-CPU nodes, 1-CPU pods', nodes: [node('a', true, 4, 0), node('b', true, 4, 0)], cpu: 1, waiting: 0, want: 8 },
    { name: 'partly used', nodes: [node('a', true, 4, 2.5), node('b', true, 4, 4)], cpu: 1, waiting: 0, want: 1 },
    { name: 'waiting pods take the slots first', nodes: [node('a', true, 4, 2)], cpu: 1, waiting: 3, want: 0 },
    { name: 'the virtual node does not count', nodes: [node('v', false, 10_000, 0)], cpu: 1, waiting: 0, want: 0 },
    { name: 'pod count is the limit without requests', nodes: [node('a', true, 4, 0, 108)], cpu: 0, waiting: 0, want: 2 },
    { name: 'fractional requests', nodes: [node('a', true, 4, 0)], cpu: 0.1, waiting: 0, want: 40 },
  ])('$name → $want', ({ nodes, cpu, waiting, want }) => {
    expect(regularFreeSlots(nodes, { cpu, memory: 0 }, waiting)).toBe(want);
  });
});
