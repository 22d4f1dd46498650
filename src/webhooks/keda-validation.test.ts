import { describe, expect, it } from 'vitest';
import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { createKedaValidator } from '../apis/keda/v1alpha1/validator.js';
import type { KubeClient } from '../kube/client.js';
import type { AdmissionRequest } from './admission.js';
import { cachedClusterReader, createKedaAdmissionHandler, kubeClusterReader, type AdmissionCaches } from './keda-validation.js';

/** Answers GETs from a map of path → object, as the apiserver would. */
function clientServing(objects: Record<string, unknown>): KubeClient {
  return {
    request<T>(method: string, path: string): Promise<T> {
      if (method !== 'GET' || !(path in objects)) return Promise.reject(Object.assign(new Error(`not found: ${path}`), { code: 404 }));
      return Promise.resolve(objects[path] as T);
    },
  };
}

describe('kubeClusterReader.targetContainers', () => {
  const deploymentPath = '/apis/apps/v1/namespaces/shop/deployments/web';
  const deployment = {
    spec: {
      template: {
        spec: {
          containers: [
            { name: 'app', image: 'app:1', resources: { requests: { cpu: '250m' }, limits: { memory: '256Mi' } } },
            { name: 'sidecar', image: 'proxy:1' },
          ],
        },
      },
    },
  };

  it('reads requests and limits from each container of the pod template', async () => {
    const reader = kubeClusterReader(clientServing({ [deploymentPath]: deployment }));
    expect(await reader.targetContainers('shop', 'apps/v1', 'Deployment', 'web')).toEqual([
      { name: 'app', requests: { cpu: '250m' }, limits: { memory: '256Mi' } },
      { name: 'sidecar' },
    ]);
  });

  it.each([
    ['a missing Deployment', 'apps/v1', 'Deployment', 'gone'],
    ['a kind without a pod template it knows', 'example.com/v1', 'Widget', 'web'],
  ])('gives undefined for %s', async (_, apiVersion, kind, name) => {
    const reader = kubeClusterReader(clientServing({ [deploymentPath]: deployment }));
    expect(await reader.targetContainers('shop', apiVersion, kind, name)).toBeUndefined();
  });
});

const scaledObject = (namespace: string, name: string, target: string): ScaledObject => ({
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { namespace, name, uid: `uid-${name}`, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: {
    scaleTargetRef: { name: target },
    triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '1' } }],
  },
});

describe('cachedClusterReader', () => {
  const requests: string[] = [];
  const counting: KubeClient = {
    request<T>(_method: string, path: string): Promise<T> {
      requests.push(path);
      return Promise.resolve({ items: [] } as T);
    },
  };
  const caches = (overrides: Partial<AdmissionCaches> = {}): AdmissionCaches => ({
    scaledObjects: { list: () => [scaledObject('shop', 'orders', 'web'), scaledObject('bank', 'ledger', 'web')] },
    hpas: { list: () => [] },
    workloads: { deployments: { get: () => undefined }, statefulsets: { get: () => undefined } },
    synced: () => true,
    covers: () => true,
    ...overrides,
  });

  it('answers from the caches, only the namespace asked for, without asking the apiserver', async () => {
    const reader = cachedClusterReader(caches(), counting);
    expect((await reader.scaledObjects('shop')).map((so) => so.metadata.name)).toEqual(['orders']);
    expect(await reader.hpas('shop')).toEqual([]);
    expect(requests).toEqual([]);
  });

  it.each([
    { name: 'caches not filled yet', overrides: { synced: () => false } },
    { name: 'a namespace the operator does not watch', overrides: { covers: (ns: string) => ns === 'bank' } },
  ])('reads nothing for $name (the check fails open)', async ({ overrides }) => {
    expect(await cachedClusterReader(caches(overrides), counting).scaledObjects('shop')).toEqual([]);
  });

  it('refuses, without looking anything up, an object that names another namespace than the request', async () => {
    const looked: string[] = [];
    const reader = cachedClusterReader(caches({ scaledObjects: { list: () => (looked.push('list'), []) } }), counting);
    const handler = createKedaAdmissionHandler(createKedaValidator(), reader);
    const request: AdmissionRequest = {
      uid: '1',
      kind: { group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject' },
      operation: 'CREATE',
      namespace: 'shop',
      object: scaledObject('bank', 'probe', 'web'),
    };
    const verdict = await handler(request);
    expect(verdict).toMatchObject({ allowed: false, code: 400 });
    expect(JSON.stringify(verdict)).not.toContain('ledger');
    expect(looked).toEqual([]);
  });

  it("a review in one namespace never names another namespace's ScaledObject", async () => {
    const handler = createKedaAdmissionHandler(createKedaValidator(), cachedClusterReader(caches(), counting));
    const request: AdmissionRequest = {
      uid: '2',
      kind: { group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject' },
      operation: 'CREATE',
      namespace: 'shop',
      object: scaledObject('shop', 'second', 'web'),
    };
    const verdict = await handler(request);
    expect(verdict).toMatchObject({ allowed: false });
    expect(JSON.stringify(verdict)).toContain("'orders'");
    expect(JSON.stringify(verdict)).not.toContain('ledger');
  });
});
