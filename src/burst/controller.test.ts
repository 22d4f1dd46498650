import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { BurstPolicy } from '../apis/swell/v1alpha1/burstpolicy.js';
import { createBurstPolicyValidator } from '../apis/swell/v1alpha1/validation.js';
import { runController } from '../controller/controller.js';
import { FakeClock } from '../controller/fake-clock.js';
import { WorkQueue } from '../controller/workqueue.js';
import { KubeApiError } from '../kube/errors.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import { createBurstReconciler } from './controller.js';
import { burstPolicyPath, cachesOf, podPath, putDeployment, putNode, putPod, putPolicy, type TestPod } from './fake-cluster.js';
import { BurstAnnotations, BurstLabels, type Pod } from './observed.js';

const ns = 'app';
const key = `${ns}/web-burst`;
const now = Date.parse('2026-01-01T01:00:00Z');
const virtualToleration = { key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' };

function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

interface Setup {
  replicas: number;
  policy?: Partial<BurstPolicy['spec']>;
  pods: TestPod[];
  /** CPU of the regular node; 4 cores hold 8 of the test pods. */
  regularCpu?: string;
  cost?: () => Promise<number | undefined>;
}

function cluster(setup: Setup) {
  const client = new FakeKubeClient();
  putDeployment(client, ns, 'web', setup.replicas);
  putNode(client, 'node-a', { cpu: setup.regularCpu ?? '4' });
  putNode(client, 'virtual', { virtual: true });
  putPolicy(client, ns, 'web-burst', { scaleTargetRef: { name: 'web' }, ...setup.policy });
  for (const pod of setup.pods) putPod(client, ns, 'web', pod);
  const { log, lines } = recordingLog();
  const clock = new FakeClock(now);
  const reconcile = createBurstReconciler({
    client,
    caches: cachesOf(client),
    validatePolicy: createBurstPolicyValidator(),
    ...(setup.cost ? { workloadCost: setup.cost } : {}),
    now: () => clock.now(),
  });
  const run = () => reconcile(key, { signal: new AbortController().signal, log });
  const pod = (name: string) => client.get(podPath(ns, name)) as unknown as Pod | undefined;
  const policy = () => client.get(burstPolicyPath(ns, 'web-burst')) as unknown as BurstPolicy;
  const condition = (type: string) => policy().status?.conditions?.find((c) => c.type === type);
  return { client, clock, log, lines, reconcile, run, pod, policy, condition };
}

const at = (minutes: number) => new Date(now - minutes * 60_000).toISOString();
const burstCost = (created: string) => String(-Math.floor(Date.parse(created) / 1000));

describe('burst placement reconcile: tiers and deletion costs', () => {
  it.each<[string, TestPod, string, string]>([
    ['a pod on a regular node is regular and costs 0 to keep', { name: 'web-1', nodeName: 'node-a', ready: true }, 'regular', '0'],
    [
      'a pod on the virtual node is burst, cheaper to delete the newer it is',
      { name: 'web-2', nodeName: 'virtual', ready: true, createdAt: at(5) },
      'burst',
      burstCost(at(5)),
    ],
    ['an unbound pod admitted as burst stays burst', { name: 'web-3', labels: { [BurstLabels.tier]: 'burst' }, createdAt: at(1) }, 'burst', burstCost(at(1))],
    [
      'a burst-labelled pod that landed on a regular node becomes regular',
      { name: 'web-4', nodeName: 'node-a', labels: { [BurstLabels.tier]: 'burst' } },
      'regular',
      '0',
    ],
  ])('%s', async (_name, testPod, tier, cost) => {
    const t = cluster({ replicas: 1, pods: [testPod] });
    await t.run();
    expect(t.pod(testPod.name)?.metadata.labels?.[BurstLabels.tier]).toBe(tier);
    expect(t.pod(testPod.name)?.metadata.annotations?.[BurstAnnotations.deletionCost]).toBe(cost);
  });

  it('orders scale-in so the virtual node empties first, newest burst pod first', async () => {
    const t = cluster({
      replicas: 4,
      policy: { baseReplicas: 2 },
      pods: [
        { name: 'web-old', nodeName: 'node-a', ready: true, createdAt: at(60) },
        { name: 'web-new', nodeName: 'node-a', ready: true, createdAt: at(1) },
        { name: 'web-b1', nodeName: 'virtual', ready: true, createdAt: at(30) },
        { name: 'web-b2', nodeName: 'virtual', ready: true, createdAt: at(10) },
      ],
    });
    await t.run();
    // The ReplicaSet removes the pod with the lowest deletion cost first.
    const order = cachesOf(t.client)
      .pods(ns)
      .map((p) => ({ name: p.metadata.name, cost: Number(p.metadata.annotations?.[BurstAnnotations.deletionCost]) }))
      .sort((a, b) => a.cost - b.cost)
      .map((p) => p.name);
    expect(order.slice(0, 2)).toEqual(['web-b2', 'web-b1']);
    expect(t.policy().status).toMatchObject({ desiredReplicas: 4, baseReplicas: 2, burstReplicas: 2, waitingReplicas: 0 });
    expect(t.condition('Ready')).toMatchObject({ status: 'True', reason: 'Placing', message: '2 regular, 2 burst, 0 waiting of 4 desired' });
  });

  it('writes nothing for pods already labelled, and does not rewrite an unchanged status', async () => {
    const t = cluster({ replicas: 1, policy: { rebalance: { enabled: false } }, pods: [{ name: 'web-1', nodeName: 'node-a', ready: true }] });
    await t.run();
    const writes = t.client.writes().length;
    await t.run();
    expect(t.client.writes().length).toBe(writes);
  });

  it('leaves pods being deleted alone', async () => {
    const t = cluster({ replicas: 1, pods: [{ name: 'web-1', nodeName: 'node-a', deleting: true }] });
    await t.run();
    expect(t.pod('web-1')?.metadata.labels?.[BurstLabels.tier]).toBeUndefined();
  });
});

describe('burst placement reconcile: pending pods', () => {
  it('bursts a regular pod unschedulable past pendingTimeout by adding the toleration; a younger one waits', async () => {
    const t = cluster({
      replicas: 3,
      policy: { pendingTimeout: '60s' },
      regularCpu: '500m',
      pods: [
        { name: 'web-1', nodeName: 'node-a', ready: true },
        { name: 'web-late', unschedulableSince: at(2), tolerations: [{ key: 'gpu', operator: 'Exists' }] },
        { name: 'web-young', unschedulableSince: new Date(now - 40_000).toISOString() },
      ],
    });
    const result = await t.run();
    expect(t.pod('web-late')?.spec.tolerations).toEqual([{ key: 'gpu', operator: 'Exists' }, virtualToleration]);
    expect(t.pod('web-late')?.metadata.labels?.[BurstLabels.tier]).toBe('burst');
    expect(t.pod('web-young')?.spec.tolerations).toBeUndefined();
    // Looked at again when the young pod's timeout ends.
    expect(result.requeueAfterMs).toBe(20_000);
    expect(t.lines.some((l) => l.msg === 'regular pod unschedulable past pendingTimeout; bursting it' && l.pod === 'web-late')).toBe(true);
  });

  it('bursts no more pods than maxBurstReplicas allows', async () => {
    const t = cluster({
      replicas: 3,
      policy: { maxBurstReplicas: 1 },
      regularCpu: '0',
      pods: [
        { name: 'web-b', nodeName: 'virtual', ready: true },
        { name: 'web-late', unschedulableSince: at(5) },
      ],
    });
    await t.run();
    expect(t.pod('web-late')?.spec.tolerations).toBeUndefined();
    expect(t.policy().status?.waitingReplicas).toBe(1);
  });
});

describe('burst placement reconcile: moving burst pods back', () => {
  const settled: TestPod[] = [
    { name: 'web-1', nodeName: 'node-a', ready: true, createdAt: at(30) },
    { name: 'web-b', nodeName: 'virtual', ready: true, createdAt: at(10) },
  ];

  it('starts a regular bridge pod owned by the policy when regular nodes have room again', async () => {
    const t = cluster({ replicas: 2, pods: settled });
    const result = await t.run();
    const bridges = cachesOf(t.client)
      .pods(ns)
      .filter((p) => p.metadata.labels?.[BurstLabels.bridge] === 'web-burst');
    expect(bridges).toHaveLength(1);
    expect(bridges[0]?.metadata).toMatchObject({
      generateName: 'web-',
      labels: { app: 'web', [BurstLabels.tier]: 'regular' },
      annotations: { [BurstAnnotations.deletionCost]: '0' },
      ownerReferences: [{ kind: 'BurstPolicy', name: 'web-burst', uid: 'web-burst-uid', controller: true }],
    });
    expect(t.policy().status?.lastRebalanceTime).toBe(new Date(now).toISOString());
    expect(t.condition('Rebalancing')).toMatchObject({ status: 'True', reason: 'MovingBack' });
    expect(result.requeueAfterMs).toBe(2_000);
  });

  it.each<[string, Partial<BurstPolicy['spec']>, string]>([
    ['rebalancing is disabled', { rebalance: { enabled: false } }, '4'],
    ['the regular nodes are full', {}, '500m'],
  ])('starts no bridge when %s', async (_name, policy, regularCpu) => {
    const t = cluster({ replicas: 2, policy, regularCpu, pods: settled });
    await t.run();
    expect(t.client.writes().filter((w) => w.method === 'POST')).toEqual([]);
    expect(t.condition('Rebalancing')).toMatchObject({ status: 'False', reason: 'Settled' });
  });

  it('hands a ready bridge pod to the ReplicaSet by dropping its owner and bridge label', async () => {
    const t = cluster({ replicas: 2, pods: settled });
    await t.run();
    const bridge = cachesOf(t.client)
      .pods(ns)
      .find((p) => p.metadata.labels?.[BurstLabels.bridge]);
    const name = bridge?.metadata.name ?? '';
    await t.client.request('PATCH', podPath(ns, name), {
      body: { spec: { nodeName: 'node-a' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    });
    await t.run();
    expect(t.pod(name)?.metadata.ownerReferences).toBeUndefined();
    expect(t.pod(name)?.metadata.labels?.[BurstLabels.bridge]).toBeUndefined();
    expect(t.pod(name)?.metadata.labels?.[BurstLabels.tier]).toBe('regular');
  });

  it('deletes a bridge pod the regular nodes could not take after all', async () => {
    const t = cluster({ replicas: 2, pods: settled });
    await t.run();
    const name = cachesOf(t.client)
      .pods(ns)
      .find((p) => p.metadata.labels?.[BurstLabels.bridge])?.metadata.name;
    const unschedulable = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: new Date(now).toISOString() };
    await t.client.request('PATCH', podPath(ns, name ?? ''), { body: { status: { conditions: [unschedulable] } } });
    await t.clock.advance(61_000);
    await t.run();
    expect(t.pod(name ?? '')).toBeUndefined();
    expect(t.lines.some((l) => l.msg === 'abandoning bridge pod' && l.bridge === name)).toBe(true);
  });

  it('never bridges for a StatefulSet, whose pods have identities', async () => {
    const t = cluster({ replicas: 2, policy: { scaleTargetRef: { name: 'db', kind: 'StatefulSet' } }, pods: [] });
    t.client.put(`/apis/apps/v1/namespaces/${ns}/statefulsets/db`, {
      metadata: { name: 'db', namespace: ns },
      spec: { replicas: 2, template: { spec: { containers: [] } } },
    });
    for (const [name, node] of [
      ['db-0', 'node-a'],
      ['db-1', 'virtual'],
    ] as const) {
      t.client.put(podPath(ns, name), {
        metadata: { name, namespace: ns, ownerReferences: [{ kind: 'StatefulSet', name: 'db', uid: 'db-uid', controller: true }] },
        spec: { nodeName: node, containers: [] },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    await t.run();
    expect(t.client.writes().filter((w) => w.method === 'POST')).toEqual([]);
    expect(t.policy().status).toMatchObject({ baseReplicas: 1, burstReplicas: 1 });
  });
});

describe('burst placement reconcile: bad input and failures', () => {
  it('reports an invalid policy in its Ready condition, naming the field', async () => {
    const t = cluster({ replicas: 1, policy: { pendingTimeout: 'soon' }, pods: [] });
    expect(await t.run()).toEqual({});
    expect(t.condition('Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(t.condition('Ready')?.message).toContain('spec.pendingTimeout');
  });

  it('reports a missing workload by name and looks again later', async () => {
    const t = cluster({ replicas: 1, pods: [] });
    t.client.remove(`/apis/apps/v1/namespaces/${ns}/deployments/web`);
    expect(await t.run()).toEqual({ requeueAfterMs: 30_000 });
    expect(t.condition('Ready')).toMatchObject({ status: 'False', reason: 'TargetNotFound', message: 'Deployment app/web does not exist' });
  });

  it('does nothing for a policy that is gone', async () => {
    const t = cluster({ replicas: 1, pods: [{ name: 'web-1', nodeName: 'node-a' }] });
    t.client.remove(burstPolicyPath(ns, 'web-burst'));
    expect(await t.run()).toEqual({});
    expect(t.client.writes()).toEqual([]);
  });

  it('carries on when a pod disappears between the cache and the write', async () => {
    const t = cluster({
      replicas: 2,
      pods: [
        { name: 'web-1', nodeName: 'node-a' },
        { name: 'web-2', nodeName: 'node-a' },
      ],
    });
    t.client.fail(
      'PATCH',
      podPath(ns, 'web-1'),
      KubeApiError.fromResponse('PATCH', podPath(ns, 'web-1'), 404, { reason: 'NotFound', message: 'pods "web-1" not found' }, ''),
    );
    await t.run();
    expect(t.pod('web-2')?.metadata.labels?.[BurstLabels.tier]).toBe('regular');
    expect(t.condition('Ready')?.status).toBe('True');
  });

  it('shows the virtual node cost in status, and keeps the last one when the cost cannot be read', async () => {
    let cost: () => Promise<number | undefined> = () => Promise.resolve(0.25);
    const t = cluster({ replicas: 1, pods: [{ name: 'web-1', nodeName: 'virtual' }], cost: () => cost() });
    await t.run();
    expect(t.policy().status?.cost).toBe('0.250000');
    cost = () => Promise.reject(new Error('metrics unreachable'));
    await t.run();
    expect(t.policy().status?.cost).toBe('0.250000');
  });

  it('retries after a 409 Conflict, logging the policy and the pod, and succeeds once the write goes through', async () => {
    const t = cluster({ replicas: 1, pods: [{ name: 'web-1', nodeName: 'node-a' }] });
    const conflict = KubeApiError.fromResponse('PATCH', podPath(ns, 'web-1'), 409, { reason: 'Conflict', message: 'the object has been modified' }, '');
    t.client.fail('PATCH', podPath(ns, 'web-1'), conflict);
    const queue = new WorkQueue({ name: 'burstpolicies', clock: t.clock });
    const stop = new AbortController();
    const running = runController({
      name: 'burstpolicies',
      queue,
      reconcile: createBurstReconciler({
        client: t.client,
        caches: cachesOf(t.client),
        validatePolicy: createBurstPolicyValidator(),
        now: () => t.clock.now(),
      }),
      log: t.log,
      signal: stop.signal,
      clock: t.clock,
    });
    queue.add(key);
    await t.clock.advance(0);
    const failure = t.lines.find((l) => l.msg === 'reconcile failed; will retry');
    expect(failure).toMatchObject({ key, controller: 'burstpolicies' });
    expect(JSON.stringify(failure?.err)).toContain('/pods/web-1: 409 Conflict');
    expect(t.pod('web-1')?.metadata.labels?.[BurstLabels.tier]).toBeUndefined();
    t.client.heal();
    await t.clock.advance(1_000);
    expect(t.pod('web-1')?.metadata.labels?.[BurstLabels.tier]).toBe('regular');
    stop.abort();
    await running;
  });
});
