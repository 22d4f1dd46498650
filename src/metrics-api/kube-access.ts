import {
  ApiException,
  ApiregistrationV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1APIService,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { AccessReviewer } from './authorizer.js';
import type { TokenReviewer } from './authenticator.js';
import type { BundleStore, ServingBundle } from './certificates.js';
import { authenticationConfigMap } from './front-proxy.js';
import { metricsGroup, metricsVersion } from './routes.js';

// Adapters from the server's small ports to the Kubernetes API; everything else in this folder is API-agnostic.

/** SubjectAccessReview: may this user get this metric? */
export function subjectAccessReviewer(kubeConfig: KubeConfig): AccessReviewer {
  const api = kubeConfig.makeApiClient(AuthorizationV1Api);
  return async (user, attributes) => {
    const review = await api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          groups: [...user.groups],
          extra: Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]])),
          resourceAttributes: { ...attributes },
        },
      },
    });
    const status = review.status;
    if (!status) throw new Error('SubjectAccessReview returned no status');
    return { allowed: status.allowed && !status.denied, reason: status.reason ?? status.evaluationError ?? '' };
  };
}

/** TokenReview: whose bearer token is this? */
export function tokenReviewer(kubeConfig: KubeConfig): TokenReviewer {
  const api = kubeConfig.makeApiClient(AuthenticationV1Api);
  return async (token) => {
    const review = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
    const status = review.status;
    if (!status?.authenticated || !status.user?.username) return { authenticated: false, error: status?.error ?? 'token not recognised' };
    const { username, uid, groups, extra } = status.user;
    return { authenticated: true, user: { username, ...(uid ? { uid } : {}), groups: groups ?? [], extra: extra ?? {} } };
  };
}

/** Reads the data of ConfigMap kube-system/extension-apiserver-authentication; undefined when it is absent. */
export function authenticationConfigReader(kubeConfig: KubeConfig): () => Promise<Record<string, string> | undefined> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return async () => {
    try {
      return (await api.readNamespacedConfigMap(authenticationConfigMap)).data;
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  };
}

/** A Secret of type kubernetes.io/tls (plus ca.crt and ca.key) holding the generated serving bundle. */
export function secretBundleStore(kubeConfig: KubeConfig, namespace: string, name: string): BundleStore {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const secret = (bundle: ServingBundle, resourceVersion?: string): V1Secret => ({
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
  });
  return {
    async read() {
      let found: V1Secret;
      try {
        found = await api.readNamespacedSecret({ name, namespace });
      } catch (error) {
        if (isStatus(error, 404)) return undefined;
        throw error;
      }
      const data = found.data ?? {};
      const [caPem, certificatePem, privateKeyPem, caPrivateKeyPem] = [data['ca.crt'], data['tls.crt'], data['tls.key'], data['ca.key']].map((v) =>
        v ? Buffer.from(v, 'base64').toString('utf8') : undefined,
      );
      const bundle = caPem && certificatePem && privateKeyPem ? { caPem, certificatePem, privateKeyPem, ...(caPrivateKeyPem ? { caPrivateKeyPem } : {}) } : undefined;
      return { bundle, version: found.metadata?.resourceVersion ?? '' };
    },
    async create(bundle) {
      return onConflictFalse(api.createNamespacedSecret({ namespace, body: secret(bundle) }));
    },
    async replace(bundle, version) {
      return onConflictFalse(api.replaceNamespacedSecret({ name, namespace, body: secret(bundle, version) }));
    },
  };
}

export const externalMetricsApiServiceName = `${metricsVersion}.${metricsGroup}`;

/**
 * Publishes the CA in APIService v1beta1.external.metrics.k8s.io so that the aggregator trusts the serving
 * certificate. Patches only when it differs; returns false when the APIService does not exist (yet).
 */
export function apiServiceCaBundlePublisher(kubeConfig: KubeConfig, log: Logger): (caPem: string) => Promise<boolean> {
  const api = kubeConfig.makeApiClient(ApiregistrationV1Api);
  return async (caPem) => {
    let current: V1APIService;
    try {
      current = await api.readAPIService({ name: externalMetricsApiServiceName });
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
    const caBundle = base64(caPem);
    if (current.spec?.caBundle === caBundle && !current.spec.insecureSkipTLSVerify) return true;
    await api.patchAPIService(
      { name: externalMetricsApiServiceName, body: { spec: { caBundle, insecureSkipTLSVerify: false } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    log.info({ apiService: externalMetricsApiServiceName }, 'published the serving CA in the APIService');
    return true;
  };
}

export function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

async function onConflictFalse(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isStatus(error, 409)) return false;
    throw error;
  }
}

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
