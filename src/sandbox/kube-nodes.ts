import { ApiException, type CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { kwokNodeAnnotation } from './kube-args.js';

/** Label on the sandbox's regular nodes, so tests and the operator can tell them from the virtual node. */
export const sandboxNodeLabel = { key: 'swell.dev/sandbox-node', value: 'regular' } as const;

export const sandboxNodeNames = ['sandbox-node-1', 'sandbox-node-2'] as const;

const capacity = { cpu: '4', memory: '16Gi', pods: '110' } as const;

/** Taints the node lifecycle controller keeps on a node until it reports Ready. */
const notReadyTaints = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

/** A regular node for kwok to keep Ready; capacity is given so kwok keeps it rather than its huge default. */
export function sandboxNodeManifest(name: string): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        [sandboxNodeLabel.key]: sandboxNodeLabel.value,
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
      },
      annotations: { [kwokNodeAnnotation.key]: kwokNodeAnnotation.value },
    },
    spec: {},
    status: { capacity: { ...capacity }, allocatable: { ...capacity } },
  };
}

/** Ready and free of the not-ready taints, i.e. the scheduler will place pods on it now. */
export function nodeSchedulable(node: V1Node): boolean {
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const tainted = node.spec?.taints?.some((t) => notReadyTaints.has(t.key)) ?? false;
  return ready && !tainted && node.spec?.unschedulable !== true;
}

/** Creates the regular nodes; ones that already exist are left as they are. */
export async function registerSandboxNodes(core: CoreV1Api): Promise<void> {
  for (const name of sandboxNodeNames) {
    try {
      await core.createNode({ body: sandboxNodeManifest(name) });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409)) throw error;
    }
  }
}

/** True once every regular node is schedulable. */
export async function sandboxNodesSchedulable(core: CoreV1Api): Promise<boolean> {
  const nodes = await core.listNode({ labelSelector: `${sandboxNodeLabel.key}=${sandboxNodeLabel.value}` });
  return sandboxNodeNames.every((name) => nodes.items.some((node) => node.metadata?.name === name && nodeSchedulable(node)));
}
