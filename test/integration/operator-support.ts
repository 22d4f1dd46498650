import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { Registry } from 'prom-client';
import { ConnectionPool } from '../../scalers/connection-pool.js';
import { createScaler } from '../../scalers/registry.js';
import { SharedReads } from '../../scalers/shared-reads.js';
import { isNotFound } from '../../src/kube/errors.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createLogger } from '../../src/log.js';
import type { ScalingControllerOptions } from '../../src/operator/controller-options.js';
import { createHttpKubeClient, resourcePath, type KubeClient, type KubeWatchClient } from '../../src/kube/client.js';
import { createSystemClock } from '../../src/controller/clock.js';
import type { Logger } from '../../src/log.js';
import { createSwell, type SwellPorts, type SwellSettings } from '../../src/operator/swell.js';

/*
 * Shared steps of the operator's integration stories: a client for the sandbox, KEDA's CRDs installed from
 * crds/, namespaces, Deployments, and bounded waits.
 */

export function sandboxClient(): { kubeConfig: KubeConfig; client: KubeWatchClient } {
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error('KUBECONFIG is not set: the sandbox setup should have started kube');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return { kubeConfig, client: createHttpKubeClient(kubeConfig) };
}

const crdPath = (name?: string) =>
  resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', ...(name ? { name } : {}) });

/**
 * Creates or replaces every CRD in crds/ through the apiextensions API as raw JSON (client-node's typed
 * serializer drops x-kubernetes-int-or-string) and waits until each is Established.
 */
export async function installCrds(client: KubeClient, dir = join(import.meta.dirname, '..', '..', 'crds')): Promise<string[]> {
  const names: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      const crd = doc.toJSON() as { kind?: string; metadata: { name: string; resourceVersion?: string } } | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      names.push(crd.metadata.name);
      try {
        const existing = await client.request<{ metadata: { resourceVersion: string } }>('GET', crdPath(crd.metadata.name));
        await client.request('PUT', crdPath(crd.metadata.name), {
          body: { ...crd, metadata: { ...crd.metadata, resourceVersion: existing.metadata.resourceVersion } },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await client.request('POST', crdPath(), { body: crd });
      }
    }
  }
  for (const name of names) {
    await waitFor(`CRD ${name} Established`, 30_000, async () => {
      const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', crdPath(name));
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
  }
  return names;
}

/** Polls `probe` every 200 ms until it returns something other than undefined; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
}

export async function deleteNamespace(client: KubeClient, name: string): Promise<void> {
  await client.request('DELETE', `/api/v1/namespaces/${name}`).catch(() => undefined);
}

export async function createDeployment(client: KubeClient, namespace: string, name: string, replicas: number): Promise<void> {
  await client.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1', env: [{ name: 'GREETING', value: 'hello' }] }] },
        },
      },
    },
  });
}

export async function replicasOf(client: KubeClient, namespace: string, name: string): Promise<number> {
  const scale = await client.request<{ spec: { replicas?: number } }>(
    'GET',
    resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace, name, subresource: 'scale' }),
  );
  return scale.spec.replicas ?? 0;
}

/** Deletes every ScaledObject in the namespace and waits (bounded) until the running operator has let them go. */
export async function deleteScaledObjects(client: KubeClient, namespace: string): Promise<void> {
  const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', soPath(namespace)).catch(() => ({ items: [] }));
  for (const so of list.items) await client.request('DELETE', soPath(namespace, so.metadata.name)).catch(() => undefined);
  await waitFor('ScaledObjects deleted', 20_000, async () =>
    (await client.request<{ items: unknown[] }>('GET', soPath(namespace))).items.length === 0 ? true : undefined,
  ).catch(() => undefined);
}

/**
 * Options for running swell's controllers in the test process against the sandbox: real scalers, informers and
 * client, one namespace, a registry of their own, always leading.
 */
export function inProcessControllerOptions(sandbox: { client: KubeWatchClient }, namespace: string, identity: string): ScalingControllerOptions {
  const log = createLogger({ name: identity, level: process.env.SWELL_TEST_LOG_LEVEL ?? 'warn' });
  const clock = createSystemClock();
  const scalerDeps = { clock, log, reads: new SharedReads(clock), connections: new ConnectionPool({ clock }) };
  return {
    client: sandbox.client,
    listWatch: (path) => createKubeListWatchSource(sandbox.client, path),
    identity,
    namespace,
    clusterAuthNamespace: namespace,
    scalerFactory: (context) => createScaler(context, scalerDeps),
    log,
    registry: new Registry(),
    version: '0.1.0',
  };
}

/** swell as `swell operator` runs it, in this process: what a test reads of it is what users read. */
export interface InProcessSwell {
  readonly ports: SwellPorts;
  /** The Prometheus text of its /metrics endpoint. */
  metrics(): Promise<string>;
  /** Stops it and waits until every part has stopped. */
  stop(): Promise<void>;
}

/**
 * Runs the whole operator (createSwell, as the CLI does) against the sandbox, watching one namespace: loopback
 * ports of its own, no Lease, and the parts that would register cluster-wide (metrics API, webhooks) and burst
 * placement off unless `settings` turns them on. Resolves once it is ready.
 */
export async function startInProcessSwell(
  sandbox: { client: KubeWatchClient },
  namespace: string,
  options: { log?: Logger; settings?: Partial<SwellSettings> } = {},
): Promise<InProcessSwell> {
  const settings: SwellSettings = {
    namespace,
    metricsPort: 0,
    healthPort: 0,
    leaderElect: false,
    leaseNamespace: namespace,
    clusterAuthNamespace: namespace,
    maxReconciles: 5,
    local: true,
    metricsApi: { enabled: false, port: 0, serviceName: `swell-metrics-${namespace}`, publishCaBundle: false },
    webhooks: { enabled: false, port: 0, serviceName: `swell-webhooks-${namespace}`, configurationName: `swell-${namespace}`, validateKeda: false },
    certSecret: 'swell-certs',
    burst: false,
    shutdownDelayMs: 0,
    ...options.settings,
  };
  const log = options.log ?? createLogger({ name: namespace, level: process.env.SWELL_TEST_LOG_LEVEL ?? 'warn' });
  const stopping = new AbortController();
  let started: (ports: SwellPorts) => void = () => undefined;
  const ports = new Promise<SwellPorts>((resolve) => (started = resolve));
  const done = createSwell({ settings, client: sandbox.client, log, version: '0.1.0', onStarted: started }, stopping.signal);
  const failed = done.then(() => Promise.reject(new Error('swell stopped before it started')));
  const running = await Promise.race([ports, failed]);
  const get = async (port: number, path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { ok: response.ok, body: await response.text() };
  };
  const swell: InProcessSwell = {
    ports: running,
    metrics: async () => (await get(running.metricsPort, '/metrics')).body,
    stop: async () => {
      stopping.abort();
      await done;
    },
  };
  // Without a Lease it leads from the start; ready says its caches are synced.
  await waitFor('swell ready', 30_000, async () => ((await get(running.healthPort, '/readyz')).ok ? true : undefined));
  return swell;
}

/** The sum of a metric's samples in Prometheus text whose labels include every `labels` pair. */
export function metricSum(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (match?.[1] !== name) continue;
    if (wanted.every((pair) => (match[2] ?? '').includes(pair))) sum += Number(match[3]);
  }
  return sum;
}

/**
 * Waits until the operator has run `rounds` more polling rounds: as many scale-loop runs as it has ScaledObjects
 * scheduled, `rounds` times over (read from its swell_poll_runs_total and swell_poll_scheduled_keys). A check
 * that something did NOT happen is made after this, so its window is the operator's own progress.
 */
export async function pollRounds(metrics: () => Promise<string>, rounds: number, timeoutMs = 30_000): Promise<void> {
  const before = await metrics();
  const scheduler = { scheduler: 'scaledobject' };
  const start = metricSum(before, 'swell_poll_runs_total', scheduler);
  const keys = Math.max(1, metricSum(before, 'swell_poll_scheduled_keys', scheduler));
  await waitFor(`${rounds} polling rounds of ${keys} ScaledObjects`, timeoutMs, async () =>
    metricSum(await metrics(), 'swell_poll_runs_total', scheduler) - start >= rounds * keys ? true : undefined,
  );
}

export const soPath = (namespace: string, name?: string) =>
  resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace, ...(name ? { name } : {}) });
export const hpaPath = (namespace: string, name?: string) =>
  resourcePath({ group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', namespace, ...(name ? { name } : {}) });

/** The CRDs the chart installs (crds.install=true). */
export const chartCrds = [
  'scaledobjects.keda.sh',
  'scaledjobs.keda.sh',
  'triggerauthentications.keda.sh',
  'clustertriggerauthentications.keda.sh',
  'burstpolicies.swell.dev',
];

/**
 * The sandbox may already hold the CRDs, installed by other suites without Helm or kept by an earlier release:
 * mark them as `owner`'s so Helm adopts them instead of refusing to install, or (owner undefined) unmark the ones
 * a release kept after uninstalling. `clearAnnotations` are removed either way.
 */
export async function setHelmOwnershipOfCrds(
  client: KubeClient,
  owner: { release: string; namespace: string } | undefined,
  clearAnnotations: string[] = [],
): Promise<void> {
  const body = {
    metadata: {
      labels: { 'app.kubernetes.io/managed-by': owner ? 'Helm' : null },
      annotations: {
        'meta.helm.sh/release-name': owner?.release ?? null,
        'meta.helm.sh/release-namespace': owner?.namespace ?? null,
        ...Object.fromEntries(clearAnnotations.map((key) => [key, null])),
      },
    },
  };
  for (const crd of chartCrds) {
    const path = resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', name: crd });
    await client.request('PATCH', path, { body, contentType: 'application/merge-patch+json' }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }
}
