import type { V1APIService, V1Namespace, V1Service } from '@kubernetes/client-node';
import { readOrUndefined, resourcePath, type KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { LocalRegistration as KeptRegistration, ObservedRegistration } from '../kube/local-registration.js';
import { base64, externalMetricsApiServiceName, externalMetricsApiServicePath, isStatus } from './kube-access.js';
import { metricsGroup, metricsVersion } from './routes.js';

/** Where a locally running server is reached from the apiserver on the same machine. */
export interface LocalRegistration {
  /** Namespace of the ExternalName Service, created if absent; e.g. swell-system. */
  readonly namespace: string;
  readonly serviceName: string;
  /** The server's local port; the aggregator dials https://<externalName>:<port>. */
  readonly port: number;
  /** CA the aggregator verifies the serving certificate with. */
  readonly caPem: string;
  /** Default 127.0.0.1: the apiserver and the server share the loopback interface. */
  readonly address?: string;
}

/**
 * The APIService of a local run as the registration keeper sees it: pointing at this Service with some
 * replica's port (a local registration), or at anything else (foreign). Claiming replaces it only if it has
 * not changed since it was read.
 */
export function apiServiceRegistration(client: KubeClient, registration: LocalRegistration, log: Logger): KeptRegistration {
  return {
    description: `APIService ${externalMetricsApiServiceName}`,
    async read(): Promise<ObservedRegistration | undefined> {
      const current = await readOrUndefined<V1APIService>(client, externalMetricsApiServicePath);
      if (!current) return undefined;
      const service = current.spec?.service;
      const resourceVersion = current.metadata?.resourceVersion;
      const ours = service?.name === registration.serviceName && service.namespace === registration.namespace && service.port !== undefined;
      const target = ours
        ? { kind: 'local' as const, port: service.port ?? 0 }
        : { kind: 'foreign' as const, description: service ? `Service ${service.namespace}/${service.name}` : 'the apiserver itself' };
      return { target, ...(resourceVersion ? { resourceVersion } : {}) };
    },
    async claim(observed) {
      await ensureExternalNameService(client, registration);
      const desired = localApiService(registration);
      if (!observed) await client.request('POST', apiServices, { body: desired });
      else
        await client.request('PUT', externalMetricsApiServicePath, {
          body: { ...desired, metadata: { ...desired.metadata, resourceVersion: observed.resourceVersion } },
        });
    },
    release: () => unregisterApiService(client, registration, log),
  };
}

const apiServices = resourcePath({ group: 'apiregistration.k8s.io', version: 'v1', resource: 'apiservices' });

function localApiService(registration: LocalRegistration): V1APIService {
  return {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: externalMetricsApiServiceName, labels: { 'app.kubernetes.io/managed-by': 'swell' } },
    spec: {
      group: metricsGroup,
      version: metricsVersion,
      groupPriorityMinimum: 100,
      versionPriority: 100,
      caBundle: base64(registration.caPem),
      service: { name: registration.serviceName, namespace: registration.namespace, port: registration.port },
    },
  };
}

/**
 * Deletes the APIService if it still points at this registration's Service: an APIService whose backend is gone
 * breaks discovery for every client and blocks namespace deletion.
 */
export async function unregisterApiService(
  client: KubeClient,
  registration: Pick<LocalRegistration, 'namespace' | 'serviceName' | 'port'>,
  log: Logger,
): Promise<void> {
  const current = await readOrUndefined<V1APIService>(client, externalMetricsApiServicePath);
  const service = current?.spec?.service;
  // Another local operator may have registered itself since (same Service, its own port): leave its APIService be.
  if (!current || service?.name !== registration.serviceName || service.namespace !== registration.namespace || service.port !== registration.port) return;
  try {
    await client.request('DELETE', externalMetricsApiServicePath, { body: { preconditions: { uid: current.metadata?.uid } } });
    log.info(`deleted APIService ${externalMetricsApiServiceName}`);
  } catch (error) {
    if (!isStatus(error, 404) && !isStatus(error, 409)) throw error;
  }
}

/** Creates the namespace if it is absent; local runs need it before the certificate Secret is written. */
export async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  const namespaces = resourcePath({ group: '', version: 'v1', resource: 'namespaces' });
  if (await readOrUndefined<V1Namespace>(client, `${namespaces}/${encodeURIComponent(name)}`)) return;
  try {
    await client.request('POST', namespaces, { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  } catch (error) {
    if (!isStatus(error, 409)) throw error;
  }
}

async function ensureExternalNameService(client: KubeClient, registration: LocalRegistration): Promise<void> {
  const { namespace, serviceName: name } = registration;
  const services = resourcePath({ group: '', version: 'v1', resource: 'services', namespace });
  const path = `${services}/${encodeURIComponent(name)}`;
  const externalName = registration.address ?? '127.0.0.1';
  const body: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'swell' } },
    spec: { type: 'ExternalName', externalName, ports: [{ name: 'https', port: registration.port, protocol: 'TCP' }] },
  };
  const current = await readOrUndefined<V1Service>(client, path);
  if (!current) {
    try {
      await client.request('POST', services, { body });
      return;
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
  }
  const port = current?.spec?.ports?.[0]?.port;
  if (current?.spec?.type === 'ExternalName' && current.spec.externalName === externalName && port === registration.port) return;
  await client.request('PUT', path, { body: { ...body, metadata: { ...body.metadata, resourceVersion: current?.metadata?.resourceVersion } } });
}
