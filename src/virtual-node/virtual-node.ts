import { createHash, randomUUID } from 'node:crypto';
import type { V1ConfigMap, V1Pod, V1ReplicaSet, V1Secret } from '@kubernetes/client-node';
import type { Clock } from '../controller/clock.js';
import { Informer } from '../controller/informer.js';
import { objectKey } from '../controller/keys.js';
import { readOrUndefined, resourcePath, type KubeClient, type KubeWatchClient } from '../kube/client.js';
import { apiStatusCode } from '../kube/errors.js';
import { createKubeListWatchSource } from '../kube/list-watch.js';
import { CostMeter, type PricingRates } from './cost/metering.js';
import { cachedLookup, type OwnerLookup } from './cost/owner.js';
import type { ConfigReader } from './environment.js';
import { WebhookAccessCheck } from './kubelet-auth.js';
import { startKubeletServer } from './kubelet-server.js';
import type { Logger } from '../log.js';
import { NodeController } from './node-controller.js';
import { kubernetesArchitecture, type NodeIdentity } from './node-object.js';
import { PodController, type PodWriter } from './pod-controller.js';
import type { NodeResources, Provider } from './provider.js';
import { kubeletServingCertificate } from './serving-cert.js';

// One virtual node: the Node object and its heartbeat, the pods bound to it run by a provider, the kubelet API
// for logs, and a cost meter. Everything is wired here; each part is usable and tested on its own.

export interface VirtualNodeOptions {
  readonly client: KubeWatchClient;
  readonly name: string;
  readonly provider: Provider;
  /** Untainted, finite node standing in for a real worker (see NodeIdentity.regular). */
  readonly regular: boolean;
  /** Advertised capacity; default what the provider reports. */
  readonly capacity?: NodeResources;
  readonly nodeIP: string;
  /** Where the kubelet API listens; default nodeIP (in a pod: 0.0.0.0, while the Node advertises the pod IP). */
  readonly listenAddress?: string;
  /** Kubelet API port; 0 picks a free one. */
  readonly kubeletPort: number;
  /** CA that kube-apiserver's kubelet client certificate chains to; absent: only bearer tokens are accepted. */
  readonly clientCaPem?: string;
  readonly rates: PricingRates;
  readonly clock: Clock;
  readonly log: Logger;
  /** How long to wait for the first list of bound pods before giving up. */
  readonly syncTimeoutMs?: number;
}

export interface RunningVirtualNode {
  readonly name: string;
  readonly kubeletPort: number;
  readonly meter: CostMeter;
  /** Stops heartbeats, watches and the kubelet API; pods keep running only if the provider can re-adopt them. */
  stop(): Promise<void>;
}

export async function startVirtualNode(options: VirtualNodeOptions): Promise<RunningVirtualNode> {
  const { client, name, provider, clock } = options;
  const log = options.log.child({ node: name });
  const tls = await kubeletServingCertificate(name, options.nodeIP);
  const kubelet = await startKubeletServer({
    provider,
    access: new WebhookAccessCheck(client, name, clock),
    log,
    tls: tls.serving,
    ...(options.clientCaPem ? { clientCaPem: options.clientCaPem } : {}),
    host: options.listenAddress ?? options.nodeIP,
    port: options.kubeletPort,
  });
  const identity: NodeIdentity = {
    name,
    providerName: provider.name,
    regular: options.regular,
    capacity: options.capacity ?? provider.capacity(),
    nodeIP: options.nodeIP,
    kubeletPort: kubelet.port,
    machineId: createHash('sha256').update(`swell-virtual-node/${name}`).digest('hex').slice(0, 32),
    bootId: randomUUID(),
    architecture: kubernetesArchitecture(process.arch),
  };
  const nodes = new NodeController({ client, identity, provider, clock, log });
  const meter = new CostMeter(options.rates, clock);
  let pods: PodController | undefined;
  const informer = new Informer<V1Pod>({
    name: `pods-on-${name}`,
    source: createKubeListWatchSource<V1Pod>(client, '/api/v1/pods'),
    fieldSelector: `spec.nodeName=${name}`,
    clock,
    log,
  });
  const enqueue = (pod: V1Pod): void => void pods?.enqueueKey(objectKey(pod));
  informer.addHandler({ add: enqueue, update: (_old, pod) => enqueue(pod), delete: enqueue });
  try {
    await nodes.register();
    informer.start();
    await withTimeout(informer.synced(), options.syncTimeoutMs ?? 60_000, `listing the pods bound to node ${name}`);
    pods = new PodController({
      nodeIP: options.nodeIP,
      provider,
      pods: informer,
      writer: apiPodWriter(client, name, clock, log),
      config: apiConfigReader(client),
      owners: cachedLookup(apiOwnerLookup(client)),
      meter,
      rates: options.rates,
      clock,
      log,
    });
    pods.start();
    nodes.start();
  } catch (error) {
    nodes.stop();
    await informer.stop();
    await kubelet.close();
    throw error;
  }
  log.info({ kubeletPort: kubelet.port, provider: provider.name, regular: options.regular, capacity: identity.capacity }, 'virtual node running');
  const controller = pods;
  return {
    name,
    kubeletPort: kubelet.port,
    meter,
    async stop() {
      await controller.stop();
      nodes.stop();
      await informer.stop();
      await kubelet.close();
      await provider.close();
      log.info({ podsKept: provider.survivesRestart }, 'virtual node stopped');
    },
  };
}

const core = (resource: string, namespace: string, name?: string): string =>
  resourcePath({ group: '', version: 'v1', resource, namespace, ...(name === undefined ? {} : { name }) });

function apiPodWriter(client: KubeClient, nodeName: string, clock: Clock, log: Logger): PodWriter {
  return {
    async annotate(namespace, name, annotations) {
      await client.request('PATCH', core('pods', namespace, name), { body: { metadata: { annotations } }, contentType: 'application/merge-patch+json' });
    },
    warn(pod, reason, message) {
      const now = new Date(clock.now());
      client
        .request('POST', core('events', pod.namespace), {
          body: {
            metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
            involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
            reason,
            message,
            type: 'Warning',
            count: 1,
            firstTimestamp: now,
            lastTimestamp: now,
            source: { component: 'swell-virtual-node', host: nodeName },
          },
        })
        .catch((error: unknown) => log.warn({ pod: `${pod.namespace}/${pod.name}`, reason, err: error }, 'could not record event'));
    },
    async patchStatus(namespace, name, status) {
      // A restarted serverless pod may get a new IP: the address lists are replaced, not merged by key.
      const replaced = {
        ...status,
        hostIPs: [...status.hostIPs, { $patch: 'replace' }],
        ...(status.podIPs ? { podIPs: [...status.podIPs, { $patch: 'replace' }] } : {}),
      };
      const pod = await client.request<V1Pod>('PATCH', `${core('pods', namespace, name)}/status`, {
        body: { status: replaced },
        contentType: 'application/strategic-merge-patch+json',
      });
      return pod.metadata?.resourceVersion;
    },
    async deleteNow(namespace, name, uid) {
      try {
        await client.request('DELETE', core('pods', namespace, name), {
          query: { gracePeriodSeconds: 0 },
          body: { gracePeriodSeconds: 0, preconditions: { uid } },
        });
      } catch (error) {
        // Gone already, or re-created under the same name (the UID precondition failed): nothing to delete.
        if (apiStatusCode(error) !== 404 && apiStatusCode(error) !== 409) throw error;
      }
    },
  };
}

function apiConfigReader(client: KubeClient): ConfigReader {
  return {
    async secret(namespace, name) {
      const secret = await readOrUndefined<V1Secret>(client, core('secrets', namespace, name));
      if (!secret) return undefined;
      const decoded = Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]);
      return { ...Object.fromEntries(decoded), ...(secret.stringData ?? {}) } as Record<string, string>;
    },
    async configMap(namespace, name) {
      const configMap = await readOrUndefined<V1ConfigMap>(client, core('configmaps', namespace, name));
      return configMap ? (configMap.data ?? {}) : undefined;
    },
  };
}

function apiOwnerLookup(client: KubeClient): OwnerLookup {
  return async (namespace, kind, name) => {
    if (kind !== 'ReplicaSet') return undefined;
    const replicaSet = await client.request<V1ReplicaSet>('GET', resourcePath({ group: 'apps', version: 'v1', resource: 'replicasets', namespace, name }));
    return replicaSet.metadata?.ownerReferences;
  };
}

/** The cluster's client CA, as kube-apiserver publishes it for delegated authentication; undefined if unreadable. */
export async function clusterClientCa(client: KubeClient, log: Logger): Promise<string | undefined> {
  try {
    const configMap = await client.request<V1ConfigMap>('GET', core('configmaps', 'kube-system', 'extension-apiserver-authentication'));
    return configMap.data?.['client-ca-file'];
  } catch (error) {
    log.warn({ err: error }, 'cannot read the cluster client CA; the kubelet API will accept bearer tokens only');
    return undefined;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms / 1000)}s ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
