import type { BurstPolicy } from '../apis/swell/v1alpha1/burstpolicy.js';
import { SwellApiVersion } from '../apis/swell/v1alpha1/burstpolicy.js';
import type { FakeKubeClient } from '../kube/fake-client.js';
import type { BurstCaches } from './mutator.js';
import type { Node, Pod, PodTemplateOwner } from './observed.js';

/*
 * A small cluster in a FakeKubeClient for unit tests of burst placement: the caches read the stored objects
 * (what the informers would hold), and the builders write the objects the way the apiserver would keep them.
 */

export type BurstTestCaches = BurstCaches & { burstPolicy(namespace: string, name: string): BurstPolicy | undefined; allPods(): Pod[] };

const podsPath = (namespace: string) => `/api/v1/namespaces/${namespace}/pods`;

function stored<T>(client: FakeKubeClient, pattern: RegExp): T[] {
  return [...client.objects].filter(([path]) => pattern.test(path)).map(([, object]) => object as T);
}

export function cachesOf(client: FakeKubeClient): BurstTestCaches {
  return {
    pods: (namespace) => stored<Pod>(client, new RegExp(`^${podsPath(namespace)}/[^/]+$`)),
    allPods: () => stored<Pod>(client, /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+$/),
    replicaSet: (namespace, name) => client.get(`/apis/apps/v1/namespaces/${namespace}/replicasets/${name}`) as PodTemplateOwner | undefined,
    burstPolicies: (namespace) => stored<BurstPolicy>(client, new RegExp(`^/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies/[^/]+$`)),
    burstPolicy: (namespace, name) => client.get(burstPolicyPath(namespace, name)) as BurstPolicy | undefined,
    nodes: () => stored<Node>(client, /^\/api\/v1\/nodes\/[^/]+$/),
  };
}

export function burstPolicyPath(namespace: string, name: string): string {
  return `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies/${name}`;
}

export function podPath(namespace: string, name: string): string {
  return `${podsPath(namespace)}/${name}`;
}

/** A Deployment `name` with `replicas`, and its ReplicaSet `<name>-rs` whose template asks for `cpu`. */
export function putDeployment(client: FakeKubeClient, namespace: string, name: string, replicas: number, cpu = '500m'): void {
  const template = { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', resources: { requests: { cpu } } }] } };
  client.put(`/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, {
    metadata: { name, namespace, uid: `${name}-uid` },
    spec: { replicas, selector: { matchLabels: { app: name } }, template },
  });
  client.put(`/apis/apps/v1/namespaces/${namespace}/replicasets/${name}-rs`, {
    metadata: { name: `${name}-rs`, namespace, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: `${name}-uid`, controller: true }] },
    spec: { replicas, template },
  });
}

export type TestPolicySpec = Partial<BurstPolicy['spec']> & Pick<BurstPolicy['spec'], 'scaleTargetRef'>;

export function putPolicy(client: FakeKubeClient, namespace: string, name: string, spec: TestPolicySpec, created = '2026-01-01T00:00:00Z'): void {
  const policy = {
    apiVersion: SwellApiVersion,
    kind: 'BurstPolicy',
    metadata: { name, namespace, uid: `${name}-uid`, generation: 1, creationTimestamp: created },
    spec,
  };
  client.put(burstPolicyPath(namespace, name), policy);
}

/** A ready node; a virtual one carries the default virtual node label and taint. */
export function putNode(client: FakeKubeClient, name: string, options: { virtual?: boolean; cpu?: string; pods?: string } = {}): void {
  client.put(`/api/v1/nodes/${name}`, {
    metadata: { name, labels: options.virtual ? { type: 'virtual-kubelet' } : {} },
    spec: options.virtual ? { taints: [{ key: 'virtual-kubelet.io/provider', value: 'swell', effect: 'NoSchedule' }] } : {},
    status: { allocatable: { cpu: options.cpu ?? '4', memory: '8Gi', pods: options.pods ?? '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
  });
}

export interface TestPod {
  name: string;
  nodeName?: string;
  ready?: boolean;
  createdAt?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Unschedulable since this time (a PodScheduled=False condition). */
  unschedulableSince?: string;
  tolerations?: Pod['spec']['tolerations'];
  owner?: string;
  deleting?: boolean;
}

/** A pod of the Deployment `workload` (through its ReplicaSet), stored as the apiserver holds it. */
export function putPod(client: FakeKubeClient, namespace: string, workload: string, pod: TestPod): void {
  const conditions = [
    ...(pod.ready ? [{ type: 'Ready', status: 'True' }] : []),
    ...(pod.unschedulableSince ? [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: pod.unschedulableSince }] : []),
  ];
  client.put(podPath(namespace, pod.name), {
    metadata: {
      name: pod.name,
      namespace,
      creationTimestamp: pod.createdAt ?? '2026-01-01T00:00:00Z',
      labels: { app: workload, ...pod.labels },
      ...(pod.annotations ? { annotations: pod.annotations } : {}),
      ...(pod.deleting ? { deletionTimestamp: '2026-01-01T00:10:00Z' } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: pod.owner ?? `${workload}-rs`, uid: 'rs-uid', controller: true }],
    },
    spec: {
      containers: [{ name: 'app', resources: { requests: { cpu: '500m' } } }],
      ...(pod.nodeName ? { nodeName: pod.nodeName } : {}),
      ...(pod.tolerations ? { tolerations: pod.tolerations } : {}),
    },
    status: { phase: pod.nodeName ? 'Running' : 'Pending', conditions },
  });
}
