import type { ClusterTriggerAuthentication, TriggerAuthentication } from '../apis/keda/v1alpha1/triggerauthentication.js';
import type { TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import { containerEnv, type Container, type KeyLookup } from './container-env.js';
import { dependencyKey } from './dependencies.js';
import type { ScalerInputs } from './scalers-cache.js';
import { resolveTriggerAuth } from './trigger-auth.js';

/** Where trigger authentication comes from: the operator's informer caches, for ScaledObjects and ScaledJobs alike. */
export interface AuthObjectSources {
  triggerAuthentication(namespace: string, name: string): TriggerAuthentication | undefined;
  clusterTriggerAuthentication(name: string): ClusterTriggerAuthentication | undefined;
  /** Secrets and ConfigMaps, read from memory. */
  lookup: KeyLookup;
  /** Where a ClusterTriggerAuthentication's secrets and config maps live. */
  clusterAuthNamespace: string;
}

/** What a ScaledObject and a ScaledJob have in common for building scalers; only where the containers come from differs. */
export interface Scalable {
  namespace: string;
  triggers: readonly TriggerSpec[];
  /** The container whose env the triggers read unless an entry names another; the first when unset. */
  envSourceContainerName?: string | undefined;
  /** The containers env is read from; called only when a trigger needs env, since it may cost a read. */
  containers(): Promise<readonly Container[]>;
}

export interface ResolvedScalerInputs {
  inputs: ScalerInputs;
  /** Keys of every object read (see DependencyIndex), so a change to any of them rebuilds the scalers. */
  dependencies: string[];
  /** Problems worth telling the user; they name objects and keys, never values. */
  warnings: string[];
}

/**
 * Gathers what the scalers of a ScaledObject or ScaledJob are built from: each trigger's auth parameters from its
 * (Cluster)TriggerAuthentication and the container env, recording every object read. The containers are asked
 * for only when something needs env (a `*FromEnv` key or a TriggerAuthentication `env` entry).
 */
export async function resolveScalableInputs(scalable: Scalable, sources: AuthObjectSources): Promise<ResolvedScalerInputs> {
  const { namespace, triggers } = scalable;
  const dependencies = new Set<string>();
  const lookup = recordingLookup(sources.lookup, dependencies);
  const containers = needsEnv(scalable, sources) ? await scalable.containers() : [];
  const envOf = memoEnv(containers, namespace, lookup);
  const defaultContainer = scalable.envSourceContainerName;
  const warnings: string[] = [];
  const auth = triggers.map((trigger) => {
    const ref = trigger.authenticationRef;
    if (ref) {
      const cluster = ref.kind === 'ClusterTriggerAuthentication';
      dependencies.add(
        cluster ? dependencyKey('ClusterTriggerAuthentication', undefined, ref.name) : dependencyKey('TriggerAuthentication', namespace, ref.name),
      );
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
  return { inputs: { namespace, triggers, auth, env: envOf(defaultContainer) }, dependencies: [...dependencies], warnings };
}

function needsEnv(scalable: Scalable, sources: AuthObjectSources): boolean {
  return scalable.triggers.some((trigger) => {
    if (Object.keys(trigger.metadata).some((k) => k.endsWith('FromEnv'))) return true;
    const ref = trigger.authenticationRef;
    if (!ref) return false;
    const auth =
      ref.kind === 'ClusterTriggerAuthentication'
        ? sources.clusterTriggerAuthentication(ref.name)
        : sources.triggerAuthentication(scalable.namespace, ref.name);
    return (auth?.spec.env?.length ?? 0) > 0;
  });
}

function memoEnv(containers: readonly Container[], namespace: string, lookup: KeyLookup): (name: string | undefined) => Record<string, string> {
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
