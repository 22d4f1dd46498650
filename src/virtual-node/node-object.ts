import { rfc3339 } from './pod-status.js';
import type { NodeResources } from './provider.js';

// The Node and Lease objects a virtual node writes, as plain JSON built from configuration and observations.

export const providerTaintKey = 'virtual-kubelet.io/provider';
export const nodeLeaseNamespace = 'kube-node-lease';
/** The kubelet's default: the lease is renewed every quarter of it (10 s). */
export const leaseDurationSeconds = 40;
export const kubeletVersion = 'v1.34.0-swell';

export interface NodeIdentity {
  readonly name: string;
  readonly providerName: string;
  /** A "regular" node is untainted, with finite capacity, to stand in for a real worker in a sandbox. */
  readonly regular: boolean;
  readonly capacity: NodeResources;
  readonly nodeIP: string;
  readonly kubeletPort: number;
  /** Stable per node name, reported in nodeInfo. */
  readonly machineId: string;
  readonly bootId: string;
  readonly architecture: string;
}

export interface NodeHealth {
  readonly healthy: boolean;
  /** Why the provider's health check failed. */
  readonly message?: string;
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

export function nodeLabels(identity: NodeIdentity): Record<string, string> {
  const common = {
    'kubernetes.io/hostname': identity.name,
    'kubernetes.io/os': 'linux',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': identity.architecture,
  };
  if (identity.regular) return { ...common, 'swell.dev/node-kind': 'regular' };
  return {
    ...common,
    type: 'virtual-kubelet',
    'kubernetes.io/role': 'agent',
    'swell.dev/node-kind': 'virtual',
    // Cloud load balancers must not send traffic to a node that has no network data path.
    'node.kubernetes.io/exclude-from-external-load-balancers': 'true',
  };
}

export function nodeTaints(identity: NodeIdentity): { key: string; value: string; effect: string }[] {
  return identity.regular ? [] : [{ key: providerTaintKey, value: identity.providerName, effect: 'NoSchedule' }];
}

/** Node conditions; transition times carry over from `previous` while a condition keeps its status. */
export function nodeConditions(
  health: NodeHealth,
  previous: readonly { type: string; status: string; lastTransitionTime?: unknown }[],
  now: Date,
): NodeCondition[] {
  const at = rfc3339(now);
  const make = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const before = previous.find((c) => c.type === type);
    const since = before?.status === status ? timeOf(before.lastTransitionTime) : undefined;
    return { type, status, reason, message, lastHeartbeatTime: at, lastTransitionTime: since ?? at };
  };
  return [
    health.healthy
      ? make('Ready', 'True', 'KubeletReady', 'virtual node is posting ready status')
      : make('Ready', 'False', 'ProviderUnhealthy', `provider health check failed: ${health.message ?? 'unknown reason'}`),
    make('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'virtual node has sufficient memory available'),
    make('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'virtual node has no disk pressure'),
    make('PIDPressure', 'False', 'KubeletHasSufficientPID', 'virtual node has sufficient PID available'),
    make('NetworkUnavailable', 'False', 'RouteCreated', 'the provider configures pod networking'),
  ];
}

function timeOf(value: unknown): string | undefined {
  if (value instanceof Date) return rfc3339(value);
  if (typeof value === 'string' && value !== '') return rfc3339(new Date(value));
  return undefined;
}

export interface NodeStatusDocument {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  conditions: NodeCondition[];
  addresses: { type: string; address: string }[];
  daemonEndpoints: { kubeletEndpoint: { Port: number } };
  nodeInfo: Record<string, string>;
}

export function nodeStatus(identity: NodeIdentity, conditions: NodeCondition[]): NodeStatusDocument {
  const resources = { cpu: identity.capacity.cpu, memory: identity.capacity.memory, pods: identity.capacity.pods };
  return {
    capacity: resources,
    allocatable: resources,
    conditions,
    // Only an InternalIP: the API server dials the first address type it prefers, and a Hostname address
    // would make it resolve the node name, which no DNS knows.
    addresses: [{ type: 'InternalIP', address: identity.nodeIP }],
    daemonEndpoints: { kubeletEndpoint: { Port: identity.kubeletPort } },
    nodeInfo: {
      machineID: identity.machineId,
      systemUUID: identity.machineId,
      bootID: identity.bootId,
      kernelVersion: '',
      osImage: `swell virtual node (${identity.providerName} provider)`,
      containerRuntimeVersion: `${identity.providerName}://swell`,
      kubeletVersion,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: identity.architecture,
    },
  };
}

/** The Node to create when none exists; its status is written right after, through nodes/status. */
export function nodeObject(identity: NodeIdentity): {
  metadata: { name: string; labels: Record<string, string> };
  spec: { taints: { key: string; value: string; effect: string }[] };
} {
  return { metadata: { name: identity.name, labels: nodeLabels(identity) }, spec: { taints: nodeTaints(identity) } };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function leaseObject(nodeName: string, nodeUid: string, now: Date): Record<string, unknown> {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: nodeName,
      namespace: nodeLeaseNamespace,
      // Garbage-collected with its Node, as the kubelet's lease is.
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }],
    },
    spec: { holderIdentity: nodeName, leaseDurationSeconds, renewTime: microTime(now) },
  };
}

/** Node architecture label value for a Node.js `process.arch`. */
export function kubernetesArchitecture(arch: string): string {
  const names: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return names[arch] ?? arch;
}
