import { createHash, randomUUID } from 'node:crypto';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../controller/clock.js';
import { Informer } from '../controller/informer.js';
import { objectKey } from '../controller/keys.js';
import { createKubeListWatchSource } from '../kube/list-watch.js';
import { CostMeter, type PricingRates } from './cost/metering.js';
import { cachedLookup, type OwnerLookup } from './cost/owner.js';
import type { ConfigReader } from './environment.js';
import { mergePatch, statusCode, strategicMerge } from './kube-api.js';
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
  readonly kubeConfig: KubeConfig;
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
  const { kubeConfig, name, provider, clock } = options;
  const log = options.log.child({ node: name });
  const tls = await kubeletServingCertificate(name, options.nodeIP);
  const kubelet = await startKubeletServer({
    provider,
    access: new WebhookAccessCheck(kubeConfig, name, clock),
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
  const nodes = new NodeController({ kubeConfig, identity, provider, clock, log });
  const meter = new CostMeter(options.rates, clock);
  let pods: PodController | undefined;
  const informer = new Informer<V1Pod>({
    name: `pods-on-${name}`,
    source: createKubeListWatchSource<V1Pod>(kubeConfig, '/api/v1/pods'),
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
      writer: apiPodWriter(kubeConfig, name, clock, log),
      config: apiConfigReader(kubeConfig),
      owners: cachedLookup(apiOwnerLookup(kubeConfig)),
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

function apiPodWriter(kubeConfig: KubeConfig, nodeName: string, clock: Clock, log: Logger): PodWriter {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async annotate(namespace, name, annotations) {
      await core.patchNamespacedPod({ name, namespace, body: { metadata: { annotations } } }, mergePatch());
    },
    warn(pod, reason, message) {
      const now = new Date(clock.now());
      core
        .createNamespacedEvent({
          namespace: pod.namespace,
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
      const pod = await core.patchNamespacedPodStatus({ name, namespace, body: { status: replaced } }, strategicMerge());
      return pod.metadata?.resourceVersion;
    },
    async deleteNow(namespace, name, uid) {
      try {
        await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
      } catch (error) {
        // Gone already, or re-created under the same name (the UID precondition failed): nothing to delete.
        if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
      }
    },
  };
}

function apiConfigReader(kubeConfig: KubeConfig): ConfigReader {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const orMissing = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  };
  return {
    async secret(namespace, name) {
      const secret = await orMissing(() => core.readNamespacedSecret({ name, namespace }));
      if (!secret) return undefined;
      const decoded = Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]);
      return { ...Object.fromEntries(decoded), ...(secret.stringData ?? {}) } as Record<string, string>;
    },
    async configMap(namespace, name) {
      const configMap = await orMissing(() => core.readNamespacedConfigMap({ name, namespace }));
      return configMap ? (configMap.data ?? {}) : undefined;
    },
  };
}

function apiOwnerLookup(kubeConfig: KubeConfig): OwnerLookup {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  return async (namespace, kind, name) => {
    if (kind !== 'ReplicaSet') return undefined;
    const replicaSet = await apps.readNamespacedReplicaSet({ name, namespace });
    return replicaSet.metadata?.ownerReferences;
  };
}

/** The cluster's client CA, as kube-apiserver publishes it for delegated authentication; undefined if unreadable. */
export async function clusterClientCa(kubeConfig: KubeConfig, log: Logger): Promise<string | undefined> {
  try {
    const configMap = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'extension-apiserver-authentication', namespace: 'kube-system' });
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
