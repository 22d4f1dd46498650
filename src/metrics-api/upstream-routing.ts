import type { KubeWatchClient } from '../kube/client.js';
import { Informer } from '../controller/informer.js';
import { createKubeListWatchSource } from '../kube/list-watch.js';
import type { Logger } from '../log.js';
import { UpstreamForwarder } from './forwarder.js';
import type { UpstreamRouting } from './handler.js';
import { MetricOwnership, type ScaledObjectMetrics } from './ownership.js';
import { UpstreamClient, type UpstreamTarget } from './upstream.js';

export interface UpstreamOptions {
  readonly target: UpstreamTarget;
  /** Watch ScaledObjects of this namespace only (as the operator does); default all. */
  readonly namespace?: string;
  readonly connectTimeoutMs?: number;
  readonly responseTimeoutMs?: number;
}

export interface RunningUpstreamRouting {
  readonly routing: UpstreamRouting;
  stop(): Promise<void>;
}

type WatchedScaledObject = ScaledObjectMetrics & { apiVersion?: string; kind?: string };

/**
 * The ScaledObject watch that decides ownership, and the client for the other adapter. Every replica runs its
 * own (not only the leader): every replica answers metric requests.
 */
export async function startUpstreamRouting(kubeClient: KubeWatchClient, options: UpstreamOptions, log: Logger): Promise<RunningUpstreamRouting> {
  const ownership = new MetricOwnership();
  const path = options.namespace ? `/apis/keda.sh/v1alpha1/namespaces/${options.namespace}/scaledobjects` : '/apis/keda.sh/v1alpha1/scaledobjects';
  const informer = new Informer<WatchedScaledObject>({
    name: 'scaledobject-metric-names',
    source: createKubeListWatchSource<WatchedScaledObject>(kubeClient, path),
    log,
  });
  informer.addHandler({
    add: (so) => ownership.upsert(so),
    update: (_old, so) => ownership.upsert(so),
    delete: (so) => ownership.remove(so),
  });
  const client = new UpstreamClient({
    target: options.target,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.responseTimeoutMs === undefined ? {} : { responseTimeoutMs: options.responseTimeoutMs }),
  });
  informer.start();
  // Until the ScaledObjects are listed, swell's own metrics would be sent upstream; wait for the list.
  await informer.synced();
  log.info({ upstream: client.description, scaledObjects: informer.size }, 'forwarding metrics no ScaledObject names to the upstream metrics server');
  return {
    routing: new UpstreamForwarder({ client, ownership, log }),
    async stop() {
      await informer.stop();
      client.close();
    },
  };
}
