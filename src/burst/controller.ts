import type { BurstPolicy, BurstPolicyStatus } from '../apis/swell/v1alpha1/burstpolicy.js';
import { SwellApiVersion } from '../apis/swell/v1alpha1/burstpolicy.js';
import type { BurstPolicyCheck, EffectiveBurstPolicy } from '../apis/swell/v1alpha1/validation.js';
import type { ReconcileContext, ReconcileResult } from '../controller/controller.js';
import { isNotFound } from '../kube/errors.js';
import { jsonPointerSegment, type JsonPatchOperation } from '../kube/patch.js';
import type { KubeClient } from '../kube/client.js';
import type { BurstCaches } from './mutator.js';
import { workloadPods } from './mutator.js';
import {
  BurstAnnotations,
  BurstLabels,
  bridgeFacts,
  controllerOf,
  nodeCapacityFacts,
  podFacts,
  podRequests,
  toleratesAll,
  virtualNodeNames,
  type Pod,
  type PodTemplateOwner,
  type WorkloadRef,
} from './observed.js';
import { planPlacement, regularFreeSlots, type BridgeAction, type PlacementPlan } from './placement.js';

export interface BurstReconcilerDeps {
  client: KubeClient;
  caches: BurstCaches & { burstPolicy(namespace: string, name: string): BurstPolicy | undefined; allPods(): Pod[] };
  validatePolicy: (document: unknown) => BurstPolicyCheck;
  /** Dollars this workload has cost on the virtual node so far; undefined when the cost metrics are unreachable. */
  workloadCost?: (workload: WorkloadRef, signal: AbortSignal) => Promise<number | undefined>;
  now: () => number;
}

/** How often a policy is looked at without any change, so status and cost stay fresh. */
const resyncMs = 30_000;
/** While a bridge pod is starting, look more often than the watch alone would make us. */
const bridgeCheckMs = 2_000;

const enc = encodeURIComponent;
const plurals = { Deployment: 'deployments', StatefulSet: 'statefulsets' } as const;

/**
 * One BurstPolicy's reconcile: observe the workload's pods and the regular nodes' room, plan (pure), then apply
 * the plan: tier labels and deletion costs, pending-timeout bursts, one rebalance step, and the status.
 */
export function createBurstReconciler(deps: BurstReconcilerDeps) {
  return async (key: string, context: ReconcileContext): Promise<ReconcileResult> => {
    const [namespace = '', name = ''] = key.split('/');
    const policy = deps.caches.burstPolicy(namespace, name);
    if (!policy) return {};
    const check = deps.validatePolicy(policy);
    if (!check.ok) {
      const message = check.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
      await writeStatus(deps, policy, { ...policy.status, conditions: [condition('Ready', 'False', 'InvalidSpec', message)] });
      return {};
    }
    const workload: WorkloadRef = { namespace, kind: check.effective.targetKind, name: check.effective.targetName };
    const target = await readWorkload(deps.client, workload, context.signal);
    if (!target) {
      await writeStatus(deps, policy, {
        ...policy.status,
        conditions: [condition('Ready', 'False', 'TargetNotFound', `${workload.kind} ${namespace}/${workload.name} does not exist`)],
      });
      return { requeueAfterMs: resyncMs };
    }
    const plan = observeAndPlan(deps, policy, check.effective, workload, target);
    const pods = workloadPods(deps.caches.pods(namespace), workload, deps.caches);
    await applyPodChanges(deps, namespace, plan, check.effective, pods, context);
    const rebalanced = await applyBridge(deps, policy, workload, plan.bridge, pods, context);
    const cost = await deps.workloadCost?.(workload, context.signal).catch(() => undefined);
    await writeStatus(deps, policy, statusFrom(policy, plan, cost, rebalanced ? new Date(deps.now()).toISOString() : policy.status?.lastRebalanceTime));
    const until = plan.recheckAtMs !== undefined ? Math.max(1_000, plan.recheckAtMs - deps.now()) : resyncMs;
    return { requeueAfterMs: Math.min(plan.bridge || rebalanced ? bridgeCheckMs : resyncMs, until) };
  };
}

function observeAndPlan(
  deps: BurstReconcilerDeps,
  policy: BurstPolicy,
  effective: EffectiveBurstPolicy,
  workload: WorkloadRef,
  target: PodTemplateOwner,
): PlacementPlan {
  const nodes = deps.caches.nodes();
  const virtualNodes = virtualNodeNames(nodes, effective.nodeSelector);
  const facts = workloadPods(deps.caches.pods(workload.namespace), workload, deps.caches).map((p) => podFacts(p, virtualNodes, effective));
  const bridge = deps.caches.pods(workload.namespace).find((p) => isBridgeOf(p, policy));
  const waiting = facts.filter((f) => f.tier === 'regular' && !f.nodeName && !f.deleting).length;
  const lastRebalance = Date.parse(policy.status?.lastRebalanceTime ?? '');
  return planPlacement({
    // A StatefulSet's pods have identities; a bridge pod cannot stand in for one.
    policy: { ...effective, rebalance: effective.rebalance && workload.kind === 'Deployment' },
    desiredReplicas: target.spec?.replicas ?? 1,
    pods: facts,
    ...(bridge ? { bridge: bridgeFacts(bridge) } : {}),
    regularFreeSlots: regularFreeSlots(nodeCapacityFacts(nodes, virtualNodes, deps.caches.allPods()), podRequests(target.spec?.template?.spec), waiting),
    ...(Number.isFinite(lastRebalance) ? { lastRebalanceMs: lastRebalance } : {}),
    now: deps.now(),
  });
}

function isBridgeOf(pod: Pod, policy: BurstPolicy): boolean {
  return (
    pod.metadata.labels?.[BurstLabels.bridge] === policy.metadata.name && pod.metadata.ownerReferences?.some((o) => o.uid === policy.metadata.uid) === true
  );
}

async function readWorkload(client: KubeClient, workload: WorkloadRef, signal: AbortSignal): Promise<PodTemplateOwner | undefined> {
  try {
    return await client.request<PodTemplateOwner>(
      'GET',
      `/apis/apps/v1/namespaces/${enc(workload.namespace)}/${plurals[workload.kind]}/${enc(workload.name)}`,
      { signal },
    );
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`;
}

async function ignoreGone(action: Promise<unknown>): Promise<void> {
  try {
    await action;
  } catch (error) {
    // The pod went away meanwhile; the next reconcile sees the new state.
    if (!isNotFound(error)) throw error;
  }
}

async function applyPodChanges(
  deps: BurstReconcilerDeps,
  namespace: string,
  plan: PlacementPlan,
  effective: EffectiveBurstPolicy,
  pods: Pod[],
  context: ReconcileContext,
): Promise<void> {
  for (const change of plan.relabel) {
    const body = { metadata: { labels: { [BurstLabels.tier]: change.tier }, annotations: { [BurstAnnotations.deletionCost]: change.deletionCost } } };
    await ignoreGone(
      deps.client.request('PATCH', podPath(namespace, change.name), { body, contentType: 'application/merge-patch+json', signal: context.signal }),
    );
  }
  for (const name of plan.burstInPlace) {
    const pod = pods.find((p) => p.metadata.name === name);
    if (!pod || toleratesAll(pod.spec, effective)) continue;
    // A pending pod's node selector is immutable, but tolerations may be added: the scheduler can then use the
    // virtual node, the only node left with room. The pod keeps its ReplicaSet; nothing is deleted.
    const ops: JsonPatchOperation[] = pod.spec.tolerations
      ? effective.tolerations.map((t) => ({ op: 'add' as const, path: '/spec/tolerations/-', value: t }))
      : [{ op: 'add', path: '/spec/tolerations', value: effective.tolerations }];
    ops.push({ op: 'add', path: `/metadata/labels/${jsonPointerSegment(BurstLabels.tier)}`, value: 'burst' });
    context.log.info({ pod: name }, 'regular pod unschedulable past pendingTimeout; bursting it');
    await ignoreGone(deps.client.request('PATCH', podPath(namespace, name), { body: ops, contentType: 'application/json-patch+json', signal: context.signal }));
  }
}

/** Carries out one rebalance step; true when a new bridge was started (the move's time is recorded). */
async function applyBridge(
  deps: BurstReconcilerDeps,
  policy: BurstPolicy,
  workload: WorkloadRef,
  action: BridgeAction | undefined,
  pods: Pod[],
  context: ReconcileContext,
): Promise<boolean> {
  if (!action) return false;
  const { namespace } = workload;
  switch (action.kind) {
    case 'create': {
      const replaced = pods.find((p) => p.metadata.name === action.replaces);
      const owner = replaced && controllerOf(replaced.metadata);
      const replicaSet = owner && deps.caches.replicaSet(namespace, owner.name);
      if (!replicaSet?.spec?.template?.spec) return false;
      context.log.info({ replaces: action.replaces }, 'regular nodes have room; starting a regular pod to replace a burst pod');
      await deps.client.request('POST', `/api/v1/namespaces/${enc(namespace)}/pods`, { body: bridgePod(policy, workload, replicaSet), signal: context.signal });
      return true;
    }
    case 'release':
      // Without a controller the ReplicaSet adopts the ready bridge, finds one pod too many and removes the
      // cheapest to delete: the newest burst pod.
      context.log.info({ bridge: action.name }, 'bridge pod ready; handing it to the ReplicaSet');
      await ignoreGone(
        deps.client.request('PATCH', podPath(namespace, action.name), {
          body: [
            { op: 'remove', path: '/metadata/ownerReferences' },
            { op: 'remove', path: `/metadata/labels/${jsonPointerSegment(BurstLabels.bridge)}` },
          ],
          contentType: 'application/json-patch+json',
          signal: context.signal,
        }),
      );
      return false;
    case 'abandon':
      context.log.info({ bridge: action.name, reason: action.reason }, 'abandoning bridge pod');
      await ignoreGone(deps.client.request('DELETE', podPath(namespace, action.name), { signal: context.signal }));
      return false;
  }
}

function bridgePod(policy: BurstPolicy, workload: WorkloadRef, replicaSet: PodTemplateOwner): Pod {
  const template = replicaSet.spec?.template;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${workload.name}-`,
      namespace: workload.namespace,
      labels: { ...template?.metadata?.labels, [BurstLabels.tier]: 'regular', [BurstLabels.bridge]: policy.metadata.name ?? '' },
      annotations: { ...template?.metadata?.annotations, [BurstAnnotations.deletionCost]: '0' },
      ownerReferences: [
        { apiVersion: SwellApiVersion, kind: 'BurstPolicy', name: policy.metadata.name ?? '', uid: policy.metadata.uid ?? '', controller: true },
      ],
    },
    spec: { ...(template?.spec ?? { containers: [] }) },
  };
}

function condition(type: string, status: 'True' | 'False', reason: string, message: string) {
  return { type, status, reason, message };
}

function statusFrom(policy: BurstPolicy, plan: PlacementPlan, cost: number | undefined, lastRebalanceTime: string | undefined): BurstPolicyStatus {
  const { counts } = plan;
  const rebalancing = plan.bridge !== undefined;
  return {
    ...(policy.metadata.generation !== undefined ? { observedGeneration: policy.metadata.generation } : {}),
    desiredReplicas: counts.desired,
    baseReplicas: counts.regular,
    burstReplicas: counts.burst,
    waitingReplicas: counts.waiting,
    ...(cost !== undefined ? { cost: cost.toFixed(6) } : policy.status?.cost !== undefined ? { cost: policy.status.cost } : {}),
    ...(lastRebalanceTime ? { lastRebalanceTime } : {}),
    conditions: [
      condition('Ready', 'True', 'Placing', `${counts.regular} regular, ${counts.burst} burst, ${counts.waiting} waiting of ${counts.desired} desired`),
      condition(
        'Rebalancing',
        rebalancing ? 'True' : 'False',
        rebalancing ? 'MovingBack' : 'Settled',
        rebalancing ? 'moving one burst pod back to a regular node' : 'no move in progress',
      ),
    ],
  };
}

async function writeStatus(deps: BurstReconcilerDeps, policy: BurstPolicy, status: BurstPolicyStatus): Promise<void> {
  if (JSON.stringify(status) === JSON.stringify(policy.status)) return;
  const path = `/apis/swell.dev/v1alpha1/namespaces/${enc(policy.metadata.namespace ?? '')}/burstpolicies/${enc(policy.metadata.name ?? '')}/status`;
  // A merge patch cannot drop stale keys of a list; conditions are replaced whole, which is what is wanted.
  await ignoreGone(deps.client.request('PATCH', path, { body: { status }, contentType: 'application/merge-patch+json' }));
}
