import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpKubeClient, readOrUndefined, resourcePath, type KubeClient } from './client.js';
import { KubeApiError, isConflict, isNotFound } from './errors.js';

interface Seen {
  method?: string;
  url?: string;
  contentType?: string;
  authorization?: string;
  body?: unknown;
}

let seen: Seen = {};
let answer: { status: number; body: string } = { status: 200, body: '{}' };
let server: Server;
let client: KubeClient;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      seen = {
        method: request.method,
        url: request.url,
        contentType: request.headers['content-type'],
        authorization: request.headers.authorization,
        body: text ? JSON.parse(text) : undefined,
      };
      response.writeHead(answer.status, { 'Content-Type': 'application/json' });
      response.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = new KubeConfig();
  config.loadFromOptions({
    // A server URL with a path: requests go below it, as through a proxy.
    clusters: [{ name: 'local', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}/proxy/`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'u' }],
    currentContext: 'local',
  });
  client = createHttpKubeClient(config);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const worker = resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace: 'apps', name: 'worker' });

describe('createHttpKubeClient', () => {
  it.each([
    ['a merge patch', 'application/merge-patch+json', { spec: { maxReplicaCount: 5 } }],
    ['a JSON patch', 'application/json-patch+json', [{ op: 'replace', path: '/spec/maxReplicaCount', value: 5 }]],
    ['a strategic merge patch', 'application/strategic-merge-patch+json', { status: { phase: 'Running' } }],
  ] as const)('sends %s with its content type, the query and the credentials', async (_name, contentType, body) => {
    answer = { status: 200, body: '{"kind":"ScaledObject"}' };
    const result = await client.request('PATCH', `${worker}/status`, { body, contentType, query: { fieldManager: 'swell', dryRun: undefined } });
    expect(result).toEqual({ kind: 'ScaledObject' });
    expect(seen).toEqual({ method: 'PATCH', url: `/proxy${worker}/status?fieldManager=swell`, contentType, authorization: 'Bearer the-token', body });
  });

  it('sends JSON by default and no body when there is none', async () => {
    answer = { status: 201, body: '{}' };
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: 'n' } } });
    expect(seen).toMatchObject({ method: 'POST', contentType: 'application/json', body: { metadata: { name: 'n' } } });
    await client.request('DELETE', '/api/v1/namespaces/n');
    expect(seen).toMatchObject({ method: 'DELETE', contentType: undefined, body: undefined });
  });

  it('rejects a non-2xx answer with a KubeApiError carrying the Status', async () => {
    answer = { status: 409, body: JSON.stringify({ kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' }) };
    const error = await client.request('PUT', worker, { body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(isConflict(error)).toBe(true);
    expect((error as KubeApiError).reason).toBe('Conflict');
    expect((error as Error).message).toBe(`PUT ${worker}: 409 Conflict: the object has been modified`);
  });

  it('reads an absent object as undefined and passes other failures on', async () => {
    answer = { status: 404, body: JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' }) };
    await expect(readOrUndefined(client, worker)).resolves.toBeUndefined();
    answer = { status: 403, body: JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'forbidden' }) };
    const error = await readOrUndefined(client, worker).catch((e: unknown) => e);
    expect([isNotFound(error), (error as KubeApiError).code]).toEqual([false, 403]);
  });
});

describe('resourcePath', () => {
  it.each([
    [{ group: '', version: 'v1', resource: 'pods' }, '/api/v1/pods'],
    [{ group: '', version: 'v1', resource: 'pods', namespace: 'a b', name: 'p/1', subresource: 'status' }, '/api/v1/namespaces/a%20b/pods/p%2F1/status'],
    [
      { group: 'apps', version: 'v1', resource: 'deployments', namespace: 'ns', name: 'web', subresource: 'scale' },
      '/apis/apps/v1/namespaces/ns/deployments/web/scale',
    ],
  ])('builds %j as %s', (ref, path) => {
    expect(resourcePath(ref)).toBe(path);
  });
});
