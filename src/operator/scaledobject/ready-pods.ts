import { resourcePath, type KubeClient } from '../../kube/client.js';

interface PodList {
  items: { status?: { phase?: string; conditions?: { type: string; status: string }[] } }[];
}

/** Counts a target's Running and Ready pods, which a fallback for a `Value` metric divides by. */
export class ReadyPods {
  constructor(private readonly client: KubeClient) {}

  async count(namespace: string, selector: string | undefined): Promise<number> {
    if (!selector) return 0;
    const pods = await this.client.request<PodList>('GET', resourcePath({ group: '', version: 'v1', resource: 'pods', namespace }), {
      query: { labelSelector: selector },
    });
    return pods.items.filter((p) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  }
}
