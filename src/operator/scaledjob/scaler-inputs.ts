import type { ScaledJob } from '../../apis/keda/v1alpha1/scaledjob.js';
import type { ClusterTriggerAuthentication, TriggerAuthentication } from '../../apis/keda/v1alpha1/triggerauthentication.js';
import { containerEnv, type Container, type KeyLookup } from '../container-env.js';
import type { ScalerInputs } from '../scalers-cache.js';
import { resolveTriggerAuth } from '../trigger-auth.js';

export type DataKind = 'Secret' | 'ConfigMap';

export interface ScaledJobAuthSources {
  triggerAuthentication(namespace: string, name: string): TriggerAuthentication | undefined;
  clusterTriggerAuthentication(name: string): ClusterTriggerAuthentication | undefined;
  /** Where a ClusterTriggerAuthentication's secrets and config maps live. */
  clusterAuthNamespace: string;
  /** The decoded data of a Secret or ConfigMap; undefined when it does not exist. */
  readData(kind: DataKind, namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined>;
}

export interface ResolvedScaledJobInputs {
  inputs: ScalerInputs;
  /** Problems worth telling the user; they name objects and keys, never values. */
  warnings: string[];
}

/**
 * What a ScaledJob's scalers are built from: each trigger's auth parameters from its (Cluster)TriggerAuthentication
 * and the env of the Job template's container (envSourceContainerName, else the first). Only the Secrets and
 * ConfigMaps something refers to are read, once each, before the (synchronous) resolution runs over them.
 */
export async function resolveScaledJobInputs(sj: ScaledJob, sources: ScaledJobAuthSources): Promise<ResolvedScaledJobInputs> {
  const namespace = sj.metadata.namespace ?? '';
  const containers = (sj.spec.jobTargetRef.template.spec?.containers ?? []) as Container[];
  const auths = sj.spec.triggers.map((trigger) => {
    const ref = trigger.authenticationRef;
    if (!ref) return undefined;
    const cluster = ref.kind === 'ClusterTriggerAuthentication';
    const spec = cluster ? sources.clusterTriggerAuthentication(ref.name)?.spec : sources.triggerAuthentication(namespace, ref.name)?.spec;
    return spec && { spec, secretNamespace: cluster ? sources.clusterAuthNamespace : namespace };
  });
  const needsEnv = sj.spec.triggers.some((t) => Object.keys(t.metadata).some((k) => k.endsWith('FromEnv'))) || auths.some((a) => (a?.spec.env?.length ?? 0) > 0);
  const wanted: [DataKind, string, string][] = [];
  for (const auth of auths) {
    for (const ref of auth?.spec.secretTargetRef ?? []) wanted.push(['Secret', auth!.secretNamespace, ref.name]);
    for (const ref of auth?.spec.configMapTargetRef ?? []) wanted.push(['ConfigMap', auth!.secretNamespace, ref.name]);
  }
  if (needsEnv) for (const container of containers) wanted.push(...envReferences(container).map(([kind, name]): [DataKind, string, string] => [kind, namespace, name]));
  const lookup = await prefetch(wanted, (kind, ns, name) => sources.readData(kind, ns, name));
  const envOf = (name: string | undefined): Record<string, string> => (needsEnv ? containerEnv(containers, name, namespace, lookup) : {});
  const warnings: string[] = [];
  const auth = sj.spec.triggers.map((trigger) => {
    const resolved = resolveTriggerAuth(trigger, namespace, {
      triggerAuthentication: (ns, name) => sources.triggerAuthentication(ns, name),
      clusterTriggerAuthentication: (name) => sources.clusterTriggerAuthentication(name),
      lookup,
      clusterAuthNamespace: sources.clusterAuthNamespace,
      containerEnv: (name) => envOf(name ?? sj.spec.envSourceContainerName),
    });
    warnings.push(...resolved.warnings);
    return resolved;
  });
  return { inputs: { namespace, triggers: sj.spec.triggers, auth, env: envOf(sj.spec.envSourceContainerName) }, warnings };
}

/** The Secrets and ConfigMaps a container's env and envFrom refer to. */
function envReferences(container: Container): [DataKind, string][] {
  const refs: [DataKind, string][] = [];
  for (const source of container.envFrom ?? []) {
    if (source.secretRef?.name) refs.push(['Secret', source.secretRef.name]);
    if (source.configMapRef?.name) refs.push(['ConfigMap', source.configMapRef.name]);
  }
  for (const variable of container.env ?? []) {
    const secret = variable.valueFrom?.secretKeyRef?.name;
    const configMap = variable.valueFrom?.configMapKeyRef?.name;
    if (secret) refs.push(['Secret', secret]);
    if (configMap) refs.push(['ConfigMap', configMap]);
  }
  return refs;
}

async function prefetch(wanted: readonly [DataKind, string, string][], readData: ScaledJobAuthSources['readData']): Promise<KeyLookup> {
  const data = new Map<string, Readonly<Record<string, string>> | undefined>();
  const id = (kind: DataKind, namespace: string, name: string): string => `${kind}/${namespace}/${name}`;
  await Promise.all(
    [...new Map(wanted.map((w) => [id(...w), w])).values()].map(async ([kind, namespace, name]) => {
      data.set(id(kind, namespace, name), await readData(kind, namespace, name));
    }),
  );
  return {
    secret: (ns, name, key) => data.get(id('Secret', ns, name))?.[key],
    configMap: (ns, name, key) => data.get(id('ConfigMap', ns, name))?.[key],
    secretData: (ns, name) => data.get(id('Secret', ns, name)),
    configMapData: (ns, name) => data.get(id('ConfigMap', ns, name)),
  };
}
