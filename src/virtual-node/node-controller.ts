import type { V1Node } from '@kubernetes/client-node';
import type { Clock, Timer } from '../controller/clock.js';
import { resourcePath, type KubeClient } from '../kube/client.js';
import { apiStatusCode } from '../kube/errors.js';
import type { Logger } from '../log.js';
import {
  leaseObject,
  microTime,
  nodeConditions,
  nodeLabels,
  nodeLeaseNamespace,
  nodeObject,
  nodeStatus,
  nodeTaints,
  providerTaintKey,
  type NodeHealth,
  type NodeIdentity,
} from './node-object.js';
import type { Provider } from './provider.js';

// Registers the Node and keeps it alive the way a kubelet does: the Lease in kube-node-lease is renewed every
// 10 s (that is what the node lifecycle controller watches), the full status is refreshed every minute, and a
// failing provider health check turns Ready to False at once.

export interface NodeControllerOptions {
  readonly client: KubeClient;
  readonly identity: NodeIdentity;
  readonly provider: Provider;
  readonly clock: Clock;
  readonly log: Logger;
  readonly leaseRenewMs?: number;
  readonly statusRefreshMs?: number;
  readonly healthCheckMs?: number;
}

const healthCheckTimeoutMs = 5000;

export class NodeController {
  private health: NodeHealth = { healthy: true };
  private nodeUid = '';
  /** The pending timer of each periodic task, by task: one each, however long the node runs. */
  private readonly timers = new Map<() => Promise<void>, Timer>();
  private stopped = false;

  private readonly nodes = resourcePath({ group: '', version: 'v1', resource: 'nodes' });
  private readonly nodePath: string;
  private readonly leases = resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: nodeLeaseNamespace });

  constructor(private readonly options: NodeControllerOptions) {
    this.nodePath = `${this.nodes}/${encodeURIComponent(options.identity.name)}`;
  }

  /** Creates or adopts the Node, publishes its status and takes its Lease. */
  async register(): Promise<void> {
    this.health = await this.checkHealth();
    const { identity } = this.options;
    let node: V1Node;
    try {
      node = await this.options.client.request<V1Node>('GET', this.nodePath);
      const taints = [...(node.spec?.taints ?? []).filter((t) => t.key !== providerTaintKey), ...nodeTaints(identity)];
      node = await this.options.client.request<V1Node>('PATCH', this.nodePath, {
        body: { metadata: { labels: nodeLabels(identity) }, spec: { taints } },
        contentType: 'application/merge-patch+json',
      });
      this.options.log.info({ node: identity.name }, 'adopted existing node');
    } catch (error) {
      if (apiStatusCode(error) !== 404) throw error;
      node = await this.options.client.request<V1Node>('POST', this.nodes, { body: nodeObject(identity) });
      this.options.log.info({ node: identity.name }, 'registered node');
    }
    this.nodeUid = node.metadata?.uid ?? '';
    await this.publishStatus(node);
    await this.renewLease();
  }

  start(): void {
    this.every(this.options.leaseRenewMs ?? 10_000, () => this.renewLease());
    this.every(this.options.statusRefreshMs ?? 60_000, () => this.publishStatus());
    this.every(this.options.healthCheckMs ?? 10_000, () => this.watchHealth());
  }

  stop(): void {
    this.stopped = true;
    this.timers.forEach((timer) => timer.cancel());
    this.timers.clear();
  }

  get currentHealth(): NodeHealth {
    return this.health;
  }

  private every(intervalMs: number, task: () => Promise<void>): void {
    const schedule = () => {
      if (this.stopped) return;
      const timer = this.options.clock.setTimeout(() => {
        task()
          .catch((error: unknown) => this.options.log.warn({ err: error }, 'node heartbeat task failed'))
          .finally(schedule);
      }, intervalMs);
      this.timers.set(task, timer);
    };
    schedule();
  }

  private async watchHealth(): Promise<void> {
    const health = await this.checkHealth();
    const changed = health.healthy !== this.health.healthy || health.message !== this.health.message;
    this.health = health;
    if (!changed) return;
    this.options.log.warn({ healthy: health.healthy, problem: health.message }, 'provider health changed');
    await this.publishStatus();
  }

  private async checkHealth(): Promise<NodeHealth> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.options.clock.setTimeout(() => reject(new Error(`no answer within ${healthCheckTimeoutMs} ms`)), healthCheckTimeoutMs);
    });
    try {
      await Promise.race([this.options.provider.healthCheck(), timeout]);
      return { healthy: true };
    } catch (error) {
      return { healthy: false, message: error instanceof Error ? error.message : String(error) };
    } finally {
      timer?.cancel();
    }
  }

  /** Writes capacity, addresses, conditions (with a fresh heartbeat) and node info. */
  private async publishStatus(current?: V1Node): Promise<void> {
    const { identity } = this.options;
    let node = current;
    try {
      node ??= await this.options.client.request<V1Node>('GET', this.nodePath);
    } catch (error) {
      if (apiStatusCode(error) === 404 && !this.stopped) {
        this.options.log.warn({ node: identity.name }, 'node object was deleted; registering again');
        await this.register();
        return;
      }
      throw error;
    }
    const conditions = nodeConditions(this.health, node.status?.conditions ?? [], new Date(this.options.clock.now()));
    await this.options.client.request('PATCH', `${this.nodePath}/status`, {
      body: { status: nodeStatus(identity, conditions) },
      contentType: 'application/strategic-merge-patch+json',
    });
  }

  private async renewLease(): Promise<void> {
    const { name } = this.options.identity;
    const now = new Date(this.options.clock.now());
    try {
      await this.options.client.request('PATCH', `${this.leases}/${encodeURIComponent(name)}`, {
        body: { spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(now) } },
        contentType: 'application/merge-patch+json',
      });
    } catch (error) {
      if (apiStatusCode(error) !== 404) throw error;
      await this.options.client.request('POST', this.leases, { body: leaseObject(name, this.nodeUid, now) });
    }
  }
}
