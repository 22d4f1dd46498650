import type { KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Clock } from '../controller/clock.js';
import type { Leadership } from '../controller/leadership.js';
import type { ListWatchSource } from '../controller/list-watch-source.js';
import type { Logger } from '../log.js';
import type { EventRecorder } from './events.js';
import type { KubeClient } from '../kube/client.js';
import type { KeyCaches } from './key-caches.js';
import type { ScalerFactory } from './scalers-cache.js';

/** What every scaling controller in the operator process (ScaledObjects, ScaledJobs) is built from. */
export interface ScalingControllerOptions {
  client: KubeClient;
  /** A list-watch source for a collection path (e.g. `/apis/keda.sh/v1alpha1/scaledobjects`). */
  listWatch: <T extends KubernetesObject>(path: string) => ListWatchSource<T>;
  /** The process's one campaign, shared by every leader-only part; without it this controller always leads. */
  leadership?: Leadership;
  identity: string;
  /** Watch only this namespace; all namespaces when unset. */
  namespace?: string;
  /** Where ClusterTriggerAuthentication secrets and config maps are read from. */
  clusterAuthNamespace: string;
  scalerFactory: ScalerFactory;
  log: Logger;
  registry: Registry;
  /** swell's version, for HPA and Job labels and the build-info metric. */
  version: string;
  clock?: Clock;
  random?: () => number;
  events?: EventRecorder;
  /** Objects reconciled at once. */
  workers?: number;
  /** Polls running at once. */
  pollConcurrency?: number;
  /**
   * The Secrets and ConfigMaps shared by every controller of the process, started and stopped by whoever made
   * them; a controller given none watches its own.
   */
  keyCaches?: KeyCaches;
  /** How often every cached object is reconciled again even without a change; default 10 min. */
  resyncPeriodMs?: number;
}
