import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateServingBundle, type ServingBundle } from '../certificates/bundle.js';
import { createSystemClock, type Clock } from '../controller/clock.js';
import { FakeClock } from '../controller/fake-clock.js';
import type { AdmissionHandler, AdmissionRequest } from './admission.js';
import { WebhookServer, type WebhookRoute } from './server.js';

const identity = { serviceName: 'swell-webhooks', namespace: 'swell', ipAddresses: ['127.0.0.1'] };
let bundle: ServingBundle;

beforeAll(async () => {
  bundle = await generateServingBundle(identity, new Date());
});

const servers: WebhookServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

async function start(routes: WebhookRoute[], handlerTimeoutMs?: number, clock: Clock = createSystemClock()) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const server = await WebhookServer.start({
    routes,
    servingCertificate: bundle,
    log,
    clock,
    host: '127.0.0.1',
    port: 0,
    ...(handlerTimeoutMs ? { handlerTimeoutMs } : {}),
  });
  servers.push(server);
  return { server, lines };
}

interface Answer {
  status: number;
  text: string;
  peerCertificate: string;
}

function send(port: number, path: string, options: { method?: string; body?: string; ca?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'POST',
        ca: options.ca ?? bundle.caPem,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (response) => {
        const chunks: Buffer[] = [];
        const peer = (response.socket as TLSSocket).getPeerX509Certificate()?.toString() ?? '';
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), peerCertificate: peer }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

function reviewOf(request: Partial<AdmissionRequest> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'app',
      object: { metadata: { name: 'p' } },
      ...request,
    },
  });
}

interface ReviewResponse {
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; patchType?: string; patch?: string; warnings?: string[] };
}

const route = (path: string, handler: AdmissionHandler, kind: WebhookRoute['kind'] = 'validating'): WebhookRoute => ({ path, kind, handler });

describe('WebhookServer AdmissionReview round trip', () => {
  it.each<[string, AdmissionHandler, WebhookRoute['kind'], ReviewResponse['response']]>([
    ['allowed', () => Promise.resolve({ allowed: true }), 'validating', { uid: 'uid-1', allowed: true }],
    [
      'denied with a message',
      () => Promise.resolve({ allowed: false, message: 'spec.triggers[0]: unknown type "nope"', reason: 'Invalid', code: 422 }),
      'validating',
      {
        uid: 'uid-1',
        allowed: false,
        status: { code: 422, message: 'spec.triggers[0]: unknown type "nope"', reason: 'Invalid' },
      } as ReviewResponse['response'],
    ],
    [
      'allowed with a patch',
      () => Promise.resolve({ allowed: true, patch: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }] }),
      'mutating',
      {
        uid: 'uid-1',
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }])).toString('base64'),
      },
    ],
    [
      'a throwing validating handler allows, saying it did not validate',
      () => Promise.reject(new Error('cache not synced')),
      'validating',
      { uid: 'uid-1', allowed: true, warnings: ['swell webhook /review failed, object not validated: cache not synced'] },
    ],
    [
      'a throwing mutating handler allows the object unchanged',
      () => Promise.reject(new Error('boom')),
      'mutating',
      { uid: 'uid-1', allowed: true, warnings: ['swell webhook /review failed, object left unchanged: boom'] },
    ],
  ])('%s', async (_name, handler, kind, expected) => {
    const { server } = await start([route('/review', handler, kind)]);
    const answer = await send(server.port, '/review', { body: reviewOf() });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: expected });
  });

  it('hands the handler the request as sent, and routes by path', async () => {
    const seen: string[] = [];
    const { server } = await start([
      route('/a', (r) => (seen.push(`a ${r.operation} ${r.namespace}`), Promise.resolve({ allowed: true }))),
      route('/b', (r) => (seen.push(`b ${r.operation} ${r.namespace}`), Promise.resolve({ allowed: true }))),
    ]);
    await send(server.port, '/b?timeout=10s', { body: reviewOf({ operation: 'UPDATE' }) });
    expect(seen).toEqual(['b UPDATE app']);
  });

  it('answers "allowed" with a warning when the handler decides nothing in time, exactly at the timeout on the clock, and logs the webhook and uid', async () => {
    const clock = new FakeClock();
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const { server, lines } = await start([route('/slow', () => (started(), new Promise(() => undefined)))], 8_000, clock);
    let text: string | undefined;
    const answered = send(server.port, '/slow', { body: reviewOf() }).then((a) => (text = a.text));
    await handlerStarted;
    await clock.advance(7_999);
    expect(text).toBeUndefined();
    await clock.advance(1);
    await answered;
    const answer = JSON.parse(text ?? '') as ReviewResponse;
    expect(answer.response).toEqual({
      uid: 'uid-1',
      allowed: true,
      warnings: ['swell webhook /slow failed, object not validated: no decision within 8000 ms'],
    });
    expect(lines.find((l) => l.msg === 'admission handler failed; allowing the request unchanged')).toMatchObject({ webhook: '/slow', uid: 'uid-1' });
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('WebhookServer bad requests', () => {
  it.each<[string, string, { method?: string; body?: string }, number, string]>([
    ['a body that is not JSON', '/review', { body: '{"apiVersion": ' }, 400, 'not an AdmissionReview: body is not JSON'],
    [
      'JSON that is not an AdmissionReview',
      '/review',
      { body: JSON.stringify({ kind: 'Pod' }) },
      400,
      'not an AdmissionReview: kind must be "AdmissionReview"',
    ],
    ['a review without a uid', '/review', { body: reviewOf({ uid: '' }) }, 400, 'not an AdmissionReview: request.uid is missing'],
    ['an unknown path', '/nowhere', { body: reviewOf() }, 404, 'no webhook at /nowhere'],
    ['a GET of a webhook', '/review', { method: 'GET' }, 405, 'admission reviews are POSTed'],
    ['the health check', '/healthz', { method: 'GET' }, 200, 'ok'],
  ])('%s', async (_name, path, options, status, text) => {
    let calls = 0;
    const { server } = await start([route('/review', () => (calls++, Promise.resolve({ allowed: true })))]);
    const answer = await send(server.port, path, options);
    expect({ status: answer.status, text: answer.text }).toEqual({ status, text });
    expect(calls).toBe(0);
    // The server is still there for the next review.
    expect((await send(server.port, '/review', { body: reviewOf() })).status).toBe(200);
  });

  it('does not echo the body of a malformed request', async () => {
    const { server } = await start([route('/review', () => Promise.resolve({ allowed: true }))]);
    const answer = await send(server.port, '/review', { body: 'password=hunter2' });
    expect(answer.status).toBe(400);
    expect(answer.text).not.toContain('hunter2');
  });
});

describe('WebhookServer certificates and shutdown', () => {
  it('serves a renewed certificate to new connections', async () => {
    const { server } = await start([route('/review', () => Promise.resolve({ allowed: true }))]);
    const renewed = await generateServingBundle(identity, new Date());
    server.setServingCertificate(renewed);
    const answer = await send(server.port, '/healthz', { method: 'GET', ca: renewed.caPem });
    expect(answer.status).toBe(200);
    expect(answer.peerCertificate).toBe(new X509Certificate(renewed.certificatePem).toString());
  });

  it('refuses connections once closed', async () => {
    const { server } = await start([route('/review', () => Promise.resolve({ allowed: true }))]);
    const port = server.port;
    await servers.splice(0)[0]?.close(100);
    await expect(send(port, '/healthz', { method: 'GET' })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('reports a port already taken instead of hanging', async () => {
    const { server } = await start([]);
    const log = pino({ level: 'silent' });
    await expect(
      WebhookServer.start({ routes: [], servingCertificate: bundle, log, clock: createSystemClock(), host: '127.0.0.1', port: server.port }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
