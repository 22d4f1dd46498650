/*
 * Where the replicas of one workload run, as pure functions of what was observed and the time. The steady base
 * runs on regular nodes; pods above it run on the virtual node. Everything here is recomputed from scratch on
 * every call, so a missed event or a restart only delays a correction, never loses one.
 */

export type Tier = 'regular' | 'burst';

export const Tiers = { regular: 'regular', burst: 'burst' } as const satisfies Record<Tier, Tier>;

/** What placement needs from a policy (see EffectiveBurstPolicy for where it comes from). */
export interface PlacementPolicy {
  baseReplicas?: number;
  maxBurstReplicas?: number;
  pendingTimeoutMs: number;
  rebalance: boolean;
  rebalanceIntervalMs: number;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** One pod of the workload as placement sees it; the edge derives `tier` from its node, else from its label. */
export interface PodFacts {
  name: string;
  tier: Tier;
  phase: PodPhase;
  nodeName?: string;
  ready: boolean;
  createdAtMs: number;
  deleting: boolean;
  /** Since when the scheduler has reported it cannot place the pod (PodScheduled=False, Unschedulable). */
  unschedulableSinceMs?: number;
  /** May already run on the virtual node (it carries the virtual node's tolerations). */
  toleratesVirtualNode: boolean;
  tierLabel?: string;
  deletionCost?: string;
}

/** A regular pod swell created to take a burst pod's place; it is not yet part of the workload. */
export interface BridgeFacts {
  name: string;
  ready: boolean;
  nodeName?: string;
  createdAtMs: number;
  unschedulableSinceMs?: number;
}

export interface PlacementInput {
  policy: PlacementPolicy;
  /** The workload's spec.replicas. */
  desiredReplicas: number;
  pods: readonly PodFacts[];
  bridge?: BridgeFacts;
  /** Pods of this workload's size that regular nodes can still take; undefined when unknown. */
  regularFreeSlots?: number;
  lastRebalanceMs?: number;
  now: number;
}

export interface PodLabelling {
  name: string;
  tier: Tier;
  deletionCost: string;
}

export type BridgeAction = { kind: 'create'; replaces: string } | { kind: 'release'; name: string } | { kind: 'abandon'; name: string; reason: string };

export interface PlacementCounts {
  desired: number;
  regular: number;
  burst: number;
  /** Regular pods the scheduler cannot place yet; they burst once pendingTimeout has passed. */
  waiting: number;
  ready: number;
}

export interface PlacementPlan {
  counts: PlacementCounts;
  /** Pods whose tier label or deletion cost does not match where they are. */
  relabel: PodLabelling[];
  /** Regular pods unschedulable for pendingTimeout: they get the virtual node's tolerations and become burst. */
  burstInPlace: string[];
  /** At most one step of moving a burst pod back to a regular node. */
  bridge?: BridgeAction;
  /** When to look again even if nothing changes (the next pending timeout). */
  recheckAtMs?: number;
}

/** The bounds of the pod-deletion-cost annotation. */
const minDeletionCost = -2147483647;

/**
 * The ReplicaSet removes the pod with the lowest cost first. Regular pods keep the neutral 0; a burst pod's cost
 * is minus its creation second, so burst pods always go before regular ones and the newest burst pod first. The
 * value is fixed at creation, so it never needs rewriting (the annotation should not change often).
 */
export function deletionCostFor(tier: Tier, createdAtMs: number): string {
  if (tier === 'regular') return '0';
  return String(Math.max(minDeletionCost, -Math.floor(createdAtMs / 1_000)));
}

function isActive(pod: PodFacts): boolean {
  return !pod.deleting && pod.phase !== 'Succeeded' && pod.phase !== 'Failed';
}

export function countPods(pods: readonly PodFacts[], desired: number): PlacementCounts {
  const active = pods.filter(isActive);
  return {
    desired,
    regular: active.filter((p) => p.tier === 'regular').length,
    burst: active.filter((p) => p.tier === 'burst').length,
    waiting: active.filter((p) => p.tier === 'regular' && !p.nodeName && p.unschedulableSinceMs !== undefined).length,
    ready: active.filter((p) => p.ready).length,
  };
}

export interface NewPodDecision {
  tier: Tier;
  reason: string;
}

/**
 * The tier of a pod being created, from the tiers of the workload's other live pods (plus those admitted but
 * not yet seen). Below the base it is regular; above it, burst while the burst limit allows. Without a base
 * every pod starts regular, and the ones regular nodes cannot take burst after pendingTimeout.
 */
export function tierForNewPod(policy: Pick<PlacementPolicy, 'baseReplicas' | 'maxBurstReplicas'>, current: { regular: number; burst: number }): NewPodDecision {
  const { baseReplicas, maxBurstReplicas } = policy;
  if (baseReplicas === undefined) return { tier: 'regular', reason: 'no baseReplicas: regular nodes first, burst after pendingTimeout' };
  if (current.regular < baseReplicas) return { tier: 'regular', reason: `${current.regular} of ${baseReplicas} base replicas` };
  if (maxBurstReplicas !== undefined && current.burst >= maxBurstReplicas) {
    return { tier: 'regular', reason: `burst limit reached (${current.burst} of ${maxBurstReplicas})` };
  }
  return { tier: 'burst', reason: `base of ${baseReplicas} is full; ${current.burst + 1} burst` };
}

/** What the reconcile loop should change for one workload now. */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const { policy, pods, now } = input;
  const counts = countPods(pods, input.desiredReplicas);
  const active = pods.filter(isActive);
  const relabel = active
    .map((p) => ({ name: p.name, tier: p.tier, deletionCost: deletionCostFor(p.tier, p.createdAtMs) }))
    .filter((want) => {
      const pod = active.find((p) => p.name === want.name);
      return pod?.tierLabel !== want.tier || pod.deletionCost !== want.deletionCost;
    });
  const stuck = active
    .filter((p) => p.tier === 'regular' && !p.nodeName && !p.toleratesVirtualNode && p.unschedulableSinceMs !== undefined)
    .sort((a, b) => (a.unschedulableSinceMs ?? 0) - (b.unschedulableSinceMs ?? 0) || a.name.localeCompare(b.name));
  const due = stuck.filter((p) => now - (p.unschedulableSinceMs ?? now) >= policy.pendingTimeoutMs);
  const burstRoom = policy.maxBurstReplicas === undefined ? due.length : Math.max(0, policy.maxBurstReplicas - counts.burst);
  const burstInPlace = due.slice(0, burstRoom).map((p) => p.name);
  const pendingDeadlines = stuck.filter((p) => !due.includes(p)).map((p) => (p.unschedulableSinceMs ?? now) + policy.pendingTimeoutMs);
  const bridge = bridgeAction(input, counts, active);
  const recheckAtMs = [...pendingDeadlines, ...(bridge ? [] : rebalanceDeadline(input, counts))].reduce<number | undefined>(
    (min, t) => (min === undefined || t < min ? t : min),
    undefined,
  );
  return { counts, relabel, burstInPlace, ...(bridge ? { bridge } : {}), ...(recheckAtMs !== undefined ? { recheckAtMs } : {}) };
}

/**
 * Moving a burst pod back without ever dropping below the desired ready count: a regular "bridge" pod is started
 * first, outside the workload; once it is ready it is handed to the ReplicaSet, which then has one pod too many
 * and removes the one with the lowest deletion cost, the newest burst pod. One move at a time.
 */
function bridgeAction(input: PlacementInput, counts: PlacementCounts, active: PodFacts[]): BridgeAction | undefined {
  const { bridge, policy, now } = input;
  if (bridge) {
    if (bridge.ready) return { kind: 'release', name: bridge.name };
    if (bridge.unschedulableSinceMs !== undefined && now - bridge.unschedulableSinceMs >= policy.pendingTimeoutMs) {
      return { kind: 'abandon', name: bridge.name, reason: 'regular nodes could not take it after all' };
    }
    if (!policy.rebalance || counts.burst === 0) return { kind: 'abandon', name: bridge.name, reason: 'no burst pod left to replace' };
    return undefined;
  }
  if (!rebalanceWanted(input, counts, active)) return undefined;
  if (input.lastRebalanceMs !== undefined && now - input.lastRebalanceMs < policy.rebalanceIntervalMs) return undefined;
  const newestBurst = active.filter((p) => p.tier === 'burst').sort((a, b) => b.createdAtMs - a.createdAtMs || b.name.localeCompare(a.name))[0];
  return newestBurst ? { kind: 'create', replaces: newestBurst.name } : undefined;
}

function rebalanceWanted(input: PlacementInput, counts: PlacementCounts, active: PodFacts[]): boolean {
  const { policy } = input;
  if (!policy.rebalance || counts.burst === 0) return false;
  if (policy.baseReplicas !== undefined && counts.regular >= policy.baseReplicas) return false;
  // Only from a settled state: every pod ready, as many as desired, and room for one more on regular nodes.
  if (counts.ready < counts.desired || active.length !== counts.desired || active.some((p) => !p.ready)) return false;
  return (input.regularFreeSlots ?? 0) >= 1;
}

function rebalanceDeadline(input: PlacementInput, counts: PlacementCounts): number[] {
  if (!rebalanceWanted(input, counts, input.pods.filter(isActive)) || input.lastRebalanceMs === undefined) return [];
  return [input.lastRebalanceMs + input.policy.rebalanceIntervalMs];
}

/** CPU (cores) and memory (bytes) a pod asks for; absent resources count as zero. */
export interface ResourceAmounts {
  cpu: number;
  memory: number;
}

export interface NodeCapacityFacts {
  name: string;
  /** Ready, not cordoned, not tainted against ordinary pods, and not a virtual node. */
  regular: boolean;
  allocatable: ResourceAmounts & { pods: number };
  /** Sum over the non-terminated pods bound to it. */
  requested: ResourceAmounts & { pods: number };
}

/**
 * How many more pods asking for `request` fit on regular nodes, minus the workload's regular pods already
 * waiting for a place. A rough model of the scheduler's resource fit: enough to know when to move pods back.
 */
export function regularFreeSlots(nodes: readonly NodeCapacityFacts[], request: ResourceAmounts, waitingRegularPods: number): number {
  let slots = 0;
  for (const node of nodes) {
    if (!node.regular) continue;
    const limits = [node.allocatable.pods - node.requested.pods];
    if (request.cpu > 0) limits.push(Math.floor((node.allocatable.cpu - node.requested.cpu) / request.cpu + 1e-9));
    if (request.memory > 0) limits.push(Math.floor((node.allocatable.memory - node.requested.memory) / request.memory + 1e-9));
    slots += Math.max(0, Math.min(...limits));
  }
  return Math.max(0, slots - waitingRegularPods);
}
