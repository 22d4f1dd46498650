import type { ClusterTriggerAuthentication, TriggerAuthentication, TriggerAuthenticationSpec } from '../apis/keda/v1alpha1/triggerauthentication.js';
import type { TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import type { KeyLookup } from './container-env.js';

export interface AuthSources {
  triggerAuthentication(namespace: string, name: string): TriggerAuthentication | undefined;
  clusterTriggerAuthentication(name: string): ClusterTriggerAuthentication | undefined;
  lookup: KeyLookup;
  /** Where a ClusterTriggerAuthentication's secrets and config maps live: the operator's own namespace. */
  clusterAuthNamespace: string;
  /** The scale target's container env (named container, else envSourceContainerName, else the first). */
  containerEnv(containerName: string | undefined): Readonly<Record<string, string>>;
}

export interface ResolvedAuth {
  /** Secret material: never log, never put in status or events. */
  params: Record<string, string>;
  podIdentity?: { provider: string };
  /** Problems worth telling the user (missing TriggerAuthentication, unsupported sources); never contain values. */
  warnings: string[];
}

const unsupportedSources = [
  'hashiCorpVault',
  'azureKeyVault',
  'gcpSecretManager',
  'awsSecretManager',
  'boundServiceAccountToken',
  'oauth2',
  'filePath',
] as const;

/**
 * The auth parameters of one trigger, from its (Cluster)TriggerAuthentication. Like KEDA: env first, then
 * config maps, then secrets, later ones overwriting earlier ones for the same parameter; a missing
 * TriggerAuthentication only yields a warning and empty params (the scaler then reports what it misses).
 */
export function resolveTriggerAuth(trigger: TriggerSpec, namespace: string, sources: AuthSources): ResolvedAuth {
  const ref = trigger.authenticationRef;
  if (!ref) return { params: {}, warnings: [] };
  const cluster = ref.kind === 'ClusterTriggerAuthentication';
  const auth = cluster ? sources.clusterTriggerAuthentication(ref.name) : sources.triggerAuthentication(namespace, ref.name);
  const kind = cluster ? 'ClusterTriggerAuthentication' : 'TriggerAuthentication';
  if (!auth) return { params: {}, warnings: [`${kind} "${ref.name}" not found`] };
  const secretNamespace = cluster ? sources.clusterAuthNamespace : namespace;
  return resolveSpec(auth.spec, kind, ref.name, secretNamespace, sources);
}

function resolveSpec(spec: TriggerAuthenticationSpec, kind: string, name: string, secretNamespace: string, sources: AuthSources): ResolvedAuth {
  const params: Record<string, string> = {};
  const warnings: string[] = [];
  for (const entry of spec.env ?? []) {
    const value = sources.containerEnv(entry.containerName)[entry.name];
    if (value === undefined) warnings.push(`${kind} "${name}": env ${entry.name} not found on the scale target`);
    else params[entry.parameter] = value;
  }
  for (const entry of spec.configMapTargetRef ?? []) {
    const value = sources.lookup.configMap(secretNamespace, entry.name, entry.key);
    if (value === undefined) warnings.push(`${kind} "${name}": key ${entry.key} of ConfigMap ${secretNamespace}/${entry.name} not found`);
    else params[entry.parameter] = value;
  }
  for (const entry of spec.secretTargetRef ?? []) {
    const value = sources.lookup.secret(secretNamespace, entry.name, entry.key);
    if (value === undefined) warnings.push(`${kind} "${name}": key ${entry.key} of Secret ${secretNamespace}/${entry.name} not found`);
    else params[entry.parameter] = value;
  }
  for (const source of unsupportedSources) {
    if (spec[source] !== undefined) warnings.push(`${kind} "${name}": ${source} is not supported by swell and was ignored`);
  }
  const provider = spec.podIdentity?.provider;
  return { params, warnings, ...(provider && provider !== 'none' ? { podIdentity: { provider } } : {}) };
}
