import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../operator/kube-client.js';
import { kubeClusterReader } from './keda-validation.js';

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
