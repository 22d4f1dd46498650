import { ApiException, type CoreV1Api, type DiscoveryV1Api, type V1EndpointSlice, type V1Endpoints } from '@kubernetes/client-node';

/**
 * Pods reach the apiserver as in any cluster, through the `kubernetes` Service. The apiserver listens on loopback
 * only, and Endpoints cannot hold loopback addresses, so a relay on the node IP forwards to it and the Service's
 * endpoints name that relay. The apiserver's own reconciler is off (--endpoint-reconciler-type=none); these
 * objects are the sandbox's to write.
 */
export const apiserverEndpointsManager = 'swell-sandbox';

/** socat relaying TCP from the node IP to the apiserver on loopback; TLS passes through untouched. */
export function apiserverRelayArgs(nodeIp: string, port: number): string[] {
  return [`TCP-LISTEN:${port},bind=${nodeIp},reuseaddr,fork`, `TCP:127.0.0.1:${port}`];
}

export function kubernetesEndpoints(nodeIp: string, port: number): V1Endpoints {
  return {
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets: [{ addresses: [{ ip: nodeIp }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  };
}

export function kubernetesEndpointSlice(nodeIp: string, port: number): V1EndpointSlice {
  return {
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': apiserverEndpointsManager },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [nodeIp], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  };
}

/** Creates or replaces the `kubernetes` Endpoints and EndpointSlice so they point at the relay. */
export async function publishApiserverEndpoints(core: CoreV1Api, discovery: DiscoveryV1Api, nodeIp: string, port: number): Promise<void> {
  const endpoints = kubernetesEndpoints(nodeIp, port);
  const slice = kubernetesEndpointSlice(nodeIp, port);
  await upsert(
    () => core.createNamespacedEndpoints({ namespace: 'default', body: endpoints }),
    () => core.replaceNamespacedEndpoints({ namespace: 'default', name: 'kubernetes', body: endpoints }),
  );
  await upsert(
    () => discovery.createNamespacedEndpointSlice({ namespace: 'default', body: slice }),
    () => discovery.replaceNamespacedEndpointSlice({ namespace: 'default', name: 'kubernetes', body: slice }),
  );
}

async function upsert(create: () => Promise<unknown>, replace: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 409)) throw error;
    await replace();
  }
}
