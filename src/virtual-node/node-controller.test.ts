import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { KubeApiError } from '../kube/errors.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import { NodeController } from './node-controller.js';
import { microTime, type NodeIdentity } from './node-object.js';
import type { Provider } from './provider.js';

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
const nodePath = '/api/v1/nodes/swell-vk';
const leasePath = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/swell-vk';

/** A provider whose health check answers with `problem` (healthy when undefined), or never when it `hangs`; nothing else is used here. */
function provider(health: { problem?: string; hangs?: boolean }): Provider {
  const unused = () => Promise.reject(new Error('not used by the node controller'));
  return {
    name: 'simulated',
    survivesRestart: false,
    createPod: unused,
    updatePod: unused,
    deletePod: unused,
    releasePod: unused,
    getPod: unused,
    listPods: unused,
    getContainerLogs: unused,
    healthCheck: () => (health.hangs ? new Promise<void>(() => undefined) : health.problem ? Promise.reject(new Error(health.problem)) : Promise.resolve()),
    capacity: () => identity.capacity,
    watch: () => undefined,
    close: () => Promise.resolve(),
  };
}

const controllers: NodeController[] = [];
afterEach(() => controllers.splice(0).forEach((c) => c.stop()));

function setup(client = new FakeKubeClient()) {
  const clock = new FakeClock(Date.parse('2026-03-01T10:00:00Z'));
  const health: { problem?: string; hangs?: boolean } = {};
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const controller = new NodeController({ client, identity, provider: provider(health), clock, log });
  controllers.push(controller);
  const node = () => client.get(nodePath) as V1Node | undefined;
  const lease = () => client.get(leasePath) as V1Lease | undefined;
  const ready = () => node()?.status?.conditions?.find((c) => c.type === 'Ready');
  return { client, clock, health, lines, controller, node, lease, ready };
}

describe('NodeController registration', () => {
  it('creates the Node with its labels, taint and status, and takes a Lease owned by it', async () => {
    const t = setup();
    await t.controller.register();
    expect(t.node()?.metadata?.labels).toMatchObject({ type: 'virtual-kubelet', 'kubernetes.io/hostname': 'swell-vk' });
    expect(t.node()?.spec?.taints).toEqual([{ key: 'virtual-kubelet.io/provider', value: 'simulated', effect: 'NoSchedule' }]);
    expect(t.node()?.status?.capacity).toEqual({ cpu: '1k', memory: '4Ti', pods: '5k' });
    expect(t.ready()).toMatchObject({ status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2026-03-01T10:00:00Z' });
    expect(t.lease()?.spec).toMatchObject({ holderIdentity: 'swell-vk', leaseDurationSeconds: 40, renewTime: microTime(new Date(t.clock.now())) });
    expect(t.lease()?.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'swell-vk', uid: t.node()?.metadata?.uid }]);
    expect(t.node()?.metadata?.uid).toMatch(/.+/);
    expect(t.lines.some((l) => l.msg === 'registered node' && l.node === 'swell-vk')).toBe(true);
  });

  it("adopts an existing Node: keeps others' taints, replaces its own provider taint", async () => {
    const client = new FakeKubeClient();
    client.put(nodePath, {
      metadata: { name: 'swell-vk', uid: 'old-uid', labels: { team: 'a' } },
      spec: {
        taints: [
          { key: 'virtual-kubelet.io/provider', value: 'old', effect: 'NoSchedule' },
          { key: 'maintenance', value: 'true', effect: 'NoSchedule' },
        ],
      },
    });
    const t = setup(client);
    await t.controller.register();
    expect(t.node()?.spec?.taints).toEqual([
      { key: 'maintenance', value: 'true', effect: 'NoSchedule' },
      { key: 'virtual-kubelet.io/provider', value: 'simulated', effect: 'NoSchedule' },
    ]);
    expect(t.node()?.metadata?.labels).toMatchObject({ team: 'a', type: 'virtual-kubelet' });
    expect(t.lease()?.metadata?.ownerReferences?.[0]?.uid).toBe('old-uid');
    expect(t.lines.some((l) => l.msg === 'adopted existing node')).toBe(true);
  });

  it('registers as NotReady when the provider is unhealthy from the start', async () => {
    const t = setup();
    t.health.problem = 'credentials expired';
    await t.controller.register();
    expect(t.ready()).toMatchObject({ status: 'False', reason: 'ProviderUnhealthy', message: 'provider health check failed: credentials expired' });
    expect(t.controller.currentHealth).toEqual({ healthy: false, message: 'credentials expired' });
  });

  it('fails registration on an error other than NotFound', async () => {
    const t = setup();
    t.client.fail('GET', nodePath, KubeApiError.fromResponse('GET', nodePath, 403, { reason: 'Forbidden', message: 'nodes "swell-vk" is forbidden' }, ''));
    await expect(t.controller.register()).rejects.toThrow(/403 Forbidden/);
    expect(t.node()).toBeUndefined();
  });
});

describe('NodeController heartbeats', () => {
  async function running() {
    const t = setup();
    await t.controller.register();
    t.controller.start();
    return t;
  }

  it('renews the Lease every 10 s', async () => {
    const t = await running();
    for (let i = 1; i <= 3; i++) {
      await t.clock.advance(10_000);
      expect(t.lease()?.spec?.renewTime).toBe(microTime(new Date(t.clock.now())));
    }
  });

  it('refreshes the status heartbeat every minute, keeping the transition time', async () => {
    const t = await running();
    await t.clock.advance(59_000);
    expect(t.ready()?.lastHeartbeatTime).toBe('2026-03-01T10:00:00Z');
    await t.clock.advance(1_000);
    expect(t.ready()).toMatchObject({ status: 'True', lastHeartbeatTime: '2026-03-01T10:01:00Z', lastTransitionTime: '2026-03-01T10:00:00Z' });
  });

  it('turns Ready to False at the next health check when the provider fails, and back when it recovers', async () => {
    const t = await running();
    t.health.problem = 'backend unreachable';
    await t.clock.advance(10_000);
    expect(t.ready()).toMatchObject({
      status: 'False',
      reason: 'ProviderUnhealthy',
      message: 'provider health check failed: backend unreachable',
      lastTransitionTime: '2026-03-01T10:00:10Z',
    });
    expect(t.lines.find((l) => l.msg === 'provider health changed')).toMatchObject({ healthy: false, problem: 'backend unreachable' });
    delete t.health.problem;
    await t.clock.advance(10_000);
    expect(t.ready()).toMatchObject({ status: 'True', lastTransitionTime: '2026-03-01T10:00:20Z' });
  });

  it('does not rewrite the status while health stays the same', async () => {
    const t = await running();
    const statusWrites = () => t.client.writes().filter((w) => w.path === `${nodePath}/status`).length;
    const before = statusWrites();
    await t.clock.advance(50_000);
    expect(statusWrites()).toBe(before);
  });

  it('takes the Lease again when it was deleted', async () => {
    const t = await running();
    t.client.remove(leasePath);
    await t.clock.advance(10_000);
    expect(t.lease()?.spec?.renewTime).toBe(microTime(new Date(t.clock.now())));
  });

  it('registers again when the Node object was deleted', async () => {
    const t = await running();
    t.client.remove(nodePath);
    await t.clock.advance(60_000);
    expect(t.ready()?.status).toBe('True');
    expect(t.lines.some((l) => l.msg === 'node object was deleted; registering again' && l.node === 'swell-vk')).toBe(true);
  });

  it('logs a failed renewal and keeps renewing', async () => {
    const t = await running();
    t.client.fail('PATCH', leasePath, KubeApiError.fromResponse('PATCH', leasePath, 500, {}, 'etcdserver: request timed out'));
    await t.clock.advance(10_000);
    expect(t.lines.some((l) => l.msg === 'node heartbeat task failed')).toBe(true);
    t.client.heal();
    await t.clock.advance(10_000);
    expect(t.lease()?.spec?.renewTime).toBe(microTime(new Date(t.clock.now())));
  });

  it('a failing status refresh is logged and retried on the next period', async () => {
    const t = await running();
    t.client.fail('GET', nodePath, KubeApiError.fromResponse('GET', nodePath, 503, {}, 'unavailable'));
    await t.clock.advance(60_000);
    expect(t.lines.some((l) => l.msg === 'node heartbeat task failed')).toBe(true);
    t.client.heal();
    await t.clock.advance(60_000);
    expect(t.ready()?.lastHeartbeatTime).toBe('2026-03-01T10:02:00Z');
  });

  it('stops writing once stopped', async () => {
    const t = await running();
    t.controller.stop();
    const writes = t.client.writes().length;
    await t.clock.advance(120_000);
    expect(t.client.writes().length).toBe(writes);
    expect(t.clock.pendingTimers).toBe(0);
  });
});

describe('NodeController health check timeout', () => {
  it('gives up on a health check that does not answer exactly at its timeout on the clock, and registers the node not Ready', async () => {
    const t = setup();
    t.health.hangs = true;
    let registered = false;
    const registering = t.controller.register().then(() => (registered = true));
    await t.clock.advance(4_999);
    expect(registered).toBe(false);
    expect(t.node()).toBeUndefined();
    await t.clock.advance(1);
    await registering;
    expect(t.ready()).toMatchObject({ status: 'False', message: 'provider health check failed: no answer within 5000 ms' });
    expect(t.controller.currentHealth).toEqual({ healthy: false, message: 'no answer within 5000 ms' });
  });

  it('turns Ready to False once a periodic health check times out, not before, and leaves no timer after stop', async () => {
    const t = setup();
    await t.controller.register();
    t.controller.start();
    t.health.hangs = true;
    await t.clock.advance(10_000 + 4_999);
    expect(t.ready()?.status).toBe('True');
    await t.clock.advance(1);
    expect(t.ready()).toMatchObject({ status: 'False', message: 'provider health check failed: no answer within 5000 ms' });
    t.health.hangs = false;
    await t.clock.advance(10_000);
    expect(t.ready()?.status).toBe('True');
    t.controller.stop();
    expect(t.clock.pendingTimers).toBe(0);
  });
});
