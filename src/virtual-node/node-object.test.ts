import { describe, expect, it } from 'vitest';
import {
  kubernetesArchitecture,
  leaseObject,
  microTime,
  nodeConditions,
  nodeLabels,
  nodeObject,
  nodeStatus,
  nodeTaints,
  type NodeIdentity,
} from './node-object.js';

const identity: NodeIdentity = {
  name: 'swell-vk',
  providerName: 'simulated',
  regular: false,
  capacity: { cpu: '1k', memory: '4Ti', pods: '5k' },
  nodeIP: '127.0.0.1',
  kubeletPort: 10250,
  machineId: 'm',
  bootId: 'b',
  architecture: 'amd64',
};
const now = new Date('2026-03-01T10:00:00.123Z');

describe('node object', () => {
  it('carries the virtual-kubelet labels, taint, capacity, address and kubelet port', () => {
    const node = nodeObject(identity);
    const status = nodeStatus(identity, nodeConditions({ healthy: true }, [], now));
    expect(node.metadata.labels).toMatchObject({
      type: 'virtual-kubelet',
      'kubernetes.io/role': 'agent',
      'kubernetes.io/hostname': 'swell-vk',
      'kubernetes.io/os': 'linux',
    });
    expect(node.metadata).not.toHaveProperty('annotations');
    expect(node.spec.taints).toEqual([{ key: 'virtual-kubelet.io/provider', value: 'simulated', effect: 'NoSchedule' }]);
    expect(status.capacity).toEqual({ cpu: '1k', memory: '4Ti', pods: '5k' });
    expect(status.allocatable).toEqual(status.capacity);
    expect(status.addresses).toEqual([{ type: 'InternalIP', address: '127.0.0.1' }]);
    expect(status.daemonEndpoints.kubeletEndpoint.Port).toBe(10250);
    expect(status.nodeInfo).toMatchObject({ operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'simulated://swell' });
  });

  it('registers regular nodes untainted and without the virtual-kubelet type label', () => {
    const regular = { ...identity, regular: true };
    expect(nodeTaints(regular)).toEqual([]);
    expect(nodeLabels(regular).type).toBeUndefined();
    expect(nodeLabels(regular)['swell.dev/node-kind']).toBe('regular');
  });
});

describe('nodeConditions', () => {
  it.each([
    [{ healthy: true }, 'True', 'KubeletReady'],
    [{ healthy: false, message: 'backend down' }, 'False', 'ProviderUnhealthy'],
  ])('health %j gives Ready=%s (%s) and no pressure', (health, status, reason) => {
    const conditions = nodeConditions(health, [], now);
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({ status, reason });
    for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'NetworkUnavailable']) {
      expect(conditions.find((c) => c.type === type)?.status).toBe('False');
    }
  });

  it('puts the health check message in Ready', () => {
    expect(nodeConditions({ healthy: false, message: 'backend down' }, [], now)[0]?.message).toContain('backend down');
  });

  it('keeps the transition time while the status holds and always moves the heartbeat', () => {
    const before = nodeConditions({ healthy: true }, [], now);
    const later = new Date(now.getTime() + 60_000);
    const same = nodeConditions({ healthy: true }, before, later);
    expect(same[0]?.lastTransitionTime).toBe('2026-03-01T10:00:00Z');
    expect(same[0]?.lastHeartbeatTime).toBe('2026-03-01T10:01:00Z');
    const flipped = nodeConditions({ healthy: false }, before, later);
    expect(flipped[0]?.lastTransitionTime).toBe('2026-03-01T10:01:00Z');
  });
});

describe('lease', () => {
  it('is held by the node, owned by it, and renewed with a microsecond time', () => {
    const lease = leaseObject('swell-vk', 'uid-1', now) as {
      metadata: { namespace: string; ownerReferences: { uid: string }[] };
      spec: Record<string, unknown>;
    };
    expect(lease.metadata.namespace).toBe('kube-node-lease');
    expect(lease.metadata.ownerReferences[0]?.uid).toBe('uid-1');
    expect(lease.spec).toEqual({ holderIdentity: 'swell-vk', leaseDurationSeconds: 40, renewTime: '2026-03-01T10:00:00.123000Z' });
    expect(microTime(now)).toBe('2026-03-01T10:00:00.123000Z');
  });

  it('maps Node.js architectures to Kubernetes ones', () => {
    expect(kubernetesArchitecture('x64')).toBe('amd64');
    expect(kubernetesArchitecture('arm64')).toBe('arm64');
  });
});
