import type { ScaledObject, ScaledObjectStatus } from '../../apis/keda/v1alpha1/scaledobject.js';
import { isNotFound } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/client.js';
import { scaledObjectPath } from './object-ref.js';
import { statusPatch } from '../status.js';

export type StatusChanges = { [K in keyof ScaledObjectStatus]?: ScaledObjectStatus[K] | null };

/** An object with Kubernetes metadata and a status the operator owns. */
interface StatusOwner<S> {
  metadata: { uid?: string; resourceVersion?: string };
  status?: S;
}

/**
 * Writes an object's status with merge patches, only when something changed. The informer cache lags the
 * operator's own writes by a watch round trip, so the object returned by the last patch is remembered and
 * preferred while the cache is older; otherwise a quick second write would be computed against stale status.
 */
export class CachedStatusWriter<T extends StatusOwner<S>, S, C> {
  private readonly written = new Map<string, T>();

  constructor(
    private readonly client: KubeClient,
    private readonly statusPath: (obj: T) => string,
    private readonly patchOf: (observed: S | undefined, changes: C) => Record<string, unknown> | undefined,
  ) {}

  /** The freshest status known for the object: the cached copy or the operator's last write, whichever is newer. */
  current(key: string, cached: T): T {
    const mine = this.written.get(key);
    // Handed back its own copy (a caller that already asked): that is not the cache catching up.
    if (!mine || mine === cached) return mine ?? cached;
    if (mine.metadata.uid === cached.metadata.uid && newerThan(mine.metadata.resourceVersion, cached.metadata.resourceVersion)) return mine;
    // The cache has caught up (or the object was replaced): a second copy of every object would only cost memory.
    this.written.delete(key);
    return cached;
  }

  /** Patches status with `changes`; returns the object as stored (or the input when nothing changed). */
  async patch(key: string, cached: T, changes: C): Promise<T> {
    const obj = this.current(key, cached);
    const patch = this.patchOf(obj.status, changes);
    if (!patch) return obj;
    try {
      const stored = await this.client.request<T>('PATCH', this.statusPath(obj), {
        body: { status: patch },
        contentType: 'application/merge-patch+json',
      });
      this.written.set(key, stored);
      return stored;
    } catch (err) {
      if (isNotFound(err)) return obj;
      throw err;
    }
  }

  /** Takes an object the operator stored by another write (its metadata) as the freshest copy, like its own status writes. */
  remember(key: string, stored: T): void {
    this.written.set(key, stored);
  }

  forget(key: string): void {
    this.written.delete(key);
  }
}

export class StatusWriter extends CachedStatusWriter<ScaledObject, ScaledObjectStatus, StatusChanges> {
  constructor(client: KubeClient) {
    super(client, (so) => scaledObjectPath(so, 'status'), statusPatch);
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
