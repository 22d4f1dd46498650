import type { KubernetesObject, V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Clock } from '../controller/clock.js';
import { Informer } from '../controller/informer.js';
import type { ListWatchSource } from '../controller/list-watch-source.js';
import { resourcePath } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { KeyLookup } from './container-env.js';
import { watchDependency } from './dependencies.js';

type AnyInformer = Informer<KubernetesObject>;

/**
 * The Secrets and ConfigMaps that trigger authentication and container env read, held in informer caches so a
 * resolution reads memory, never the apiserver. One set serves every controller of the process.
 */
export interface KeyCaches {
  readonly lookup: KeyLookup;
  /** For readiness and for waiting until the caches are filled. */
  readonly informers: readonly AnyInformer[];
  /** Starts watching; whoever created the caches starts and stops them. */
  start(): void;
  stop(): Promise<void>;
  /** Calls `changed` with the dependency key (see DependencyIndex) of every Secret or ConfigMap added, changed or deleted. */
  onChange(changed: (dependencyKey: string) => void): void;
}

export interface KeyCacheSettings {
  listWatch: <T extends KubernetesObject>(path: string) => ListWatchSource<T>;
  log: Logger;
  /** Only this namespace (and clusterAuthNamespace); every namespace when unset. */
  namespace?: string;
  clusterAuthNamespace: string;
  resyncPeriodMs?: number;
}

/**
 * Watches Secrets and ConfigMaps in every namespace, or, for a namespaced operator, in its namespace and the one
 * ClusterTriggerAuthentications read from.
 */
export function createKeyCaches(settings: KeyCacheSettings, clock: Clock): KeyCaches {
  const { namespace, clusterAuthNamespace, listWatch, log, resyncPeriodMs } = settings;
  const make = (name: string, path: string): AnyInformer =>
    new Informer<KubernetesObject>({
      name,
      source: listWatch<KubernetesObject>(path),
      log,
      clock,
      ...(resyncPeriodMs !== undefined ? { resyncPeriodMs } : {}),
    });
  const namespaces = namespace === undefined ? [undefined] : [...new Set([namespace, clusterAuthNamespace])];
  const collection = (resource: 'secrets' | 'configmaps') =>
    namespaces.map((ns) => make(`${resource}${ns ? `-${ns}` : ''}`, resourcePath({ group: '', version: 'v1', resource, namespace: ns })));
  const secrets = collection('secrets');
  const configMaps = collection('configmaps');
  const informers = [...secrets, ...configMaps];
  return {
    lookup: keyLookup(secrets, configMaps),
    informers,
    start: () => {
      for (const informer of informers) informer.start();
    },
    stop: async () => {
      await Promise.all(informers.map((informer) => informer.stop()));
    },
    onChange: (changed) => {
      for (const informer of secrets) watchDependency('Secret', informer, changed);
      for (const informer of configMaps) watchDependency('ConfigMap', informer, changed);
    },
  };
}

function keyLookup(secrets: readonly AnyInformer[], configMaps: readonly AnyInformer[]): KeyLookup {
  const find = <T>(list: readonly AnyInformer[], ns: string, name: string): T | undefined => {
    for (const informer of list) {
      const found = informer.get(`${ns}/${name}`);
      if (found) return found as T;
    }
    return undefined;
  };
  const secretData = (ns: string, name: string): Record<string, string> | undefined => {
    const secret = find<V1Secret>(secrets, ns, name);
    if (!secret) return undefined;
    const decoded: Record<string, string> = { ...(secret.stringData ?? {}) };
    for (const [k, v] of Object.entries(secret.data ?? {})) decoded[k] = Buffer.from(v, 'base64').toString('utf8');
    return decoded;
  };
  const configMapData = (ns: string, name: string): Record<string, string> | undefined => find<V1ConfigMap>(configMaps, ns, name)?.data;
  return {
    secret: (ns, name, key) => secretData(ns, name)?.[key],
    configMap: (ns, name, key) => configMapData(ns, name)?.[key],
    secretData,
    configMapData,
  };
}
