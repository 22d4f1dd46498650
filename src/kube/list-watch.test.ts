import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WatchEvent } from '../controller/list-watch-source.js';
import { createHttpKubeClient, type KubeWatchClient } from './client.js';
import { KubeApiError, apiStatusCode, isGone } from './errors.js';
import { createKubeListWatchSource } from './list-watch.js';

type Handler = (url: URL, response: ServerResponse) => void;
let handler: Handler = (_url, response) => response.end();
const requests: URL[] = [];
const authorizations: (string | undefined)[] = [];
let connections = 0;
let server: Server;
let client: KubeWatchClient;

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(url);
    authorizations.push(request.headers.authorization);
    handler(url, response);
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'local', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'u' }],
    currentContext: 'local',
  });
  client = createHttpKubeClient(config);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

const configMap = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

describe('createKubeListWatchSource', () => {
  it('lists page by page with the selectors, restoring kind and apiVersion on items', async () => {
    requests.length = 0;
    handler = (url, response) => {
      const first = !url.searchParams.get('continue');
      json(response, 200, {
        apiVersion: 'v1',
        kind: 'ConfigMapList',
        metadata: first ? { resourceVersion: '10', continue: 'page-2' } : { resourceVersion: '11' },
        items: first ? [configMap('a', '5'), configMap('b', '6')] : [configMap('c', '7')],
      });
    };
    const source = createKubeListWatchSource(client, '/api/v1/namespaces/ns/configmaps');
    const result = await source.list({ labelSelector: 'app=x' }, new AbortController().signal);
    expect(result.resourceVersion).toBe('11');
    expect(result.items.map((i) => [i.kind, i.apiVersion, i.metadata?.name])).toEqual([
      ['ConfigMap', 'v1', 'a'],
      ['ConfigMap', 'v1', 'b'],
      ['ConfigMap', 'v1', 'c'],
    ]);
    expect(requests.map((r) => [r.searchParams.get('labelSelector'), r.searchParams.get('limit'), r.searchParams.get('continue')])).toEqual([
      ['app=x', '500', null],
      ['app=x', '500', 'page-2'],
    ]);
  });

  it('turns an error Status into an error carrying code, reason and message', async () => {
    handler = (_url, response) => json(response, 403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'configmaps is forbidden' });
    const source = createKubeListWatchSource(client, '/api/v1/configmaps');
    const error = await source.list({}, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(apiStatusCode(error)).toBe(403);
    expect((error as Error).message).toBe('GET /api/v1/configmaps: 403 Forbidden: configmaps is forbidden');
  });

  it('streams watch events with the watch parameters and reports a clean end', async () => {
    requests.length = 0;
    handler = (_url, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write(`${JSON.stringify({ type: 'ADDED', object: configMap('a', '12') })}\n`);
      response.write('this line is not json\n');
      response.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '13' } } })}\n`);
      response.end(`${JSON.stringify({ type: 'DELETED', object: configMap('a', '14') })}\n`);
    };
    const source = createKubeListWatchSource(client, '/apis/keda.sh/v1alpha1/scaledobjects');
    const events: WatchEvent<KubernetesObject>[] = [];
    const closed = await new Promise<unknown>((resolve) => {
      void source.watch(
        { resourceVersion: '11', allowWatchBookmarks: true, timeoutSeconds: 321, fieldSelector: 'metadata.name=a' },
        (e) => events.push(e),
        resolve,
      );
    });
    expect(closed).toBeNull();
    expect(events.map((e) => `${e.type} ${e.object.metadata?.resourceVersion}`)).toEqual(['ADDED 12', 'BOOKMARK 13', 'DELETED 14']);
    const query = Object.fromEntries(requests[0]!.searchParams);
    expect(requests[0]!.pathname).toBe('/apis/keda.sh/v1alpha1/scaledobjects');
    expect(query).toEqual({ watch: 'true', resourceVersion: '11', allowWatchBookmarks: 'true', timeoutSeconds: '321', fieldSelector: 'metadata.name=a' });
  });

  it('reports a 410 answer to a watch as Gone', async () => {
    handler = (_url, response) => json(response, 410, { kind: 'Status', code: 410, reason: 'Expired' });
    const source = createKubeListWatchSource(client, '/api/v1/configmaps');
    const closed = await new Promise<unknown>((resolve) => {
      void source.watch({ resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 300 }, () => {}, resolve);
    });
    expect(isGone(closed)).toBe(true);
  });

  it('lists over one kept-alive connection with the kubeconfig credentials', async () => {
    handler = (url, response) =>
      json(response, 200, {
        kind: 'ConfigMapList',
        metadata: {
          resourceVersion: '3',
          ...(url.searchParams.get('continue') === '2' ? {} : { continue: String(Number(url.searchParams.get('continue') ?? 0) + 1) }),
        },
        items: [],
      });
    authorizations.length = 0;
    const before = connections;
    await createKubeListWatchSource(client, '/api/v1/configmaps').list({}, new AbortController().signal);
    await createKubeListWatchSource(client, '/api/v1/secrets').list({}, new AbortController().signal);
    expect(authorizations).toEqual(Array(6).fill('Bearer secret-token'));
    expect(connections - before).toBeLessThanOrEqual(1);
  });

  it('ends a watch when asked and reports the end once, as clean', async () => {
    handler = (_url, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.write(`${JSON.stringify({ type: 'ADDED', object: configMap('a', '12') })}\n`);
    };
    const source = createKubeListWatchSource(client, '/api/v1/configmaps');
    const closes: unknown[] = [];
    const first = new Promise<void>((resolve) => {
      void source
        .watch(
          { resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 300 },
          () => resolve(),
          (e) => closes.push(e),
        )
        .then((stop) => first.then(stop));
    });
    await first;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closes).toEqual([null]);
  });

  it('rejects a path with a query string or without a leading slash', () => {
    expect(() => createKubeListWatchSource(client, '/api/v1/configmaps?watch=1')).toThrow(/absolute path without a query/);
    expect(() => createKubeListWatchSource(client, 'api/v1/configmaps')).toThrow(/absolute path without a query/);
  });
});
