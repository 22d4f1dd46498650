import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { Workload } from './metering.js';

/** Reads the owner references of a namespaced object; undefined when it does not exist. */
export type OwnerLookup = (namespace: string, kind: string, name: string) => Promise<V1OwnerReference[] | undefined>;

/**
 * The workload a pod is billed to: its controller, except that a ReplicaSet owned by a Deployment bills to the
 * Deployment (ReplicaSets come and go with every rollout). A pod without a controller bills to itself.
 */
export async function resolveWorkload(pod: V1Pod, lookup: OwnerLookup): Promise<Workload> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const owner = controllerOf(pod.metadata?.ownerReferences);
  if (!owner) return { kind: 'Pod', name: pod.metadata?.name ?? '' };
  if (owner.kind === 'ReplicaSet') {
    const parent = controllerOf(await lookup(namespace, 'ReplicaSet', owner.name).catch(() => undefined));
    if (parent?.kind === 'Deployment') return { kind: 'Deployment', name: parent.name };
  }
  return { kind: owner.kind, name: owner.name };
}

function controllerOf(references: V1OwnerReference[] | undefined): V1OwnerReference | undefined {
  return references?.find((r) => r.controller) ?? references?.[0];
}

/** Remembers owner look-ups: an object's controller does not change, so each is read once. */
export function cachedLookup(lookup: OwnerLookup): OwnerLookup {
  const cache = new Map<string, Promise<V1OwnerReference[] | undefined>>();
  return (namespace, kind, name) => {
    const key = `${namespace}/${kind}/${name}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const pending = lookup(namespace, kind, name);
    cache.set(key, pending);
    // A failed read is not remembered, so the next pod tries again.
    pending.catch(() => cache.delete(key));
    return pending;
  };
}
