import type { V1Secret } from '@kubernetes/client-node';
import { readOrUndefined, resourcePath, type KubeClient } from '../kube/client.js';
import { isConflict } from '../kube/errors.js';
import type { ServingBundle } from './bundle.js';
import type { BundleStore } from './managed.js';

/**
 * A Secret of type kubernetes.io/tls (plus ca.crt and ca.key) holding the generated serving bundle; the shape
 * cert-manager also writes, so either can be mounted. Needs get, update and create on Secrets in `namespace`.
 */
export function secretBundleStore(client: KubeClient, namespace: string, name: string): BundleStore {
  const secrets = resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace });
  const path = `${secrets}/${encodeURIComponent(name)}`;
  return {
    async read() {
      const found = await readOrUndefined<V1Secret>(client, path);
      return found && { bundle: bundleOfSecret(found), version: found.metadata?.resourceVersion ?? '' };
    },
    create: (bundle) => falseOnConflict(client.request('POST', secrets, { body: secretOfBundle(bundle, namespace, name) })),
    replace: (bundle, version) => falseOnConflict(client.request('PUT', path, { body: secretOfBundle(bundle, namespace, name, version) })),
  };
}

export function secretOfBundle(bundle: ServingBundle, namespace: string, name: string, resourceVersion?: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'swell' }, ...(resourceVersion ? { resourceVersion } : {}) },
    data: {
      'ca.crt': base64(bundle.caPem),
      'tls.crt': base64(bundle.certificatePem),
      'tls.key': base64(bundle.privateKeyPem),
      ...(bundle.caPrivateKeyPem ? { 'ca.key': base64(bundle.caPrivateKeyPem) } : {}),
    },
  };
}

/** The bundle a Secret holds; undefined when a key is missing, which makes the manager write a new one. */
export function bundleOfSecret(secret: V1Secret): ServingBundle | undefined {
  const data = secret.data ?? {};
  const [caPem, certificatePem, privateKeyPem, caPrivateKeyPem] = [data['ca.crt'], data['tls.crt'], data['tls.key'], data['ca.key']].map((v) =>
    v ? Buffer.from(v, 'base64').toString('utf8') : undefined,
  );
  if (!caPem || !certificatePem || !privateKeyPem) return undefined;
  return { caPem, certificatePem, privateKeyPem, ...(caPrivateKeyPem ? { caPrivateKeyPem } : {}) };
}

async function falseOnConflict(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    // 409 on create: another replica created it first; on replace: another replica changed it since we read.
    if (isConflict(error)) return false;
    throw error;
  }
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
