import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isNotFound } from '../kube/errors.js';
import type { Logger } from '../log.js';
import { resourcePath, type KubeClient } from './kube-client.js';

interface Crd {
  kind?: string;
  metadata: { name: string; resourceVersion?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

const crdPath = (name?: string) => resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', ...(name ? { name } : {}) });

/**
 * Creates or replaces every CustomResourceDefinition in `dir` and waits (bounded) until each is Established.
 * Sent as raw JSON: client-node's typed serialiser drops the x-kubernetes-* keys of a schema.
 */
export async function installCrds(client: KubeClient, dir: string, log: Logger, timeoutMs = 30_000): Promise<string[]> {
  const names: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${join(dir, file)}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
      const crd = doc.toJSON() as Crd | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      names.push(crd.metadata.name);
      await applyCrd(client, crd);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    while (!(await established(client, name))) {
      if (Date.now() > deadline) throw new Error(`CustomResourceDefinition ${name} is not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  log.info({ crds: names }, 'installed CRDs');
  return names;
}

async function applyCrd(client: KubeClient, crd: Crd): Promise<void> {
  try {
    const existing = await client.request<Crd>('GET', crdPath(crd.metadata.name));
    await client.request('PUT', crdPath(crd.metadata.name), { body: { ...crd, metadata: { ...crd.metadata, resourceVersion: existing.metadata.resourceVersion } } });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await client.request('POST', crdPath(), { body: crd });
  }
}

async function established(client: KubeClient, name: string): Promise<boolean> {
  const crd = await client.request<Crd>('GET', crdPath(name));
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}
