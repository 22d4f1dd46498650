import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer } from '../controller/informer.js';

/**
 * Which ScaledObjects (or ScaledJobs) read which objects (TriggerAuthentications, ClusterTriggerAuthentications, Secrets,
 * ConfigMaps), so a change to one of them re-reconciles exactly its dependents. Keys are `Kind/namespace/name`
 * (or `Kind/name` for cluster-scoped kinds); a dependency may be recorded before the object exists, so creating
 * a missing Secret later also takes effect.
 */
export class DependencyIndex {
  private readonly dependents = new Map<string, Set<string>>();
  private readonly dependencies = new Map<string, Set<string>>();

  /** Replaces everything `owner` depends on. */
  set(owner: string, dependencyKeys: Iterable<string>): void {
    this.remove(owner);
    const keys = new Set(dependencyKeys);
    if (keys.size === 0) return;
    this.dependencies.set(owner, keys);
    for (const key of keys) {
      let owners = this.dependents.get(key);
      if (!owners) this.dependents.set(key, (owners = new Set()));
      owners.add(owner);
    }
  }

  remove(owner: string): void {
    for (const key of this.dependencies.get(owner) ?? []) {
      const owners = this.dependents.get(key);
      owners?.delete(owner);
      if (owners?.size === 0) this.dependents.delete(key);
    }
    this.dependencies.delete(owner);
  }

  dependentsOf(dependencyKey: string): string[] {
    return [...(this.dependents.get(dependencyKey) ?? [])];
  }
}

export function dependencyKey(kind: string, namespace: string | undefined, name: string): string {
  return namespace === undefined ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
}

/** Calls `changed` with the dependency key of every object `informer` adds, changes or deletes. */
export function watchDependency(kind: string, informer: Informer<KubernetesObject>, changed: (dependencyKey: string) => void): void {
  const notify = (o: KubernetesObject): void => changed(dependencyKey(kind, o.metadata?.namespace, o.metadata?.name ?? ''));
  informer.addHandler({ add: notify, update: (old, o) => (old === o ? undefined : notify(o)), delete: notify });
}
