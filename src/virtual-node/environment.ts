import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { parseQuantity } from '../kube/quantity.js';

// The kubelet's part of preparing a container's environment: values from Secrets, ConfigMaps and the downward
// API, envFrom, and $(VAR) references in env, command and args. Providers then only see literal values.

/** Reads the data of Secrets and ConfigMaps (Secret values already decoded); undefined when absent. */
export interface ConfigReader {
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** A copy of the pod whose containers carry only literal env values, with $(VAR) references expanded. */
export async function resolvePodEnvironment(pod: V1Pod, reader: ConfigReader, hostIP: string): Promise<V1Pod> {
  const resolve = async (c: V1Container) => resolveContainer(pod, c, reader, hostIP);
  const spec = pod.spec;
  if (!spec) return pod;
  return {
    ...pod,
    spec: { ...spec, containers: await Promise.all(spec.containers.map(resolve)), initContainers: await Promise.all((spec.initContainers ?? []).map(resolve)) },
  };
}

async function resolveContainer(pod: V1Pod, container: V1Container, reader: ConfigReader, hostIP: string): Promise<V1Container> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const where = `pod ${namespace}/${pod.metadata?.name ?? ''} container "${container.name}"`;
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    if (!ref) continue;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const refName = ref.name ?? '';
    const data = source.configMapRef ? await reader.configMap(namespace, refName) : await reader.secret(namespace, refName);
    if (!data) {
      if (ref.optional) continue;
      throw new Error(`${where}: envFrom ${kind} "${refName}" not found`);
    }
    for (const [key, value] of Object.entries(data)) env.set(`${source.prefix ?? ''}${key}`, value);
  }
  for (const variable of container.env ?? []) {
    const value = await valueOf(variable, pod, container, reader, hostIP, where);
    if (value !== undefined) env.set(variable.name, expand(value, env));
  }
  const literal: V1EnvVar[] = [...env].map(([name, value]) => ({ name, value }));
  return {
    ...container,
    env: literal,
    envFrom: [],
    ...(container.command ? { command: container.command.map((a) => expand(a, env)) } : {}),
    ...(container.args ? { args: container.args.map((a) => expand(a, env)) } : {}),
  };
}

async function valueOf(
  variable: V1EnvVar,
  pod: V1Pod,
  container: V1Container,
  reader: ConfigReader,
  hostIP: string,
  where: string,
): Promise<string | undefined> {
  const from = variable.valueFrom;
  if (!from) return variable.value ?? '';
  const namespace = pod.metadata?.namespace ?? 'default';
  const what = `${where}: env ${variable.name}`;
  if (from.secretKeyRef || from.configMapKeyRef) {
    const ref = (from.secretKeyRef ?? from.configMapKeyRef) as { name: string; key: string; optional?: boolean };
    const kind = from.secretKeyRef ? 'Secret' : 'ConfigMap';
    const data = from.secretKeyRef ? await reader.secret(namespace, ref.name) : await reader.configMap(namespace, ref.name);
    const value = data?.[ref.key];
    if (value === undefined && !ref.optional) throw new Error(`${what}: key "${ref.key}" of ${kind} "${ref.name}" not found`);
    return value;
  }
  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath, hostIP, what);
  if (from.resourceFieldRef) {
    const ref = from.resourceFieldRef;
    const target = ref.containerName ? (pod.spec?.containers.find((c) => c.name === ref.containerName) ?? container) : container;
    const [kind, resource] = ref.resource.split('.') as ['limits' | 'requests', string];
    const raw = target.resources?.[kind]?.[resource];
    if (raw === undefined) return '0';
    const divisor = parseQuantity(ref.divisor ?? '1', `${what}: divisor`);
    return String(Math.ceil(parseQuantity(raw, `${what}: ${ref.resource}`) / divisor));
  }
  throw new Error(`${what}: unsupported valueFrom`);
}

function fieldValue(pod: V1Pod, path: string, hostIP: string, what: string): string {
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[keyed[2] ?? ''] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.hostIP': hostIP,
    'status.hostIPs': hostIP,
    'status.podIP': pod.status?.podIP ?? '',
    'status.podIPs': pod.status?.podIP ?? '',
  };
  if (!(path in fields)) throw new Error(`${what}: unsupported fieldRef ${path}`);
  return fields[path] ?? '';
}

/** Expands $(NAME) from the variables defined so far; $$ escapes; unknown references stay as written. */
export function expand(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && env.has(name) ? (env.get(name) ?? '') : match;
  });
}
