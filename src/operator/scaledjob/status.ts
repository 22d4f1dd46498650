import { isDeepStrictEqual } from 'node:util';
import type { ScaledJob, ScaledJobStatus } from '../../apis/keda/v1alpha1/scaledjob.js';
import { resourcePath, type KubeClient } from '../../kube/client.js';
import type { InvolvedObject } from '../events.js';
import { CachedStatusWriter } from '../scaledobject/status-writer.js';

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
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    namespace: sj.metadata.namespace ?? '',
    name: sj.metadata.name ?? '',
    ...(sj.metadata.uid ? { uid: sj.metadata.uid } : {}),
  };
}

/** ScaledJob status, written as the ScaledObject's is. */
export class ScaledJobStatusWriter extends CachedStatusWriter<ScaledJob, ScaledJobStatus, ScaledJobStatusChanges> {
  constructor(client: KubeClient) {
    super(client, (sj) => scaledJobPath(sj, 'status'), scaledJobStatusPatch);
  }
}
