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

const crdPath = (name?: string) => resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', ...(name ? { name } : {}) });

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
        await client.request('PUT', crdPath(crd.metadata.name), { body: { ...crd, metadata: { ...crd.metadata, resourceVersion: existing.metadata.resourceVersion } } });
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
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
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
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1', env: [{ name: 'GREETING', value: 'hello' }] }] } },
      },
    },
  });
}

export async function replicasOf(client: KubeClient, namespace: string, name: string): Promise<number> {
  const scale = await client.request<{ spec: { replicas?: number } }>('GET', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace, name, subresource: 'scale' }));
  return scale.spec.replicas ?? 0;
}

/** Deletes every ScaledObject in the namespace and waits (bounded) until the running operator has let them go. */
export async function deleteScaledObjects(client: KubeClient, namespace: string): Promise<void> {
  const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', soPath(namespace)).catch(() => ({ items: [] }));
  for (const so of list.items) await client.request('DELETE', soPath(namespace, so.metadata.name)).catch(() => undefined);
  await waitFor('ScaledObjects deleted', 20_000, async () => ((await client.request<{ items: unknown[] }>('GET', soPath(namespace))).items.length === 0 ? true : undefined)).catch(() => undefined);
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

export const soPath = (namespace: string, name?: string) => resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace, ...(name ? { name } : {}) });
export const hpaPath = (namespace: string, name?: string) => resourcePath({ group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', namespace, ...(name ? { name } : {}) });

/** The CRDs the chart installs (crds.install=true). */
export const chartCrds = ['scaledobjects.keda.sh', 'scaledjobs.keda.sh', 'triggerauthentications.keda.sh', 'clustertriggerauthentications.keda.sh', 'burstpolicies.swell.dev'];

/**
 * The sandbox may already hold the CRDs, installed by other suites without Helm or kept by an earlier release:
 * mark them as `owner`'s so Helm adopts them instead of refusing to install, or (owner undefined) unmark the ones
 * a release kept after uninstalling. `clearAnnotations` are removed either way.
 */
export async function setHelmOwnershipOfCrds(client: KubeClient, owner: { release: string; namespace: string } | undefined, clearAnnotations: string[] = []): Promise<void> {
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
