import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube/errors.js';
import type { ServingBundle } from './bundle.js';
import type { BundleStore } from './managed.js';

/**
 * A Secret of type kubernetes.io/tls (plus ca.crt and ca.key) holding the generated serving bundle; the shape
 * cert-manager also writes, so either can be mounted. Needs get, update and create on Secrets in `namespace`.
 */
export function secretBundleStore(kubeConfig: KubeConfig, namespace: string, name: string): BundleStore {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async read() {
      let found: V1Secret;
      try {
        found = await api.readNamespacedSecret({ name, namespace });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      return { bundle: bundleOfSecret(found), version: found.metadata?.resourceVersion ?? '' };
    },
    create: (bundle) => falseOnConflict(api.createNamespacedSecret({ namespace, body: secretOfBundle(bundle, namespace, name) })),
    replace: (bundle, version) => falseOnConflict(api.replaceNamespacedSecret({ name, namespace, body: secretOfBundle(bundle, namespace, name, version) })),
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
  const [caPem, certificatePem, privateKeyPem, caPrivateKeyPem] = [data['ca.crt'], data['tls.crt'], data['tls.key'], data['ca.key']].map((v) => (v ? Buffer.from(v, 'base64').toString('utf8') : undefined));
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
