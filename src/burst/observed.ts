import type { EffectiveBurstPolicy } from '../apis/swell/v1alpha1/validation.js';
import { quantityValue } from '../kube/quantity.js';
import type { BridgeFacts, NodeCapacityFacts, PodFacts, PodPhase, ResourceAmounts, Tier } from './placement.js';

/*
 * The edge between Kubernetes JSON and placement's facts: the few fields of pods, ReplicaSets and nodes that burst
 * placement reads (as the informers deliver them: timestamps are strings), and the conversions.
 */

export const BurstLabels = {
  tier: 'swell.dev/tier',
  /** On a bridge pod: the BurstPolicy it was made for. */
  bridge: 'swell.dev/bridge',
} as const;

export const BurstAnnotations = {
  deletionCost: 'controller.kubernetes.io/pod-deletion-cost',
  /** A token per admission decision, so decisions not yet in the cache can be told from those that are. */
  placement: 'swell.dev/placement',
} as const;

export interface OwnerReference {
  apiVersion?: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface Container {
  name: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  containers: Container[];
  initContainers?: Container[];
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
  resourceVersion?: string;
  generation?: number;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] };
}

export interface PodTemplateOwner {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; template?: { metadata?: ObjectMeta; spec?: PodSpec } };
}

export interface Node {
  metadata: ObjectMeta;
  spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] };
  status?: { allocatable?: Record<string, string>; conditions?: { type: string; status: string }[] };
}

export interface WorkloadRef {
  namespace: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
}

export function workloadKey(ref: WorkloadRef): string {
  return `${ref.namespace}/${ref.kind}/${ref.name}`;
}

export function controllerOf(meta: ObjectMeta): OwnerReference | undefined {
  return meta.ownerReferences?.find((o) => o.controller === true);
}

/** The Deployment or StatefulSet that owns a pod, through its ReplicaSet for Deployments. */
export function owningWorkload(
  pod: Pod,
  namespace: string,
  replicaSet: (namespace: string, name: string) => PodTemplateOwner | undefined,
): WorkloadRef | undefined {
  const owner = controllerOf(pod.metadata);
  if (owner?.kind === 'StatefulSet') return { namespace, kind: 'StatefulSet', name: owner.name };
  if (owner?.kind !== 'ReplicaSet') return undefined;
  const parent = replicaSet(namespace, owner.name);
  const deployment = parent && controllerOf(parent.metadata);
  return deployment?.kind === 'Deployment' ? { namespace, kind: 'Deployment', name: deployment.name } : undefined;
}

export function labelsMatch(labels: Record<string, string> | undefined, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function tolerates(tolerations: Toleration[] | undefined, wanted: Toleration): boolean {
  return (tolerations ?? []).some(
    (t) => t.key === wanted.key && (t.effect ?? '') === (wanted.effect ?? '') && (t.operator ?? 'Equal') === (wanted.operator ?? 'Equal'),
  );
}

export function toleratesAll(spec: PodSpec, policy: Pick<EffectiveBurstPolicy, 'tolerations'>): boolean {
  return policy.tolerations.every((t) => tolerates(spec.tolerations, t));
}

function unschedulableSince(pod: Pod): number | undefined {
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (!scheduled || scheduled.status !== 'False' || scheduled.reason !== 'Unschedulable') return undefined;
  return Date.parse(scheduled.lastTransitionTime ?? pod.metadata.creationTimestamp ?? '') || undefined;
}

function phaseOf(pod: Pod): PodPhase {
  const phase = pod.status?.phase;
  return phase === 'Running' || phase === 'Succeeded' || phase === 'Failed' || phase === 'Unknown' ? phase : 'Pending';
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Where a pod is (its node) decides its tier; before it is bound, the tier swell gave it (or regular). */
export function podFacts(pod: Pod, virtualNodes: ReadonlySet<string>, policy: Pick<EffectiveBurstPolicy, 'tolerations'>): PodFacts {
  const nodeName = pod.spec.nodeName || undefined;
  const label = pod.metadata.labels?.[BurstLabels.tier];
  const tier: Tier = nodeName ? (virtualNodes.has(nodeName) ? 'burst' : 'regular') : label === 'burst' ? 'burst' : 'regular';
  const since = unschedulableSince(pod);
  const cost = pod.metadata.annotations?.[BurstAnnotations.deletionCost];
  return {
    name: pod.metadata.name ?? '',
    tier,
    phase: phaseOf(pod),
    ...(nodeName ? { nodeName } : {}),
    ready: isReady(pod),
    createdAtMs: Date.parse(pod.metadata.creationTimestamp ?? '') || 0,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    ...(since !== undefined ? { unschedulableSinceMs: since } : {}),
    toleratesVirtualNode: toleratesAll(pod.spec, policy),
    ...(label !== undefined ? { tierLabel: label } : {}),
    ...(cost !== undefined ? { deletionCost: cost } : {}),
  };
}

export function bridgeFacts(pod: Pod): BridgeFacts {
  const since = unschedulableSince(pod);
  return {
    name: pod.metadata.name ?? '',
    ready: isReady(pod),
    ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    createdAtMs: Date.parse(pod.metadata.creationTimestamp ?? '') || 0,
    ...(since !== undefined ? { unschedulableSinceMs: since } : {}),
  };
}

function amount(value: string | undefined): number {
  return value === undefined ? 0 : (quantityValue(value) ?? 0);
}

/** What the scheduler counts for a pod: the sum of its containers' requests, or its largest init container's. */
export function podRequests(spec: PodSpec | undefined): ResourceAmounts {
  const sum = (containers: Container[] | undefined, resource: string) =>
    (containers ?? []).reduce((total, c) => total + amount(c.resources?.requests?.[resource]), 0);
  const largest = (resource: string) => Math.max(0, ...(spec?.initContainers ?? []).map((c) => amount(c.resources?.requests?.[resource])));
  return {
    cpu: Math.max(sum(spec?.containers, 'cpu'), largest('cpu')),
    memory: Math.max(sum(spec?.containers, 'memory'), largest('memory')),
  };
}

const blockingEffects = new Set(['NoSchedule', 'NoExecute']);

/** Nodes that match the policy's virtual node selector. */
export function virtualNodeNames(nodes: readonly Node[], selector: Record<string, string>): Set<string> {
  return new Set(nodes.filter((n) => labelsMatch(n.metadata.labels, selector)).map((n) => n.metadata.name ?? ''));
}

/** Regular nodes (ready, schedulable, untainted, not virtual) with what their bound pods already request. */
export function nodeCapacityFacts(nodes: readonly Node[], virtualNodes: ReadonlySet<string>, allPods: readonly Pod[]): NodeCapacityFacts[] {
  const used = new Map<string, ResourceAmounts & { pods: number }>();
  for (const pod of allPods) {
    const node = pod.spec.nodeName;
    if (!node || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const r = podRequests(pod.spec);
    const total = used.get(node) ?? { cpu: 0, memory: 0, pods: 0 };
    used.set(node, { cpu: total.cpu + r.cpu, memory: total.memory + r.memory, pods: total.pods + 1 });
  }
  return nodes.map((node) => {
    const name = node.metadata.name ?? '';
    const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const tainted = node.spec?.taints?.some((t) => blockingEffects.has(t.effect)) ?? false;
    const allocatable = node.status?.allocatable ?? {};
    return {
      name,
      regular: ready && !tainted && node.spec?.unschedulable !== true && !virtualNodes.has(name),
      allocatable: { cpu: amount(allocatable.cpu), memory: amount(allocatable.memory), pods: amount(allocatable.pods) },
      requested: used.get(name) ?? { cpu: 0, memory: 0, pods: 0 },
    };
  });
}
