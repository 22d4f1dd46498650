import type { ScaledObject, ScaledObjectStatus } from '../apis/keda/v1alpha1/scaledobject.js';
import { isNotFound } from '../kube/errors.js';
import type { KubeClient } from './kube-client.js';
import { scaledObjectPath } from './reconciler.js';
import { statusPatch } from './status.js';

export type StatusChanges = { [K in keyof ScaledObjectStatus]?: ScaledObjectStatus[K] | null };

/**
 * Writes ScaledObject status with merge patches, only when something changed. The informer cache lags the
 * operator's own writes by a watch round trip, so the object returned by the last patch is remembered and
 * preferred while the cache is older; otherwise a quick second write would be computed against stale status.
 */
export class StatusWriter {
  private readonly written = new Map<string, ScaledObject>();

  constructor(private readonly client: KubeClient) {}

  /** The freshest status known for the object: the cached copy or the operator's last write, whichever is newer. */
  current(key: string, cached: ScaledObject): ScaledObject {
    const mine = this.written.get(key);
    if (!mine || mine.metadata.uid !== cached.metadata.uid) return cached;
    return newerThan(mine.metadata.resourceVersion, cached.metadata.resourceVersion) ? mine : cached;
  }

  /** Patches status with `changes`; returns the object as stored (or the input when nothing changed). */
  async patch(key: string, cached: ScaledObject, changes: StatusChanges): Promise<ScaledObject> {
    const so = this.current(key, cached);
    const patch = statusPatch(so.status, changes);
    if (!patch) return so;
    try {
      const stored = await this.client.request<ScaledObject>('PATCH', scaledObjectPath(so, 'status'), {
        body: { status: patch },
        contentType: 'application/merge-patch+json',
      });
      this.written.set(key, stored);
      return stored;
    } catch (err) {
      if (isNotFound(err)) return so;
      throw err;
    }
  }

  forget(key: string): void {
    this.written.delete(key);
  }
}

/**
 * Resource versions are opaque, but every apiserver backed by etcd issues them as increasing integers; when
 * they are not, the cache wins (the safe choice: it is what the server last told everyone).
 */
function newerThan(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
