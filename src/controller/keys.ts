import type { KubernetesObject } from '@kubernetes/client-node';

/** The cache and work-queue key of an object: `namespace/name`, or just `name` for cluster-scoped objects. */
export function objectKey(object: KubernetesObject): string {
  const name = object.metadata?.name;
  if (!name) throw new Error(`${object.kind ?? 'object'} has no metadata.name`);
  const namespace = object.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** Inverse of {@link objectKey}. */
export function splitObjectKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
