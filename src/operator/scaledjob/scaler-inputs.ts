import type { ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import type { Container } from '../container-env.js';
import { resolveScalableInputs, type AuthObjectSources, type ResolvedScalerInputs } from '../scaler-inputs.js';

/**
 * What the scalers of a ScaledJob are built from (see {@link resolveScalableInputs}): the env comes from the Job
 * template's containers, which the ScaledJob itself carries.
 */
export function resolveScaledJobInputs(sj: ScaledJob, sources: AuthObjectSources): Promise<ResolvedScalerInputs> {
  const containers = (sj.spec.jobTargetRef.template.spec?.containers ?? []) as Container[];
  return resolveScalableInputs(
    {
      namespace: sj.metadata.namespace ?? '',
      triggers: sj.spec.triggers,
      envSourceContainerName: sj.spec.envSourceContainerName,
      containers: () => Promise.resolve(containers),
    },
    sources,
  );
}
