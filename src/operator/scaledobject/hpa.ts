import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { hpaNameFor } from '../../apis/keda/v1alpha1/validation.js';
import { buildHpa, hpaNeedsUpdate } from '../../scaling/hpa.js';
import type { MetricSpec } from '../../../scalers/scaler.js';
import type { Gvkr } from './scale-target.js';

export type HorizontalPodAutoscaler = V2HorizontalPodAutoscaler;

/** The HPA side of a reconcile: the pure builder and drift check, with build errors as check failures. */
export interface HpaPlanner {
  name(so: ScaledObject): string;
  /** Throws HpaBuildError when the metric specs cannot make an HPA (none, or duplicate names). */
  build(so: ScaledObject, gvkr: Gvkr, specs: readonly MetricSpec[]): HorizontalPodAutoscaler;
  needsUpdate(desired: HorizontalPodAutoscaler, observed: HorizontalPodAutoscaler): boolean;
}

export class HpaBuildError extends Error {
  override name = 'HpaBuildError';
}

export function createHpaPlanner(version: string): HpaPlanner {
  return {
    name: (so) => hpaNameFor(so),
    build(so, gvkr, specs) {
      const result = buildHpa({
        scaledObject: so,
        metrics: specs,
        scaleTarget: { apiVersion: gvkr.group ? `${gvkr.group}/${gvkr.version}` : gvkr.version, kind: gvkr.kind, name: so.spec.scaleTargetRef.name },
        version,
      });
      if (!result.ok) throw new HpaBuildError(result.error);
      return result.hpa;
    },
    needsUpdate: (desired, observed) => hpaNeedsUpdate(desired, observed),
  };
}
