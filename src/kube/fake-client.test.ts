import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from '../controller/fake-clock.js';
import { Informer } from '../controller/informer.js';
import { createLogger } from '../log.js';
import { apiStatusReason, isConflict } from './errors.js';
import { FakeKubeClient } from './fake-client.js';
import { createKubeListWatchSource } from './list-watch.js';
import type { HttpMethod, WatchLine } from './client.js';

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

const pods = '/api/v1/namespaces/app/pods';

function cluster() {
  const client = new FakeKubeClient();
  const pod = (namespace: string, name: string, labels: Record<string, string>, nodeName?: string) =>
    client.put(`/api/v1/namespaces/${namespace}/pods/${name}`, { metadata: { name, namespace, labels }, spec: nodeName ? { nodeName } : {} });
  pod('app', 'web-1', { app: 'web', tier: 'regular' }, 'node-a');
  pod('app', 'web-2', { app: 'web', tier: 'burst' }, 'virtual');
  pod('app', 'worker-1', { app: 'worker' });
  pod('other', 'web-3', { app: 'web', tier: 'regular' }, 'node-a');
  client.put('/api/v1/namespaces/app/configmaps/web', { metadata: { name: 'web', namespace: 'app', labels: { app: 'web' } } });
  return client;
}

async function names(client: FakeKubeClient, path: string, query: Record<string, string>): Promise<string[]> {
  const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', path, { query });
  return list.items.map((i) => i.metadata.name).sort();
}

describe('FakeKubeClient list selectors', () => {
  it.each<[string, string, Record<string, string>, string[]]>([
    ['no selector lists the namespace only', pods, {}, ['web-1', 'web-2', 'worker-1']],
    ['a collection without namespace spans all', '/api/v1/pods', {}, ['web-1', 'web-2', 'web-3', 'worker-1']],
    ['equality', pods, { labelSelector: 'app=web' }, ['web-1', 'web-2']],
    ['double equals', pods, { labelSelector: 'app==worker' }, ['worker-1']],
    ['inequality includes pods without the label', pods, { labelSelector: 'tier!=burst' }, ['web-1', 'worker-1']],
    ['set membership', pods, { labelSelector: 'tier in (burst, other)' }, ['web-2']],
    ['set exclusion', pods, { labelSelector: 'tier notin (burst)' }, ['web-1', 'worker-1']],
    ['existence', pods, { labelSelector: 'tier' }, ['web-1', 'web-2']],
    ['absence', pods, { labelSelector: '!tier' }, ['worker-1']],
    ['requirements are ANDed', pods, { labelSelector: 'app=web,tier in (regular)' }, ['web-1']],
    ['field metadata.name', pods, { fieldSelector: 'metadata.name=web-2' }, ['web-2']],
    ['field metadata.namespace across namespaces', '/api/v1/pods', { fieldSelector: 'metadata.namespace=other' }, ['web-3']],
    ['field spec.nodeName', '/api/v1/pods', { fieldSelector: 'spec.nodeName=node-a' }, ['web-1', 'web-3']],
    ['field inequality on a missing field', pods, { fieldSelector: 'spec.nodeName!=' }, ['web-1', 'web-2']],
    ['labels and fields together', '/api/v1/pods', { labelSelector: 'app=web', fieldSelector: 'spec.nodeName!=virtual,metadata.namespace==app' }, ['web-1']],
  ])('%s', async (_name, path, query, expected) => {
    expect(await names(cluster(), path, query)).toEqual(expected);
  });

  it('reads a selector written into the path', async () => {
    expect(await names(cluster(), `${pods}?labelSelector=${encodeURIComponent('app=worker')}`, {})).toEqual(['worker-1']);
  });

  it.each([
    ['labelSelector', 'app in (web'],
    ['labelSelector', 'bad key!=x=y'],
    ['fieldSelector', 'spec.nodeName'],
  ])('answers a malformed %s "%s" with 400', async (parameter, selector) => {
    const error = await cluster()
      .request('GET', pods, { query: { [parameter]: selector } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(apiStatusReason(error)).toBe('BadRequest');
  });

  it('gives the list the current resourceVersion', async () => {
    const client = cluster();
    const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', pods);
    const latest = Math.max(...[...client.objects.values()].map((o) => Number((o.metadata as { resourceVersion: string }).resourceVersion)));
    expect(Number(list.metadata.resourceVersion)).toBe(latest);
  });
});

describe('FakeKubeClient watch', () => {
  function watching(client: FakeKubeClient, path: string, query: Record<string, string>) {
    const seen: string[] = [];
    let closed: unknown = 'open';
    const stop = client.watch(
      path,
      query,
      (line) => seen.push(`${line.type} ${(line.object as { metadata: { name: string } }).metadata.name}`),
      (error) => (closed = error),
    );
    return { seen, stop, closed: () => closed };
  }

  it('starts with ADDED for every matching object when no resourceVersion is given', async () => {
    const client = cluster();
    const { seen } = watching(client, '/api/v1/pods', { labelSelector: 'app=web', fieldSelector: 'spec.nodeName=node-a' });
    await Promise.resolve();
    expect(seen.sort()).toEqual(['ADDED web-1', 'ADDED web-3']);
  });

  it('replays the changes after a listed resourceVersion, then streams new ones', async () => {
    const client = cluster();
    const { metadata } = await client.request<{ metadata: { resourceVersion: string } }>('GET', pods, { query: { labelSelector: 'app=web' } });
    await client.request('PATCH', `${pods}/web-1`, { body: { metadata: { annotations: { a: '1' } } } });
    const { seen } = watching(client, pods, { labelSelector: 'app=web', resourceVersion: metadata.resourceVersion });
    await client.request('POST', pods, { body: { metadata: { name: 'web-4', labels: { app: 'web' } } } });
    await client.request('POST', pods, { body: { metadata: { name: 'db-1', labels: { app: 'db' } } } });
    await client.request('DELETE', `${pods}/web-2`);
    expect(seen).toEqual(['MODIFIED web-1', 'ADDED web-4', 'DELETED web-2']);
  });

  it.each<[string, unknown, string[]]>([
    ['a label change out of the selector is a DELETED', [{ op: 'replace', path: '/metadata/labels/tier', value: 'burst' }], ['DELETED web-1']],
    ['a label change into the selector is an ADDED', [{ op: 'add', path: '/metadata/labels/tier', value: 'regular' }], ['ADDED worker-1']],
  ])('%s', async (_name, patch, expected) => {
    const client = cluster();
    const { seen } = watching(client, pods, { labelSelector: 'tier=regular', resourceVersion: '1000' });
    const target = expected[0]?.endsWith('web-1') ? 'web-1' : 'worker-1';
    await client.request('PATCH', `${pods}/${target}`, { body: patch, contentType: 'application/json-patch+json' });
    expect(seen).toEqual(expected);
  });

  it('answers a resourceVersion older than the kept history with 410 Expired, so the client lists again', async () => {
    const client = cluster();
    for (let i = 0; i < 2_005; i++) await client.request('PATCH', `${pods}/web-1`, { body: { metadata: { annotations: { n: String(i) } } } });
    const lines: WatchLine[] = [];
    let closed: unknown = 'open';
    await client.watch(
      pods,
      { resourceVersion: '3' },
      (line) => lines.push(line),
      (error) => (closed = error),
    );
    expect(lines).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) as unknown }]);
    expect(closed).toBeNull();
    expect(client.openWatches).toBe(0);
  });

  it('closes once, cleanly, when stopped', async () => {
    const client = cluster();
    const watch = watching(client, pods, {});
    const stop = await watch.stop;
    expect(client.openWatches).toBe(1);
    stop();
    stop();
    expect(watch.closed()).toBeNull();
    expect(client.openWatches).toBe(0);
    await client.request('DELETE', `${pods}/web-1`);
    expect(watch.seen).not.toContain('DELETED web-1');
  });
});

describe('FakeKubeClient JSON patch', () => {
  it('adds, replaces and removes, escaping ~1 in keys', async () => {
    const client = cluster();
    const patched = await client.request<{ metadata: { labels: Record<string, string> }; spec: { tolerations: unknown[] } }>('PATCH', `${pods}/web-1`, {
      body: [
        { op: 'add', path: '/metadata/labels/swell.dev~1tier', value: 'burst' },
        { op: 'remove', path: '/metadata/labels/tier' },
        { op: 'add', path: '/spec/tolerations', value: [{ key: 'a' }] },
        { op: 'add', path: '/spec/tolerations/-', value: { key: 'b' } },
        { op: 'replace', path: '/metadata/labels/app', value: 'api' },
      ],
      contentType: 'application/json-patch+json',
    });
    expect(patched.metadata.labels).toEqual({ app: 'api', 'swell.dev/tier': 'burst' });
    expect(patched.spec.tolerations).toEqual([{ key: 'a' }, { key: 'b' }]);
  });

  it('refuses a step on a missing path with 422 and leaves the object alone', async () => {
    const client = cluster();
    const before = structuredClone(client.get(`${pods}/web-1`));
    const error = await client
      .request('PATCH', `${pods}/web-1`, { body: [{ op: 'remove', path: '/metadata/ownerReferences' }], contentType: 'application/json-patch+json' })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(apiStatusReason(error)).toBe('Invalid');
    expect(client.get(`${pods}/web-1`)).toEqual(before);
  });
});

describe('FakeKubeClient behind the informer', () => {
  it('keeps an informer with selectors in step as objects enter and leave them', async () => {
    const client = cluster();
    const clock = new FakeClock();
    const informer = new Informer({
      name: 'pods',
      source: createKubeListWatchSource(client, '/api/v1/pods'),
      log: createLogger({ level: 'silent' }),
      labelSelector: 'app=web',
      fieldSelector: 'metadata.namespace=app',
      clock,
    });
    informer.start();
    await informer.synced();
    const cached = () => informer.keys().sort();
    expect(cached()).toEqual(['app/web-1', 'app/web-2']);
    await client.request('PATCH', `${pods}/web-2`, { body: { metadata: { labels: { app: 'api' } } } });
    await client.request('PATCH', `${pods}/worker-1`, { body: { metadata: { labels: { app: 'web' } } } });
    await client.request('POST', '/api/v1/namespaces/other/pods', { body: { metadata: { name: 'web-9', labels: { app: 'web' } } } });
    await client.request('POST', pods, { body: { metadata: { name: 'web-10', labels: { app: 'web' } } } });
    await flushMicrotasks();
    expect(cached()).toEqual(['app/web-1', 'app/web-10', 'app/worker-1']);
    await informer.stop();
  });
});

describe('FakeKubeClient reads of missing objects', () => {
  it.each([
    ['a namespaced object', '/apis/apps/v1/namespaces/app/deployments/gone'],
    ['a core namespaced object', '/api/v1/namespaces/app/configmaps/gone'],
    ['a cluster-scoped object', '/apis/apiregistration.k8s.io/v1/apiservices/gone'],
    ['a namespace', '/api/v1/namespaces/gone'],
  ])('answers 404 for %s that does not exist, as readOrUndefined expects', async (_name, missing) => {
    await expect(new FakeKubeClient().request('GET', missing)).rejects.toMatchObject({ code: 404 });
  });
});
