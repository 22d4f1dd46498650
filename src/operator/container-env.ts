/** Reads keys of Secrets and ConfigMaps (from the informer caches); undefined when the object or key is missing. */
export interface KeyLookup {
  secret(namespace: string, name: string, key: string): string | undefined;
  configMap(namespace: string, name: string, key: string): string | undefined;
  /** Every key of an object, for envFrom; undefined when it is missing. */
  secretData(namespace: string, name: string): Readonly<Record<string, string>> | undefined;
  configMapData(namespace: string, name: string): Readonly<Record<string, string>> | undefined;
}

interface KeyRef {
  name?: string;
  key: string;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name?: string };
  configMapRef?: { name?: string };
}

export interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
}

/** The pod template's containers of a Deployment, StatefulSet or anything shaped like them. */
export function podTemplateContainers(target: Record<string, unknown> | undefined): Container[] {
  const spec = target?.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers ?? [];
}

/**
 * A container's environment as the kubelet would build it: envFrom sources first, then env entries on top,
 * with secret and config map references resolved. `$(VAR)` expansion is not done (KEDA does not either).
 */
export function containerEnv(
  containers: readonly Container[],
  containerName: string | undefined,
  namespace: string,
  lookup: KeyLookup,
): Record<string, string> {
  const container = containerName ? containers.find((c) => c.name === containerName) : containers[0];
  const env: Record<string, string> = {};
  if (!container) return env;
  for (const source of container.envFrom ?? []) {
    const data = source.secretRef?.name
      ? lookup.secretData(namespace, source.secretRef.name)
      : source.configMapRef?.name
        ? lookup.configMapData(namespace, source.configMapRef.name)
        : undefined;
    for (const [key, value] of Object.entries(data ?? {})) env[`${source.prefix ?? ''}${key}`] = value;
  }
  for (const variable of container.env ?? []) {
    const value = envValue(variable, namespace, lookup);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

function envValue(variable: EnvVar, namespace: string, lookup: KeyLookup): string | undefined {
  if (variable.value !== undefined) return variable.value;
  const secretRef = variable.valueFrom?.secretKeyRef;
  if (secretRef?.name) return lookup.secret(namespace, secretRef.name, secretRef.key);
  const configMapRef = variable.valueFrom?.configMapKeyRef;
  if (configMapRef?.name) return lookup.configMap(namespace, configMapRef.name, configMapRef.key);
  return undefined;
}
