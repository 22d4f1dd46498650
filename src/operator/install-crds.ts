import { existsSync, readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { isNotFound } from '../kube/errors.js';
import type { Logger } from '../log.js';
import { resourcePath, type KubeClient } from '../kube/client.js';

interface Crd {
  kind?: string;
  metadata: { name: string; resourceVersion?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * Where a module of swell finds the repository's crds/: beside the sources (src/cli/x.ts -> ../../crds) or
 * beside the compiled output (dist/src/cli/x.js -> ../../../crds). Returns every place looked at, and the
 * first that holds YAML files, if any; the image ships no crds/, so there `found` is undefined.
 */
export function locateCrdsDir(moduleUrl: string): { found?: string; searched: string[] } {
  const searched = ['../../crds', '../../../crds'].map((relative) => fileURLToPath(new URL(relative, moduleUrl)));
  const found = searched.find((dir) => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.yaml')));
  return { ...(found ? { found } : {}), searched };
}

/** The error for --install-crds without CRDs to install, saying where it looked and what to do instead. */
export function noCrdsError(searched: readonly string[]): Error {
  return new Error(
    `--install-crds: no CRD files found (looked in ${searched.join(', ')}). This installation ships without crds/ ` +
      '(the container image does not include them): apply them with `kubectl apply -f crds/` from a checkout or the Helm chart, or pass --crds-dir DIR',
  );
}

const crdPath = (name?: string) =>
  resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', ...(name ? { name } : {}) });

/**
 * Creates or replaces every CustomResourceDefinition in `dir` and waits (bounded) until each is Established.
 * Sent as raw JSON: client-node's typed serialiser drops the x-kubernetes-* keys of a schema.
 */
export async function installCrds(client: KubeClient, dir: string, log: Logger, timeoutMs = 30_000): Promise<string[]> {
  const names: string[] = [];
  const files = existsSync(dir) ? (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort() : [];
  if (files.length === 0) throw noCrdsError([dir]);
  for (const file of files) {
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
    await client.request('PUT', crdPath(crd.metadata.name), {
      body: { ...crd, metadata: { ...crd.metadata, resourceVersion: existing.metadata.resourceVersion } },
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await client.request('POST', crdPath(), { body: crd });
  }
}

async function established(client: KubeClient, name: string): Promise<boolean> {
  const crd = await client.request<Crd>('GET', crdPath(name));
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}
