import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonPointerSegment, patchCustomObject, type CustomObjectRef } from './patch.js';

interface Seen {
  method?: string;
  path?: string;
  contentType?: string;
  body?: unknown;
}

let seen: Seen = {};
let server: Server;
let api: CustomObjectsApi;

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen = { method: request.method, path: request.url, contentType: request.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end('{"kind":"ScaledObject"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'local', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'u' }],
    currentContext: 'local',
  });
  api = config.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const scaledObject: CustomObjectRef = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects', namespace: 'apps', name: 'worker' };

describe('patchCustomObject', () => {
  it.each([
    ['merge', undefined, scaledObject, '/apis/keda.sh/v1alpha1/namespaces/apps/scaledobjects/worker', 'application/merge-patch+json'],
    ['merge', 'status', scaledObject, '/apis/keda.sh/v1alpha1/namespaces/apps/scaledobjects/worker/status', 'application/merge-patch+json'],
    ['json', undefined, scaledObject, '/apis/keda.sh/v1alpha1/namespaces/apps/scaledobjects/worker', 'application/json-patch+json'],
    [
      'merge',
      undefined,
      { group: 'keda.sh', version: 'v1alpha1', plural: 'clustertriggerauthentications', name: 'shared' },
      '/apis/keda.sh/v1alpha1/clustertriggerauthentications/shared',
      'application/merge-patch+json',
    ],
    [
      'json',
      'status',
      { group: 'keda.sh', version: 'v1alpha1', plural: 'clustertriggerauthentications', name: 'shared' },
      '/apis/keda.sh/v1alpha1/clustertriggerauthentications/shared/status',
      'application/json-patch+json',
    ],
  ] as const)('sends a %s patch (subresource %s) with its content type', async (kind, subresource, ref, path, contentType) => {
    const body = kind === 'merge' ? { spec: { maxReplicaCount: 5 } } : [{ op: 'replace' as const, path: '/spec/maxReplicaCount', value: 5 }];
    await patchCustomObject(api, ref, kind, body, subresource);
    expect(seen).toEqual({ method: 'PATCH', path, contentType, body });
  });
});

describe('jsonPointerSegment', () => {
  it.each([
    ['autoscaling.keda.sh/paused', 'autoscaling.keda.sh~1paused'],
    ['a~b/c', 'a~0b~1c'],
    ['plain', 'plain'],
  ])('escapes %s as %s', (segment, escaped) => {
    expect(jsonPointerSegment(segment)).toBe(escaped);
  });
});
