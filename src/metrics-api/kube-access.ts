import type { V1APIService, V1ConfigMap, V1SubjectAccessReview, V1TokenReview } from '@kubernetes/client-node';
import { readOrUndefined, resourcePath, type KubeClient } from '../kube/client.js';
import { apiStatusCode } from '../kube/errors.js';
import type { Logger } from '../log.js';
import type { AccessReviewer } from './authorizer.js';
import type { TokenReviewer } from './authenticator.js';
import { authenticationConfigMap } from './front-proxy.js';
import { metricsGroup, metricsVersion } from './routes.js';

// Adapters from the server's small ports to the Kubernetes API; everything else in this folder is API-agnostic.

/** SubjectAccessReview: may this user get this metric? */
export function subjectAccessReviewer(client: KubeClient): AccessReviewer {
  return async (user, attributes) => {
    const review = await client.request<V1SubjectAccessReview>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
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
export function tokenReviewer(client: KubeClient): TokenReviewer {
  return async (token) => {
    const review = await client.request<V1TokenReview>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const status = review.status;
    if (!status?.authenticated || !status.user?.username) return { authenticated: false, error: status?.error ?? 'token not recognised' };
    const { username, uid, groups, extra } = status.user;
    return { authenticated: true, user: { username, ...(uid ? { uid } : {}), groups: groups ?? [], extra: extra ?? {} } };
  };
}

/** Reads the data of ConfigMap kube-system/extension-apiserver-authentication; undefined when it is absent. */
export function authenticationConfigReader(client: KubeClient): () => Promise<Record<string, string> | undefined> {
  const path = resourcePath({ group: '', version: 'v1', resource: 'configmaps', ...authenticationConfigMap });
  return async () => (await readOrUndefined<V1ConfigMap>(client, path))?.data;
}

export const externalMetricsApiServiceName = `${metricsVersion}.${metricsGroup}`;
export const externalMetricsApiServicePath = resourcePath({
  group: 'apiregistration.k8s.io',
  version: 'v1',
  resource: 'apiservices',
  name: externalMetricsApiServiceName,
});

/**
 * Publishes the CA in APIService v1beta1.external.metrics.k8s.io so that the aggregator trusts the serving
 * certificate. Patches only when it differs; returns false when the APIService does not exist (yet).
 */
export function apiServiceCaBundlePublisher(client: KubeClient, log: Logger): (caPem: string) => Promise<boolean> {
  return async (caPem) => {
    const current = await readOrUndefined<V1APIService>(client, externalMetricsApiServicePath);
    if (!current) return false;
    const caBundle = base64(caPem);
    if (current.spec?.caBundle === caBundle && !current.spec.insecureSkipTLSVerify) return true;
    await client.request('PATCH', externalMetricsApiServicePath, {
      body: { spec: { caBundle, insecureSkipTLSVerify: false } },
      contentType: 'application/merge-patch+json',
    });
    log.info({ apiService: externalMetricsApiServiceName }, 'published the serving CA in the APIService');
    return true;
  };
}

export function isStatus(error: unknown, code: number): boolean {
  return apiStatusCode(error) === code;
}

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
