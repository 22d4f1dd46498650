import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate, type CertifiedKey } from '../pki/index.js';
import { createSystemClock } from '../controller/clock.js';
import { RequestAuthenticator } from './authenticator.js';
import { CachingAuthorizer } from './authorizer.js';
import { generateServingBundle, type ServingBundle } from '../certificates/index.js';
import { frontProxyTrust, parseRequestHeaderConfig, type FrontProxyTrust } from './front-proxy.js';
import { createMetricsHandler } from './handler.js';
import { MetricsApiServer } from './server.js';

const silent = pino({ level: 'silent' });
const identity = { serviceName: 'swell-metrics', namespace: 'swell-system' };
const metricPath = `/apis/external.metrics.k8s.io/v1beta1/namespaces/default/s0-queue?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=orders')}`;

let serving: ServingBundle;
const day = 86_400_000;
let proxyClient: CertifiedKey;
let foreignClient: CertifiedKey;
let expiredClient: CertifiedKey;
let strangerClient: CertifiedKey;
let serverOnlyClient: CertifiedKey;
let frontProxyCa: CertifiedKey;
let trust: FrontProxyTrust;
let server: MetricsApiServer;
/** Why the handler refused requests, from its log. */
const refusals: string[] = [];
const handlerLog = pino({ level: 'warn' }, { write: (line: string) => void refusals.push((JSON.parse(line) as { reason?: string }).reason ?? '') });

function trustFor(caPem: string): FrontProxyTrust {
  return frontProxyTrust(
    parseRequestHeaderConfig({
      'requestheader-client-ca-file': caPem,
      'requestheader-allowed-names': '["front-proxy-client"]',
      'requestheader-username-headers': '["X-Remote-User"]',
      'requestheader-group-headers': '["X-Remote-Group"]',
    }),
  );
}

interface Reply {
  status: number;
  body: string;
  reusedSocket: boolean;
  serverCertificate: string;
}

function get(path: string, options: { client?: CertifiedKey; agent?: Agent; ca?: string; headers?: Record<string, string | string[]> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        servername: 'localhost',
        ca: options.ca ?? serving.caPem,
        ...(options.client ? { cert: options.client.certificatePem, key: options.client.privateKeyPem } : {}),
        agent: options.agent ?? false,
        headers: options.headers ?? {},
      },
      (res) => {
        let body = '';
        const serverCertificate = (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reusedSocket: req.reusedSocket, serverCertificate }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  serving = await generateServingBundle(identity, new Date());
  frontProxyCa = await createCertificateAuthority({ commonName: 'front-proxy-ca' });
  const otherCa = await createCertificateAuthority({ commonName: 'other-ca' });
  proxyClient = await issueClientCertificate(frontProxyCa, { commonName: 'front-proxy-client' });
  foreignClient = await issueClientCertificate(otherCa, { commonName: 'front-proxy-client' });
  expiredClient = await issueClientCertificate(frontProxyCa, { commonName: 'front-proxy-client', now: new Date(Date.now() - 400 * day), validityDays: 30 });
  strangerClient = await issueClientCertificate(frontProxyCa, { commonName: 'someone-else' });
  serverOnlyClient = await issueServerCertificate(frontProxyCa, { commonName: 'front-proxy-client', dnsNames: ['front-proxy-client'] });
  trust = trustFor(frontProxyCa.certificatePem);
  const handler = createMetricsHandler({
    source: { getMetric: () => Promise.resolve({ ok: true, value: 42.25, timestamp: new Date() }) },
    authenticator: new RequestAuthenticator({ trust: () => trust, clock: createSystemClock() }),
    authorizer: new CachingAuthorizer({
      reviewer: (user) => Promise.resolve({ allowed: user.groups.includes('readers'), reason: 'test policy' }),
      clock: createSystemClock(),
    }),
    log: handlerLog,
    notReadyReason: () => undefined,
  });
  server = await MetricsApiServer.start({
    handler,
    servingCertificate: serving,
    clientCaPem: frontProxyCa.certificatePem,
    log: silent,
    host: '127.0.0.1',
    port: 0,
  });
});

afterAll(() => server?.close(100));

describe('MetricsApiServer over TLS', () => {
  const asReader = { 'X-Remote-User': 'hpa', 'X-Remote-Group': ['system:authenticated', 'readers'] };

  it('serves health checks to clients without a certificate', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok' });
  });

  it('serves a metric to the front proxy acting for an authorized user', async () => {
    const reply = await get(metricPath, { client: proxyClient, headers: asReader });
    expect(reply.status).toBe(200);
    expect((JSON.parse(reply.body) as { items: { value: string }[] }).items[0]?.value).toBe('42250m');
  });

  it('answers 403 when the proxied user may not read the metric', async () => {
    const reply = await get(metricPath, { client: proxyClient, headers: { 'X-Remote-User': 'mallory' } });
    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body)).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
  });

  it.each([
    ['no certificate', undefined, /^no client certificate$/],
    ['a certificate from another CA', () => foreignClient, /"front-proxy-client" is not signed by the front-proxy CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/],
    ['an expired certificate from the CA', () => expiredClient, /"front-proxy-client" has expired/],
    ['a certificate from the CA whose name is not allowed', () => strangerClient, /common name "someone-else" is not one of the allowed front-proxy names/],
    ['a server-only certificate from the CA', () => serverOnlyClient, /"front-proxy-client" is not a client certificate/],
  ])('answers 401 to a client with %s, whatever headers it sends', async (_, client, reason) => {
    refusals.length = 0;
    const reply = await get(metricPath, { ...(client ? { client: client() } : {}), headers: asReader });
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect(refusals).toEqual([expect.stringMatching(reason) as unknown]);
  });

  it('verifies new connections against a new front-proxy CA once it is set, and stops trusting the old one', async () => {
    const nextCa = await createCertificateAuthority({ commonName: 'next-front-proxy-ca' });
    const nextClient = await issueClientCertificate(nextCa, { commonName: 'front-proxy-client' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(metricPath, { client: proxyClient, agent, headers: asReader })).status).toBe(200);
    expect((await get(metricPath, { client: nextClient, headers: asReader })).status).toBe(401);
    const previous = trust;
    try {
      trust = trustFor(nextCa.certificatePem);
      server.setClientCa(nextCa.certificatePem);
      expect((await get(metricPath, { client: nextClient, headers: asReader })).status).toBe(200);
      refusals.length = 0;
      expect((await get(metricPath, { client: proxyClient, headers: asReader })).status).toBe(401);
      // A connection verified under the old CA, kept alive across the change, is not trusted any more either.
      expect((await get(metricPath, { client: proxyClient, agent, headers: asReader })).status).toBe(401);
      expect(refusals).toEqual([
        expect.stringMatching(/not signed by the front-proxy CA/) as unknown,
        expect.stringMatching(/not signed by the front-proxy CA|no longer trusted/) as unknown,
      ]);
    } finally {
      trust = previous;
      server.setClientCa(frontProxyCa.certificatePem);
      agent.destroy();
    }
  });

  it('swaps the serving certificate without dropping open connections', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get('/healthz', { agent });
    const next = await generateServingBundle(identity, new Date());
    server.setServingCertificate(next);
    const sameConnection = await get('/healthz', { agent });
    const fresh = await get('/healthz', { ca: next.caPem });
    agent.destroy();
    expect(sameConnection).toMatchObject({ status: 200, reusedSocket: true });
    expect(fresh.status).toBe(200);
    expect(fresh.serverCertificate).toBe(new X509Certificate(next.certificatePem).fingerprint256);
    expect(fresh.serverCertificate).not.toBe(before.serverCertificate);
  });

  it.each([
    ['before', 20],
    ['after', 300],
  ])('aborts the signal of a handler that first looks at it %s the client leaves', async (_, lookAfterMs) => {
    let sawAbort: (aborted: boolean) => void = () => {};
    const observed = new Promise<boolean>((resolve) => (sawAbort = resolve));
    const waiting = await MetricsApiServer.start({
      handler: (request) =>
        new Promise((resolve) => {
          setTimeout(() => {
            const signal = request.signal;
            if (signal.aborted) sawAbort(true);
            else signal.addEventListener('abort', () => sawAbort(true));
            setTimeout(() => {
              sawAbort(false);
              resolve({ status: 200, text: 'late' });
            }, 1_000);
          }, lookAfterMs);
        }),
      servingCertificate: serving,
      log: silent,
      host: '127.0.0.1',
      port: 0,
    });
    const req = request({ host: '127.0.0.1', port: waiting.port, path: '/healthz', servername: 'localhost', ca: serving.caPem, agent: false });
    req.on('error', () => {});
    req.end();
    setTimeout(() => req.destroy(), 150);
    expect(await observed).toBe(true);
    await waiting.close(0);
  });

  it('closes promptly, finishing in-flight requests and dropping kept-alive connections', async () => {
    let release: () => void = () => {};
    const slow = await MetricsApiServer.start({
      handler: () => new Promise((resolve) => (release = () => resolve({ status: 200, text: 'done' }))),
      servingCertificate: serving,
      log: silent,
      host: '127.0.0.1',
      port: 0,
    });
    const agent = new Agent({ keepAlive: true });
    const reply = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: slow.port, path: '/healthz', servername: 'localhost', ca: serving.caPem, agent }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    const closed = slow.close(10_000);
    release();
    expect(await reply).toEqual({ status: 200, connection: 'close', body: 'done' });
    await closed;
    agent.destroy();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
