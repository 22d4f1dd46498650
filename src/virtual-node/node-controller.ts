import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Clock, Timer } from '../controller/clock.js';
import { mergePatch, statusCode, strategicMerge } from './kube-api.js';
import type { Logger } from '../log.js';
import { leaseObject, microTime, nodeConditions, nodeLabels, nodeLeaseNamespace, nodeObject, nodeStatus, nodeTaints, providerTaintKey, type NodeHealth, type NodeIdentity } from './node-object.js';
import type { Provider } from './provider.js';

// Registers the Node and keeps it alive the way a kubelet does: the Lease in kube-node-lease is renewed every
// 10 s (that is what the node lifecycle controller watches), the full status is refreshed every minute, and a
// failing provider health check turns Ready to False at once.

export interface NodeControllerOptions {
  readonly kubeConfig: KubeConfig;
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
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private health: NodeHealth = { healthy: true };
  private nodeUid = '';
  private timers: Timer[] = [];
  private stopped = false;

  constructor(private readonly options: NodeControllerOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** Creates or adopts the Node, publishes its status and takes its Lease. */
  async register(): Promise<void> {
    this.health = await this.checkHealth();
    const { identity } = this.options;
    let node: V1Node;
    try {
      node = await this.core.readNode({ name: identity.name });
      const taints = [...(node.spec?.taints ?? []).filter((t) => t.key !== providerTaintKey), ...nodeTaints(identity)];
      node = await this.core.patchNode({ name: identity.name, body: { metadata: { labels: nodeLabels(identity) }, spec: { taints } } }, mergePatch());
      this.options.log.info({ node: identity.name }, 'adopted existing node');
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      node = await this.core.createNode({ body: nodeObject(identity) });
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
    this.timers = [];
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
      this.timers.push(timer);
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
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${healthCheckTimeoutMs} ms`)), healthCheckTimeoutMs);
    });
    try {
      await Promise.race([this.options.provider.healthCheck(), timeout]);
      return { healthy: true };
    } catch (error) {
      return { healthy: false, message: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes capacity, addresses, conditions (with a fresh heartbeat) and node info. */
  private async publishStatus(current?: V1Node): Promise<void> {
    const { identity } = this.options;
    let node = current;
    try {
      node ??= await this.core.readNode({ name: identity.name });
    } catch (error) {
      if (statusCode(error) === 404 && !this.stopped) {
        this.options.log.warn({ node: identity.name }, 'node object was deleted; registering again');
        await this.register();
        return;
      }
      throw error;
    }
    const conditions = nodeConditions(this.health, node.status?.conditions ?? [], new Date(this.options.clock.now()));
    await this.core.patchNodeStatus({ name: identity.name, body: { status: nodeStatus(identity, conditions) } }, strategicMerge());
  }

  private async renewLease(): Promise<void> {
    const { name } = this.options.identity;
    const now = new Date(this.options.clock.now());
    try {
      await this.coordination.patchNamespacedLease(
        { name, namespace: nodeLeaseNamespace, body: { spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(now) } } },
        mergePatch(),
      );
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      await this.coordination.createNamespacedLease({ namespace: nodeLeaseNamespace, body: leaseObject(name, this.nodeUid, now) });
    }
  }
}
