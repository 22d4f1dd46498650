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
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { AccessReviewer } from './authorizer.js';
import type { TokenReviewer } from './authenticator.js';
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

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
