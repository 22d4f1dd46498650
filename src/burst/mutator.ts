import type { BurstPolicy } from '../apis/swell/v1alpha1/burstpolicy.js';
import type { BurstPolicyCheck, EffectiveBurstPolicy } from '../apis/swell/v1alpha1/validation.js';
import { jsonPointerSegment, type JsonPatchOperation } from '../kube/patch.js';
import type { Logger } from '../log.js';
import type { AdmissionHandler, AdmissionRequest, AdmissionVerdict } from '../webhooks/admission.js';
import type { PlacementLedger } from './ledger.js';
import {
  BurstAnnotations,
  BurstLabels,
  owningWorkload,
  podFacts,
  virtualNodeNames,
  workloadKey,
  type Node,
  type Pod,
  type PodTemplateOwner,
  type WorkloadRef,
} from './observed.js';
import { countPods, deletionCostFor, tierForNewPod, type Tier } from './placement.js';

/** Read-only views of the informer caches the mutator decides from. */
export interface BurstCaches {
  pods(namespace: string): Pod[];
  replicaSet(namespace: string, name: string): PodTemplateOwner | undefined;
  burstPolicies(namespace: string): BurstPolicy[];
  nodes(): Node[];
}

export interface PodMutatorDeps {
  caches: BurstCaches;
  validatePolicy: (document: unknown) => BurstPolicyCheck;
  ledger: PlacementLedger;
  now: () => number;
  log: Logger;
}

/** The valid BurstPolicy for a workload, if any (the oldest wins should two name the same workload). */
export function policyFor(
  workload: WorkloadRef,
  policies: readonly BurstPolicy[],
  validate: (document: unknown) => BurstPolicyCheck,
): { policy: BurstPolicy; effective: EffectiveBurstPolicy } | undefined {
  const candidates = policies
    .map((p) => validate(p))
    .filter((c): c is Extract<BurstPolicyCheck, { ok: true }> => c.ok && c.effective.targetKind === workload.kind && c.effective.targetName === workload.name)
    .sort((a, b) => (a.policy.metadata.creationTimestamp ?? '').localeCompare(b.policy.metadata.creationTimestamp ?? ''));
  return candidates[0];
}

/** Pods of one workload in the cache, bridges excluded (they are not the workload's until handed over). */
export function workloadPods(pods: readonly Pod[], workload: WorkloadRef, caches: Pick<BurstCaches, 'replicaSet'>): Pod[] {
  return pods.filter((p) => {
    if (p.metadata.labels?.[BurstLabels.bridge] !== undefined && p.metadata.ownerReferences?.some((o) => o.kind === 'BurstPolicy')) return false;
    const owner = owningWorkload(p, workload.namespace, (ns, name) => caches.replicaSet(ns, name));
    return owner !== undefined && workloadKey(owner) === workloadKey(workload);
  });
}

/**
 * The mutating webhook for Pod CREATE: a pod of a workload that has a BurstPolicy gets its tier (label and
 * deletion cost), and a burst pod also the virtual node's selector and tolerations. Any other pod is untouched.
 */
export function createPodMutator(deps: PodMutatorDeps): AdmissionHandler {
  return (request: AdmissionRequest): Promise<AdmissionVerdict> => Promise.resolve(mutate(deps, request));
}

function mutate(deps: PodMutatorDeps, request: AdmissionRequest): AdmissionVerdict {
  if (request.operation !== 'CREATE' || request.kind.kind !== 'Pod' || request.subResource) return { allowed: true };
  const pod = request.object as Pod | undefined;
  if (!pod?.metadata || !pod.spec) return { allowed: true };
  const namespace = pod.metadata.namespace ?? request.namespace ?? '';
  if (pod.metadata.labels?.[BurstLabels.tier] !== undefined) return { allowed: true };
  const workload = owningWorkload(pod, namespace, (ns, name) => deps.caches.replicaSet(ns, name));
  if (!workload) return { allowed: true };
  const found = policyFor(workload, deps.caches.burstPolicies(namespace), deps.validatePolicy);
  if (!found) return { allowed: true };
  const { effective } = found;
  const now = deps.now();
  const virtualNodes = virtualNodeNames(deps.caches.nodes(), effective.nodeSelector);
  const pods = workloadPods(deps.caches.pods(namespace), workload, deps.caches);
  const counted = countPods(
    pods.map((p) => podFacts(p, virtualNodes, effective)),
    0,
  );
  const seen = new Set(pods.map((p) => p.metadata.annotations?.[BurstAnnotations.placement]).filter((t): t is string => t !== undefined));
  const unseen = deps.ledger.unseen(workloadKey(workload), seen, now);
  const decision = tierForNewPod(effective, { regular: counted.regular + unseen.regular, burst: counted.burst + unseen.burst });
  const token = deps.ledger.record(workloadKey(workload), decision.tier, now);
  deps.log.debug({ workload: workloadKey(workload), policy: found.policy.metadata.name, tier: decision.tier, reason: decision.reason }, 'placing new pod');
  return { allowed: true, patch: placementPatch(pod, decision.tier, deletionCostFor(decision.tier, now), token, effective) };
}

/** JSON patch setting a pod's tier; maps and lists the pod does not have yet are added whole. */
export function placementPatch(
  pod: Pod,
  tier: Tier,
  deletionCost: string,
  token: string | undefined,
  policy: Pick<EffectiveBurstPolicy, 'nodeSelector' | 'tolerations'>,
): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  const setEntries = (path: string, existing: Record<string, string> | undefined, entries: Record<string, string>) => {
    if (!existing) ops.push({ op: 'add', path, value: entries });
    else for (const [k, v] of Object.entries(entries)) ops.push({ op: 'add', path: `${path}/${jsonPointerSegment(k)}`, value: v });
  };
  setEntries('/metadata/labels', pod.metadata.labels, { [BurstLabels.tier]: tier });
  setEntries('/metadata/annotations', pod.metadata.annotations, {
    [BurstAnnotations.deletionCost]: deletionCost,
    ...(token ? { [BurstAnnotations.placement]: token } : {}),
  });
  if (tier === 'burst') {
    setEntries('/spec/nodeSelector', pod.spec.nodeSelector, policy.nodeSelector);
    if (!pod.spec.tolerations) ops.push({ op: 'add', path: '/spec/tolerations', value: policy.tolerations });
    else for (const t of policy.tolerations) ops.push({ op: 'add', path: '/spec/tolerations/-', value: t });
  }
  return ops;
}
