import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createBurstPolicyValidator } from '../apis/swell/v1alpha1/validation.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import type { AdmissionRequest } from '../webhooks/admission.js';
import { cachesOf, podPath, putDeployment, putNode, putPod, putPolicy, type TestPod } from './fake-cluster.js';
import { PlacementLedger } from './ledger.js';
import { createPodMutator } from './mutator.js';
import { BurstAnnotations, BurstLabels, type Pod } from './observed.js';

const ns = 'app';
const now = Date.parse('2026-01-01T01:00:00Z');
const virtualToleration = { key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' };

function cluster(policy: { baseReplicas?: number; maxBurstReplicas?: number } | undefined, pods: TestPod[] = []) {
  const client = new FakeKubeClient();
  putDeployment(client, ns, 'web', 3);
  putNode(client, 'node-a');
  putNode(client, 'virtual', { virtual: true });
  if (policy) putPolicy(client, ns, 'web-burst', { scaleTargetRef: { name: 'web' }, ...policy });
  for (const pod of pods) putPod(client, ns, 'web', pod);
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const mutator = createPodMutator({
    caches: cachesOf(client),
    validatePolicy: createBurstPolicyValidator(),
    ledger: new PlacementLedger(30_000, 't'),
    now: () => now,
    log,
  });
  return { client, mutator, lines };
}

/** The pod a ReplicaSet of `web` would create, with optional extra spec. */
function newPod(name: string, extra: Partial<Pod['spec']> & { labels?: Record<string, string> } = {}): Pod {
  const { labels, ...spec } = extra;
  return {
    metadata: {
      name,
      namespace: ns,
      labels: { app: 'web', ...labels },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-rs', uid: 'rs-uid', controller: true }],
    },
    spec: { containers: [{ name: 'app' }], ...spec },
  };
}

function review(pod: Pod, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: ns, operation: 'CREATE', object: pod, ...overrides };
}

/** Admits the pod, then stores it with the returned patch applied, as the apiserver would. */
async function admit(t: ReturnType<typeof cluster>, pod: Pod): Promise<Pod> {
  const verdict = await t.mutator(review(pod));
  expect(verdict.allowed).toBe(true);
  t.client.put(podPath(ns, pod.metadata.name ?? ''), pod as unknown as Record<string, unknown>);
  if (verdict.allowed && verdict.patch)
    await t.client.request('PATCH', podPath(ns, pod.metadata.name ?? ''), { body: verdict.patch, contentType: 'application/json-patch+json' });
  return t.client.get(podPath(ns, pod.metadata.name ?? '')) as unknown as Pod;
}

describe('burst pod mutator', () => {
  it.each<[string, { baseReplicas?: number; maxBurstReplicas?: number } | undefined, TestPod[], 'regular' | 'burst' | undefined]>([
    ['a workload without a BurstPolicy is not touched', undefined, [], undefined],
    ['below the base a pod is regular', { baseReplicas: 2 }, [{ name: 'web-1', nodeName: 'node-a' }], 'regular'],
    [
      'with the base full a pod bursts',
      { baseReplicas: 2 },
      [
        { name: 'web-1', nodeName: 'node-a' },
        { name: 'web-2', nodeName: 'node-a' },
      ],
      'burst',
    ],
    [
      'at the burst limit a pod stays regular',
      { baseReplicas: 1, maxBurstReplicas: 1 },
      [
        { name: 'web-1', nodeName: 'node-a' },
        { name: 'web-2', nodeName: 'virtual' },
      ],
      'regular',
    ],
    [
      'without a base every pod starts regular',
      {},
      [
        { name: 'web-1', nodeName: 'node-a' },
        { name: 'web-2', nodeName: 'node-a' },
      ],
      'regular',
    ],
    ['pods being deleted do not count', { baseReplicas: 1 }, [{ name: 'web-1', nodeName: 'node-a', deleting: true }], 'regular'],
  ])('%s', async (_name, policy, pods, tier) => {
    const t = cluster(policy, pods);
    const admitted = await admit(t, newPod('web-new'));
    expect(admitted.metadata.labels?.[BurstLabels.tier]).toBe(tier);
    if (tier === undefined) {
      expect(admitted.spec).toEqual(newPod('web-new').spec);
      return;
    }
    expect(admitted.metadata.annotations?.[BurstAnnotations.placement]).toMatch(/^t-\d+$/);
    if (tier === 'regular') {
      expect(admitted.metadata.annotations?.[BurstAnnotations.deletionCost]).toBe('0');
      expect(admitted.spec.nodeSelector).toBeUndefined();
      expect(admitted.spec.tolerations).toBeUndefined();
    } else {
      // Newer burst pods are cheaper to delete, so scale-in removes them first.
      expect(admitted.metadata.annotations?.[BurstAnnotations.deletionCost]).toBe(String(-Math.floor(now / 1000)));
      expect(admitted.spec.nodeSelector).toEqual({ type: 'virtual-kubelet' });
      expect(admitted.spec.tolerations).toEqual([virtualToleration]);
    }
    expect(t.lines.some((l) => l.msg === 'placing new pod' && l.policy === 'web-burst' && l.tier === tier)).toBe(true);
  });

  it("keeps a burst pod's own labels, node selector and tolerations, adding the virtual node's beside them", async () => {
    const t = cluster({ baseReplicas: 0 });
    const own = { key: 'gpu', operator: 'Exists', effect: 'NoSchedule' };
    const admitted = await admit(t, newPod('web-new', { labels: { team: 'a' }, nodeSelector: { zone: 'z1' }, tolerations: [own] }));
    expect(admitted.metadata.labels).toEqual({ app: 'web', team: 'a', [BurstLabels.tier]: 'burst' });
    expect(admitted.spec.nodeSelector).toEqual({ zone: 'z1', type: 'virtual-kubelet' });
    expect(admitted.spec.tolerations).toEqual([own, virtualToleration]);
  });

  it('counts pods admitted moments ago that the cache does not show yet', async () => {
    const t = cluster({ baseReplicas: 1 });
    const first = await t.mutator(review(newPod('web-a')));
    const second = await t.mutator(review(newPod('web-b')));
    const tierOf = (v: typeof first) => (v.allowed ? v.patch?.find((op) => op.path === '/metadata/labels/swell.dev~1tier') : undefined);
    expect(tierOf(first)).toMatchObject({ value: 'regular' });
    expect(tierOf(second)).toMatchObject({ value: 'burst' });
  });

  it.each<[string, Pod, Partial<AdmissionRequest>]>([
    ['an UPDATE', newPod('web-new'), { operation: 'UPDATE' }],
    ['another kind', newPod('web-new'), { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }],
    ['a subresource', newPod('web-new'), { subResource: 'binding' }],
    ['a pod that already has a tier', newPod('web-new', { labels: { [BurstLabels.tier]: 'regular' } }), {}],
    ['a pod without an owner', { metadata: { name: 'lone', namespace: ns }, spec: { containers: [] } }, {}],
    ['a body without metadata', { spec: { containers: [] } } as unknown as Pod, {}],
  ])('lets %s through unchanged', async (_name, pod, overrides) => {
    const t = cluster({ baseReplicas: 0 });
    expect(await t.mutator(review(pod, overrides))).toEqual({ allowed: true });
  });

  it('ignores an invalid policy, and of two valid ones the oldest decides', async () => {
    const t = cluster(undefined);
    putPolicy(t.client, ns, 'broken', { scaleTargetRef: { name: 'web' }, pendingTimeout: 'soon' });
    expect(await t.mutator(review(newPod('web-new')))).toEqual({ allowed: true });
    putPolicy(t.client, ns, 'newer', { scaleTargetRef: { name: 'web' }, baseReplicas: 5 }, '2026-02-01T00:00:00Z');
    putPolicy(t.client, ns, 'older', { scaleTargetRef: { name: 'web' }, baseReplicas: 0 }, '2025-12-01T00:00:00Z');
    const admitted = await admit(t, newPod('web-new'));
    expect(admitted.metadata.labels?.[BurstLabels.tier]).toBe('burst');
  });
});
