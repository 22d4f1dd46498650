import type { V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { CostMeter, fargatePricing } from './cost/metering.js';
import { PodController, type PodWriter } from './pod-controller.js';
import type { PodStatusDocument } from './pod-status.js';
import type { ProviderPod } from './provider.js';
import { SimulatedProvider } from './providers/simulated.js';

const log = pino({ level: 'silent' });

/** Stands in for the API server and the watch: writes land in the same map the controller reads. */
class FakeCluster implements PodWriter {
  readonly pods = new Map<string, V1Pod>();
  readonly statusWrites: { key: string; phase: string }[] = [];
  readonly deletes: { key: string; uid: string }[] = [];
  readonly annotations: { key: string; annotations: Readonly<Record<string, string>> }[] = [];
  readonly warnings: { pod: string; reason: string; message: string }[] = [];
  private rv = 100;

  get(key: string): V1Pod | undefined {
    return this.pods.get(key);
  }
  list(): readonly V1Pod[] {
    return [...this.pods.values()];
  }
  put(pod: V1Pod): void {
    this.pods.set(`${pod.metadata?.namespace}/${pod.metadata?.name}`, { ...pod, metadata: { ...pod.metadata, resourceVersion: String(++this.rv) } });
  }
  patchStatus(namespace: string, name: string, status: PodStatusDocument): Promise<string | undefined> {
    const pod = this.get(`${namespace}/${name}`);
    if (!pod) return Promise.reject(new Error('not found'));
    this.statusWrites.push({ key: `${namespace}/${name}`, phase: status.phase });
    this.put({ ...pod, status: status as unknown as V1Pod['status'] });
    return Promise.resolve(String(this.rv));
  }
  annotate(namespace: string, name: string, annotations: Readonly<Record<string, string>>): Promise<void> {
    const pod = this.get(`${namespace}/${name}`);
    if (!pod) return Promise.reject(new Error('not found'));
    this.annotations.push({ key: `${namespace}/${name}`, annotations });
    this.put({ ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, ...annotations } } });
    return Promise.resolve();
  }
  warn(pod: { namespace: string; name: string }, reason: string, message: string): void {
    this.warnings.push({ pod: `${pod.namespace}/${pod.name}`, reason, message });
  }
  deleteNow(namespace: string, name: string, uid: string): Promise<void> {
    this.deletes.push({ key: `${namespace}/${name}`, uid });
    if (this.get(`${namespace}/${name}`)?.metadata?.uid === uid) this.pods.delete(`${namespace}/${name}`);
    return Promise.resolve();
  }
}

/** A provider that bills its own rounded size and shows it on the pod, as the Fargate provider does. */
class SizedProvider extends SimulatedProvider {
  override async getPod(namespace: string, name: string): Promise<ProviderPod | undefined> {
    const pod = await super.getPod(namespace, name);
    return (
      pod && { ...pod, billing: { vcpu: 2, memoryGiB: 4, vcpuHour: 0.36, gibHour: 0.036 }, annotations: { 'swell.dev/capacity-provisioned': '2vCPU 4GB' } }
    );
  }
}

function setup(sized = false) {
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const options = { clock, startLatencyMs: 2000, runDurationMs: 90_000, failureRate: 0, random: () => 1, capacity: { cpu: '1k', memory: '4Ti', pods: '5k' } };
  const provider = sized ? new SizedProvider(options) : new SimulatedProvider(options);
  const cluster = new FakeCluster();
  const meter = new CostMeter(fargatePricing, clock);
  const controller = new PodController({
    nodeIP: '127.0.0.1',
    provider,
    pods: cluster,
    writer: cluster,
    config: { secret: () => Promise.resolve(undefined), configMap: () => Promise.resolve(undefined) },
    owners: () => Promise.resolve([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd', controller: true }]),
    meter,
    rates: fargatePricing,
    clock,
    log,
  });
  controller.start();
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await controller.idle();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { clock, provider, cluster, meter, controller, settle };
}

function pod(name: string, extra: { restartPolicy?: 'Always' | 'Never'; annotations?: Record<string, string>; phase?: string } = {}): V1Pod {
  return {
    metadata: {
      namespace: 'ns',
      name,
      uid: `uid-${name}`,
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs', controller: true }],
    },
    spec: {
      nodeName: 'vk',
      restartPolicy: extra.restartPolicy ?? 'Always',
      containers: [{ name: 'main', image: 'app', resources: { requests: { cpu: '1', memory: '2Gi' } } }],
    },
    status: { phase: extra.phase ?? 'Pending' },
  };
}

describe('PodController', () => {
  it('starts a bound pod in the provider and reports Pending, then Running, once each', async () => {
    const { clock, cluster, controller, settle } = setup();
    cluster.put(pod('web-1'));
    controller.enqueue('ns', 'web-1');
    await settle();
    expect(cluster.get('ns/web-1')?.status?.phase).toBe('Pending');
    await clock.advance(2000);
    await settle();
    const status = cluster.get('ns/web-1')?.status;
    expect(status?.phase).toBe('Running');
    expect(status?.podIP).toMatch(/^10\.250\./);
    expect(status?.hostIP).toBe('127.0.0.1');
    controller.enqueue('ns', 'web-1');
    controller.enqueue('ns', 'web-1');
    await settle();
    expect(cluster.statusWrites.map((w) => w.phase)).toEqual(['Pending', 'Running']);
  });

  it('stops a deleted pod, removes the object with its UID, and bills it', async () => {
    const { clock, cluster, controller, provider, meter, settle } = setup();
    cluster.put(pod('web-1'));
    controller.enqueue('ns', 'web-1');
    await settle();
    await clock.advance(60_000);
    await settle();
    const current = cluster.get('ns/web-1') as V1Pod;
    cluster.put({ ...current, metadata: { ...current.metadata, deletionTimestamp: new Date(clock.now() + 30_000), deletionGracePeriodSeconds: 30 } });
    controller.enqueue('ns', 'web-1');
    await settle();
    expect(cluster.deletes).toEqual([{ key: 'ns/web-1', uid: 'uid-web-1' }]);
    expect(cluster.get('ns/web-1')).toBeUndefined();
    expect(await provider.listPods()).toEqual([]);
    expect(meter.rows()).toEqual([
      expect.objectContaining({ namespace: 'ns', workload: { kind: 'Deployment', name: 'web' }, running: 0, pods: 1, vcpuSeconds: 60, gibSeconds: 120 }),
    ]);
  });

  it('runs a Job pod to Succeeded and never starts it again', async () => {
    const { clock, cluster, controller, provider, settle } = setup();
    cluster.put(pod('job-1', { restartPolicy: 'Never' }));
    controller.enqueue('ns', 'job-1');
    await settle();
    await clock.advance(92_000);
    await settle();
    expect(cluster.get('ns/job-1')?.status?.phase).toBe('Succeeded');
    await provider.releasePod('ns', 'job-1');
    controller.enqueue('ns', 'job-1');
    await settle();
    expect(await provider.listPods()).toEqual([]);
  });

  it('stops and releases provider pods that are no longer bound to the node', async () => {
    const { cluster, controller, provider, settle } = setup();
    await provider.createPod(pod('stray'));
    controller.enqueue('ns', 'stray');
    await settle();
    expect(await provider.listPods()).toEqual([]);
    expect(cluster.deletes).toEqual([]);
  });

  it('fails a pod the provider refuses, with its reason, and does not offer it again', async () => {
    const { cluster, controller, provider, settle } = setup();
    cluster.put(pod('bad', { annotations: { 'swell.dev/simulate-start-latency': 'later' } }));
    controller.enqueue('ns', 'bad');
    await settle();
    const status = cluster.get('ns/bad')?.status;
    expect(status?.phase).toBe('Failed');
    expect(status?.reason).toBe('InvalidAnnotation');
    expect(status?.message).toContain('simulate-start-latency');
    controller.enqueue('ns', 'bad');
    await settle();
    expect(await provider.listPods()).toEqual([]);
    expect(cluster.statusWrites).toHaveLength(1);
  });
  it('shows the provider annotations on the pod once, and bills the size and prices the provider reports', async () => {
    const { clock, cluster, controller, meter, settle } = setup(true);
    cluster.put(pod('sized'));
    controller.enqueue('ns', 'sized');
    await settle();
    await clock.advance(2000);
    await settle();
    expect(cluster.get('ns/sized')?.metadata?.annotations).toEqual({ 'swell.dev/capacity-provisioned': '2vCPU 4GB' });
    expect(cluster.annotations).toHaveLength(1);
    await clock.advance(118_000);
    // 120 s at 2 vCPU and 4 GiB, not the 1 vCPU / 2 GiB the pod requests, at the provider's prices.
    expect(meter.rows()[0]).toMatchObject({ vcpuSeconds: 240, gibSeconds: 480 });
    expect(meter.rows()[0]?.dollars).toBeCloseTo((240 * 0.36 + 480 * 0.036) / 3600, 12);
  });

  it('records a Warning Event once per problem the provider reports', async () => {
    const { clock, cluster, controller, settle } = setup();
    cluster.put(pod('broken', { annotations: { 'swell.dev/simulate-failure': 'disk on fire' } }));
    controller.enqueue('ns', 'broken');
    await settle();
    await clock.advance(2000);
    await settle();
    await clock.advance(30_000);
    await settle();
    expect(cluster.warnings).toEqual([{ pod: 'ns/broken', reason: 'SimulatedFailure', message: 'disk on fire' }]);
  });
});
