import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { podTemplateContainers } from '../container-env.js';
import { resolveScalableInputs, type AuthObjectSources, type ResolvedScalerInputs } from '../scaler-inputs.js';
import type { Gvkr, ScaleTargets } from './scale-target.js';

export interface ScalerInputSources extends AuthObjectSources {
  targets: ScaleTargets;
}

/**
 * What the scalers of a ScaledObject are built from (see {@link resolveScalableInputs}). The env comes from the
 * scale target's pod template, which is read only when something needs it: thousands of ScaledObjects must not
 * cost a GET each.
 */
export function resolveScalerInputs(so: ScaledObject, gvkr: Gvkr, sources: ScalerInputSources): Promise<ResolvedScalerInputs> {
  const namespace = so.metadata.namespace ?? '';
  return resolveScalableInputs(
    {
      namespace,
      triggers: so.spec.triggers,
      envSourceContainerName: so.spec.scaleTargetRef.envSourceContainerName,
      containers: async () => podTemplateContainers(await sources.targets.getObject(gvkr, namespace, so.spec.scaleTargetRef.name)),
    },
    sources,
  );
}
