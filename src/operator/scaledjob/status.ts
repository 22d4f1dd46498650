import { isDeepStrictEqual } from 'node:util';
import type { ScaledJob, ScaledJobStatus } from '../../apis/keda/v1alpha1/scaledjob.js';
import { isNotFound } from '../../kube/errors.js';
import { resourcePath, type KubeClient } from '../kube-client.js';
import type { InvolvedObject } from '../events.js';

export type ScaledJobStatusChanges = { [K in keyof ScaledJobStatus]?: ScaledJobStatus[K] | null };

/** The conditions KEDA writes on a ScaledJob outside the poll (the poll's come from decideScaledJob). */
export const ScaledJobReconcileConditions = {
  ready: { type: 'Ready', status: 'True', reason: 'ScaledJobReady', message: 'ScaledJob is defined correctly and is ready for scaling' },
  paused: { type: 'Paused', status: 'True', reason: 'ScaledJobPaused', message: 'ScaledJob is paused' },
  unpaused: { type: 'Paused', status: 'False', reason: 'ScaledJobUnpaused', message: 'pause annotation removed for ScaledJob' },
  checkFailed: (message: string) => ({ type: 'Ready', status: 'False', reason: 'ScaledJobCheckFailed', message }),
  unknownActivity: { type: 'Active', status: 'Unknown', reason: 'UnknownState', message: 'ScaledJob check failed' },
} as const;

/**
 * The JSON merge patch turning `observed` into `observed + changes`, or undefined when nothing would change.
 * A null change removes the field; triggersActivity is a map, so keys no longer present are nulled.
 */
export function scaledJobStatusPatch(observed: ScaledJobStatus | undefined, changes: ScaledJobStatusChanges): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(changes) as [keyof ScaledJobStatus, unknown][]) {
    if (value === undefined) continue;
    const current = observed?.[key];
    if (value === null) {
      if (current !== undefined) patch[key] = null;
      continue;
    }
    if (isDeepStrictEqual(current, value)) continue;
    if (key === 'triggersActivity') {
      const removed = Object.keys((current as Record<string, unknown> | undefined) ?? {}).filter((k) => !(k in (value as Record<string, unknown>)));
      patch[key] = { ...(value as Record<string, unknown>), ...Object.fromEntries(removed.map((k) => [k, null])) };
    } else {
      patch[key] = value;
    }
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

export function scaledJobPath(sj: Pick<ScaledJob, 'metadata'>, subresource?: 'status'): string {
  return resourcePath({
    group: 'keda.sh',
    version: 'v1alpha1',
    resource: 'scaledjobs',
    namespace: sj.metadata.namespace ?? '',
    name: sj.metadata.name ?? '',
    ...(subresource ? { subresource } : {}),
  });
}

export function involvedScaledJob(sj: Pick<ScaledJob, 'metadata'>): InvolvedObject {
  return { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', namespace: sj.metadata.namespace ?? '', name: sj.metadata.name ?? '', ...(sj.metadata.uid ? { uid: sj.metadata.uid } : {}) };
}

/**
 * Writes ScaledJob status with merge patches, only when something changed. The informer lags the operator's
 * own writes by a watch round trip, so the object returned by the last patch is preferred while it is newer.
 */
export class ScaledJobStatusWriter {
  private readonly written = new Map<string, ScaledJob>();

  constructor(private readonly client: KubeClient) {}

  current(key: string, cached: ScaledJob): ScaledJob {
    const mine = this.written.get(key);
    if (!mine || mine.metadata.uid !== cached.metadata.uid) return cached;
    return newerThan(mine.metadata.resourceVersion, cached.metadata.resourceVersion) ? mine : cached;
  }

  async patch(key: string, cached: ScaledJob, changes: ScaledJobStatusChanges): Promise<ScaledJob> {
    const sj = this.current(key, cached);
    const patch = scaledJobStatusPatch(sj.status, changes);
    if (!patch) return sj;
    try {
      const stored = await this.client.request<ScaledJob>('PATCH', scaledJobPath(sj, 'status'), { body: { status: patch }, contentType: 'application/merge-patch+json' });
      this.written.set(key, stored);
      return stored;
    } catch (err) {
      if (isNotFound(err)) return sj;
      throw err;
    }
  }

  forget(key: string): void {
    this.written.delete(key);
  }
}

/** Resource versions from etcd are increasing integers; anything else lets the cache win. */
function newerThan(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
