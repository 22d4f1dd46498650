import type { KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { BurstPolicy } from '../apis/swell/v1alpha1/burstpolicy.js';
import { createBurstPolicyValidator } from '../apis/swell/v1alpha1/validation.js';
import { runController } from '../controller/controller.js';
import { Informer } from '../controller/informer.js';
import type { ListWatchSource } from '../controller/list-watch-source.js';
import { WorkQueue } from '../controller/workqueue.js';
import type { Logger } from '../log.js';
import type { KubeClient } from '../kube/client.js';
import { parseCostMetrics } from '../virtual-node/cost/report.js';
import type { AdmissionHandler } from '../webhooks/admission.js';
import { createBurstReconciler } from './controller.js';
import { PlacementLedger } from './ledger.js';
import { createPodMutator, type BurstCaches } from './mutator.js';
import type { Node, Pod, PodTemplateOwner, WorkloadRef } from './observed.js';

export { BurstAnnotations, BurstLabels } from './observed.js';
export { burstPodWebhookPath } from './webhook.js';

export interface BurstPlacementDeps {
  client: KubeClient;
  /** A list-watch source for a collection path, as the operator builds them. */
  listWatch: <T extends KubernetesObject>(path: string) => ListWatchSource<T>;
  log: Logger;
  registry?: Registry;
  /** The virtual node's /metrics URL, for the cost in each BurstPolicy's status; no cost is shown without it. */
  costMetricsUrl?: string;
  now?: () => number;
}

export interface BurstPlacement {
  /** The Pod CREATE mutating handler; serve it on every replica (see startWebhooks). */
  readonly podMutator: AdmissionHandler;
  /** Runs the placement loop until `signal` aborts; call it only while this process leads. */
  run(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

type AnyInformer = Informer<KubernetesObject>;

/**
 * Burst placement: informers on pods, ReplicaSets, nodes and BurstPolicies (started here and synced before this
 * resolves), the pod mutator that reads them, and the reconcile loop. With no BurstPolicy nothing is touched.
 */
export async function startBurstPlacement(deps: BurstPlacementDeps): Promise<BurstPlacement> {
  const log = deps.log.child({ component: 'burst' });
  const informer = (name: string, path: string): AnyInformer => new Informer({ name, source: deps.listWatch(path), log });
  const informers = {
    pods: informer('pods', '/api/v1/pods'),
    replicaSets: informer('replicasets', '/apis/apps/v1/replicasets'),
    nodes: informer('nodes', '/api/v1/nodes'),
    policies: informer('burstpolicies', '/apis/swell.dev/v1alpha1/burstpolicies'),
  };
  const all = Object.values(informers);
  for (const i of all) i.start();
  await Promise.all(all.map((i) => i.synced()));
  const inNamespace = <T>(i: AnyInformer, namespace: string) => i.list().filter((o) => o.metadata?.namespace === namespace) as unknown as T[];
  const caches: BurstCaches & { burstPolicy(namespace: string, name: string): BurstPolicy | undefined; allPods(): Pod[] } = {
    pods: (namespace) => inNamespace<Pod>(informers.pods, namespace),
    allPods: () => informers.pods.list() as unknown as Pod[],
    replicaSet: (namespace, name) => informers.replicaSets.get(`${namespace}/${name}`) as unknown as PodTemplateOwner | undefined,
    burstPolicies: (namespace) => inNamespace<BurstPolicy>(informers.policies, namespace),
    burstPolicy: (namespace, name) => informers.policies.get(`${namespace}/${name}`) as unknown as BurstPolicy | undefined,
    nodes: () => informers.nodes.list() as unknown as Node[],
  };
  const now = deps.now ?? Date.now;
  const validatePolicy = createBurstPolicyValidator();
  const podMutator = createPodMutator({ caches, validatePolicy, ledger: new PlacementLedger(), now, log });
  const reconcile = createBurstReconciler({
    client: deps.client,
    caches,
    validatePolicy,
    ...(deps.costMetricsUrl ? { workloadCost: costReader(deps.costMetricsUrl) } : {}),
    now,
  });
  return {
    podMutator,
    async run(signal) {
      const queue = new WorkQueue({ name: 'burstpolicies', ...(deps.registry ? { registry: deps.registry } : {}) });
      const enqueueNamespace = (o: KubernetesObject) => {
        for (const p of informers.policies.list())
          if (p.metadata?.namespace === o.metadata?.namespace) queue.add(`${p.metadata?.namespace}/${p.metadata?.name}`);
      };
      const enqueueAll = () => {
        for (const key of informers.policies.keys()) queue.add(key);
      };
      const removers = [
        informers.policies.addHandler({ add: (o) => enqueueNamespace(o), update: (_, o) => enqueueNamespace(o) }),
        informers.pods.addHandler({ add: enqueueNamespace, update: (_, o) => enqueueNamespace(o), delete: enqueueNamespace }),
        informers.nodes.addHandler({ add: enqueueAll, delete: enqueueAll }),
      ];
      enqueueAll();
      try {
        await runController({ name: 'burstpolicy', queue, reconcile, log, signal, ...(deps.registry ? { registry: deps.registry } : {}) });
      } finally {
        for (const remove of removers) remove();
      }
    },
    async stop() {
      await Promise.all(all.map((i) => i.stop()));
    },
  };
}

/** Sums the virtual node's cost metrics for one workload. */
function costReader(url: string) {
  return async (workload: WorkloadRef, signal: AbortSignal): Promise<number | undefined> => {
    const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]) });
    if (!response.ok) return undefined;
    const rows = parseCostMetrics(await response.text());
    return rows
      .filter((r) => r.namespace === workload.namespace && r.workloadKind === workload.kind && r.workload === workload.name)
      .reduce((sum, r) => sum + r.dollars, 0);
  };
}
