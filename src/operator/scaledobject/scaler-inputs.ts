import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import type { ClusterTriggerAuthentication, TriggerAuthentication } from '../../apis/keda/v1alpha1/triggerauthentication.js';
import { containerEnv, podTemplateContainers, type Container, type KeyLookup } from '../container-env.js';
import { dependencyKey } from '../dependencies.js';
import type { Gvkr, ScaleTargets } from './scale-target.js';
import type { ScalerInputs } from '../scalers-cache.js';
import { resolveTriggerAuth } from '../trigger-auth.js';

export interface ScalerInputSources {
  triggerAuthentication(namespace: string, name: string): TriggerAuthentication | undefined;
  clusterTriggerAuthentication(name: string): ClusterTriggerAuthentication | undefined;
  lookup: KeyLookup;
  clusterAuthNamespace: string;
  targets: ScaleTargets;
}

export interface ResolvedScalerInputs {
  inputs: ScalerInputs;
  /** Keys of every object read (see DependencyIndex), so a change to any of them rebuilds the scalers. */
  dependencies: string[];
  warnings: string[];
}

/**
 * Gathers what the scalers of a ScaledObject are built from: each trigger's auth parameters and the scale
 * target's container env. The target object is read only when something needs its env (a `*FromEnv` key or a
 * TriggerAuthentication `env` entry), which keeps thousands of ScaledObjects from costing a GET each.
 */
export async function resolveScalerInputs(so: ScaledObject, gvkr: Gvkr, sources: ScalerInputSources): Promise<ResolvedScalerInputs> {
  const namespace = so.metadata.namespace ?? '';
  const dependencies = new Set<string>();
  const lookup = recordingLookup(sources.lookup, dependencies);
  const containers = needsEnv(so, sources)
    ? podTemplateContainers(await sources.targets.getObject(gvkr, namespace, so.spec.scaleTargetRef.name))
    : [];
  const envOf = memoEnv(containers, namespace, lookup);
  const defaultContainer = so.spec.scaleTargetRef.envSourceContainerName;
  const warnings: string[] = [];
  const auth = so.spec.triggers.map((trigger) => {
    const ref = trigger.authenticationRef;
    if (ref) {
      const cluster = ref.kind === 'ClusterTriggerAuthentication';
      dependencies.add(cluster ? dependencyKey('ClusterTriggerAuthentication', undefined, ref.name) : dependencyKey('TriggerAuthentication', namespace, ref.name));
    }
    const resolved = resolveTriggerAuth(trigger, namespace, {
      triggerAuthentication: (ns, name) => sources.triggerAuthentication(ns, name),
      clusterTriggerAuthentication: (name) => sources.clusterTriggerAuthentication(name),
      lookup,
      clusterAuthNamespace: sources.clusterAuthNamespace,
      containerEnv: (name) => envOf(name ?? defaultContainer),
    });
    warnings.push(...resolved.warnings);
    return resolved;
  });
  return { inputs: { namespace, triggers: so.spec.triggers, auth, env: envOf(defaultContainer) }, dependencies: [...dependencies], warnings };
}

function needsEnv(so: ScaledObject, sources: ScalerInputSources): boolean {
  const namespace = so.metadata.namespace ?? '';
  return so.spec.triggers.some((trigger) => {
    if (Object.keys(trigger.metadata).some((k) => k.endsWith('FromEnv'))) return true;
    const ref = trigger.authenticationRef;
    if (!ref) return false;
    const auth = ref.kind === 'ClusterTriggerAuthentication' ? sources.clusterTriggerAuthentication(ref.name) : sources.triggerAuthentication(namespace, ref.name);
    return (auth?.spec.env?.length ?? 0) > 0;
  });
}

function memoEnv(containers: Container[], namespace: string, lookup: KeyLookup): (name: string | undefined) => Record<string, string> {
  const memo = new Map<string, Record<string, string>>();
  return (name) => {
    const key = name ?? '';
    let env = memo.get(key);
    if (!env) memo.set(key, (env = containerEnv(containers, name, namespace, lookup)));
    return env;
  };
}

function recordingLookup(lookup: KeyLookup, seen: Set<string>): KeyLookup {
  return {
    secret: (ns, name, key) => (seen.add(dependencyKey('Secret', ns, name)), lookup.secret(ns, name, key)),
    configMap: (ns, name, key) => (seen.add(dependencyKey('ConfigMap', ns, name)), lookup.configMap(ns, name, key)),
    secretData: (ns, name) => (seen.add(dependencyKey('Secret', ns, name)), lookup.secretData(ns, name)),
    configMapData: (ns, name) => (seen.add(dependencyKey('ConfigMap', ns, name)), lookup.configMapData(ns, name)),
  };
}
