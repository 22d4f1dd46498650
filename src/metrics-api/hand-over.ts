import type { V1APIService, V1ConfigMap } from '@kubernetes/client-node';
import { readOrUndefined, resourcePath, type KubeClient } from '../kube/client.js';
import { externalMetricsApiServiceName, externalMetricsApiServicePath } from './kube-access.js';

/** What the previous owner's APIService was, kept so that it can be put back as it was. */
export interface RecordedApiService {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly spec: NonNullable<V1APIService['spec']>;
}

export interface HandOverOptions {
  /** Namespace of the ConfigMap the previous owner is recorded in (swell's release namespace). */
  readonly namespace: string;
  readonly configMapName: string;
  /** Mark the APIService as this Helm release's, so that `helm install` adopts it instead of refusing. */
  readonly helmRelease?: string;
}

export type HandOverResult =
  { kind: 'none'; message: string } | { kind: 'already-recorded'; message: string } | { kind: 'recorded'; message: string; previous: RecordedApiService };

export type HandBackResult = { kind: 'nothing-recorded'; message: string } | { kind: 'restored'; message: string };

const recordKey = 'apiservice.json';
const helmKeys = {
  managedBy: 'app.kubernetes.io/managed-by',
  releaseName: 'meta.helm.sh/release-name',
  releaseNamespace: 'meta.helm.sh/release-namespace',
} as const;

/**
 * Records the APIService's current owner before swell takes it over. The first record wins: running it again
 * after swell owns the APIService must not record swell as the owner to restore.
 */
export async function handOver(client: KubeClient, options: HandOverOptions): Promise<HandOverResult> {
  const where = `ConfigMap ${options.namespace}/${options.configMapName}`;
  if (await readOrUndefined<V1ConfigMap>(client, configMapPath(options))) {
    return { kind: 'already-recorded', message: `the previous owner is already recorded in ${where}; left as it is` };
  }
  const current = await readOrUndefined<V1APIService>(client, externalMetricsApiServicePath);
  if (!current?.spec) return { kind: 'none', message: `APIService ${externalMetricsApiServiceName} does not exist; nothing to hand over` };
  const previous = recordOf(current);
  await client.request('POST', configMapsPath(options.namespace), {
    body: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: options.configMapName, labels: { [helmKeys.managedBy]: 'swell' } },
      data: { [recordKey]: JSON.stringify(previous) },
    },
  });
  if (options.helmRelease) await markForHelm(client, current, options.helmRelease, options.namespace);
  return { kind: 'recorded', previous, message: `recorded APIService ${externalMetricsApiServiceName} (${describeBackend(previous)}) in ${where}` };
}

/** Puts the recorded owner's APIService back (replacing swell's, if it is still there) and drops the record. */
export async function handBack(client: KubeClient, options: Pick<HandOverOptions, 'namespace' | 'configMapName'>): Promise<HandBackResult> {
  const where = `ConfigMap ${options.namespace}/${options.configMapName}`;
  const record = await readOrUndefined<V1ConfigMap>(client, configMapPath(options));
  const text = record?.data?.[recordKey];
  if (!text) return { kind: 'nothing-recorded', message: `no previous owner recorded in ${where}; nothing to hand back` };
  const previous = parseRecord(text, where);
  const body: V1APIService = {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: externalMetricsApiServiceName, labels: previous.labels, annotations: previous.annotations },
    spec: previous.spec,
  };
  const current = await readOrUndefined<V1APIService>(client, externalMetricsApiServicePath);
  if (current)
    await client.request('PUT', externalMetricsApiServicePath, {
      body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
  else await client.request('POST', apiServicesPath, { body });
  await client.request('DELETE', configMapPath(options));
  return { kind: 'restored', message: `restored APIService ${externalMetricsApiServiceName} (${describeBackend(previous)}) from ${where}` };
}

/** The owner's APIService without what the cluster or Helm wrote on it. */
export function recordOf(apiService: V1APIService): RecordedApiService {
  const annotations = { ...(apiService.metadata?.annotations ?? {}) };
  delete annotations[helmKeys.releaseName];
  delete annotations[helmKeys.releaseNamespace];
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  return { labels: { ...(apiService.metadata?.labels ?? {}) }, annotations, spec: apiService.spec ?? { groupPriorityMinimum: 100, versionPriority: 100 } };
}

export function parseRecord(text: string, where: string): RecordedApiService {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: ${recordKey} is not JSON (${(error as Error).message})`, { cause: error });
  }
  const record = parsed as Partial<RecordedApiService> | null;
  if (typeof record?.spec !== 'object' || record.spec === null || typeof record.spec.groupPriorityMinimum !== 'number')
    throw new Error(`${where}: ${recordKey} holds no APIService spec`);
  return { labels: record.labels ?? {}, annotations: record.annotations ?? {}, spec: record.spec };
}

function describeBackend(record: RecordedApiService): string {
  const service = record.spec.service;
  return service ? `Service ${service.namespace ?? ''}/${service.name ?? ''}${service.port ? `:${service.port}` : ''}` : 'served by the apiserver itself';
}

async function markForHelm(client: KubeClient, current: V1APIService, release: string, namespace: string): Promise<void> {
  const metadata = {
    labels: { ...(current.metadata?.labels ?? {}), [helmKeys.managedBy]: 'Helm' },
    annotations: { ...(current.metadata?.annotations ?? {}), [helmKeys.releaseName]: release, [helmKeys.releaseNamespace]: namespace },
  };
  await client.request('PUT', externalMetricsApiServicePath, { body: { ...current, metadata: { ...current.metadata, ...metadata } } });
}

const apiServicesPath = resourcePath({ group: 'apiregistration.k8s.io', version: 'v1', resource: 'apiservices' });

function configMapsPath(namespace: string): string {
  return resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace });
}

function configMapPath(options: Pick<HandOverOptions, 'namespace' | 'configMapName'>): string {
  return `${configMapsPath(options.namespace)}/${encodeURIComponent(options.configMapName)}`;
}
