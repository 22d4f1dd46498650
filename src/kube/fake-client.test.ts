import { describe, expect, it } from 'vitest';
import { apiStatusReason, isConflict } from './errors.js';
import { FakeKubeClient } from './fake-client.js';
import type { HttpMethod } from './client.js';

const path = '/apis/apps/v1/namespaces/app/deployments/web';

function seeded() {
  const client = new FakeKubeClient();
  client.put(path, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas: 2 } });
  const version = (client.get(path)?.metadata as { resourceVersion: string }).resourceVersion;
  return { client, version };
}

describe('FakeKubeClient resourceVersion preconditions', () => {
  it.each<[string, HttpMethod, string, (current: string) => unknown, boolean]>([
    ['PUT with the current version', 'PUT', '', (rv) => ({ metadata: { name: 'web', resourceVersion: rv }, spec: { replicas: 5 } }), true],
    ['PUT with a stale version', 'PUT', '', () => ({ metadata: { name: 'web', resourceVersion: '1' }, spec: { replicas: 5 } }), false],
    ['PUT without a version (unconditional)', 'PUT', '', () => ({ metadata: { name: 'web' }, spec: { replicas: 5 } }), true],
    ['merge PATCH with the current version', 'PATCH', '', (rv) => ({ metadata: { resourceVersion: rv }, spec: { replicas: 5 } }), true],
    ['merge PATCH with a stale version', 'PATCH', '', () => ({ metadata: { resourceVersion: '1' }, spec: { replicas: 5 } }), false],
    ['merge PATCH without a version', 'PATCH', '', () => ({ spec: { replicas: 5 } }), true],
    ['status PATCH with a stale version', 'PATCH', '/status', () => ({ metadata: { resourceVersion: '1' }, status: { replicas: 5 } }), false],
    ['scale PATCH with a stale version', 'PATCH', '/scale', () => ({ metadata: { resourceVersion: '1' }, spec: { replicas: 5 } }), false],
  ])('%s', async (_name, method, sub, body, applies) => {
    const { client, version } = seeded();
    const before = structuredClone(client.get(path));
    const answer = client.request(method, `${path}${sub}`, { body: body(version) });
    if (applies) {
      await answer;
      expect((client.get(path)?.metadata as { resourceVersion: string }).resourceVersion).not.toBe(version);
      return;
    }
    const error = await answer.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isConflict(error)).toBe(true);
    expect(apiStatusReason(error)).toBe('Conflict');
    expect(client.get(path)).toEqual(before);
  });
});

describe('FakeKubeClient reads', () => {
  it.each([
    ['a namespaced object', '/apis/apps/v1/namespaces/app/deployments/gone'],
    ['a core namespaced object', '/api/v1/namespaces/app/configmaps/gone'],
    ['a cluster-scoped object', '/apis/apiregistration.k8s.io/v1/apiservices/gone'],
    ['a namespace', '/api/v1/namespaces/gone'],
  ])('answers 404 for %s that does not exist', async (_name, missing) => {
    await expect(new FakeKubeClient().request('GET', missing)).rejects.toMatchObject({ code: 404 });
  });

  it.each([
    ['namespaced', '/apis/apps/v1/namespaces/app/deployments', 1],
    ['across namespaces', '/api/v1/namespaces', 0],
  ])('lists a collection (%s)', async (_name, collection, count) => {
    const { client } = seeded();
    await expect(client.request('GET', collection)).resolves.toMatchObject({ items: { length: count } });
  });
});
