import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateServingBundle, type ServingBundle } from '../certificates/index.js';
import { createMetricsHandler } from './handler.js';
import { UpstreamForwarder, mergeResources, resourcesOf } from './forwarder.js';
import { MetricOwnership } from './ownership.js';
import { MetricsApiServer } from './server.js';
import { UpstreamClient, UpstreamHealth, serviceUrl, tokenFromFile } from './upstream.js';

const silent = pino({ level: 'silent' });
const base = '/apis/external.metrics.k8s.io/v1beta1';

/** An HTTPS server on 127.0.0.1 playing the other adapter: records what it is asked, answers per path. */
async function startAdapter(
  serving: ServingBundle,
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number; seen: { url: string; authorization: string | undefined }[] }> {
  const seen: { url: string; authorization: string | undefined }[] = [];
  const server = createServer({ key: serving.privateKeyPem, cert: serving.certificatePem }, (req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

function get(port: number, path: string, ca: string): Promise<{ status: number; body: string; contentType: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: 'localhost', ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: res.headers['content-type'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('forwarding to an upstream metrics server', () => {
  let serving: ServingBundle;
  let adapter: Awaited<ReturnType<typeof startAdapter>>;
  let swell: MetricsApiServer;
  let denied: Set<string>;
  const ownership = new MetricOwnership();

  beforeAll(async () => {
    serving = await generateServingBundle({ serviceName: 'adapter', namespace: 'monitoring' }, new Date());
    adapter = await startAdapter(serving, (req, res) => {
      if (req.url === base) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            kind: 'APIResourceList',
            resources: [
              { name: 'queue_depth', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] },
              { name: 's0-redis-orders', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] },
              { bogus: true },
            ],
          }),
        );
        return;
      }
      if (req.url?.includes('/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404,"reason":"NotFound"}');
        return;
      }
      // Written in two pieces with a pause between them: the client must get both, streamed.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"kind":"ExternalMetricValueList","items":[{"metricName":"queue_depth",');
      setTimeout(() => res.end('"value":"42"}]}'), 50);
    });
    ownership.upsert({ metadata: { namespace: 'shop', name: 'orders' }, status: { externalMetricNames: ['s0-redis-orders'] } });
    const forwarder = new UpstreamForwarder({
      client: new UpstreamClient({
        target: { url: `https://127.0.0.1:${adapter.port}`, caPem: serving.caPem, serverName: 'localhost', token: () => Promise.resolve('swell-sa-token') },
      }),
      ownership,
      log: silent,
    });
    denied = new Set(['secret_metric']);
    const handler = createMetricsHandler({
      source: { getMetric: () => Promise.resolve({ ok: true, value: 7, timestamp: new Date(0) }) },
      authenticator: { authenticate: () => Promise.resolve({ ok: true, via: 'front-proxy', user: { username: 'hpa', groups: [], extra: {} } }) },
      authorizer: {
        authorize: (_user, attributes) =>
          Promise.resolve(denied.has(attributes.resource) ? { allowed: false, reason: 'no rule' } : { allowed: true, reason: '' }),
      },
      log: silent,
      notReadyReason: () => undefined,
      upstream: forwarder,
    });
    swell = await MetricsApiServer.start({ handler, servingCertificate: serving, log: silent, host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await swell.close(0);
    adapter.server.closeAllConnections();
    adapter.server.close();
  });

  it('answers a metric a ScaledObject names itself, without asking the adapter', async () => {
    const before = adapter.seen.length;
    const reply = await get(
      swell.port,
      `${base}/namespaces/shop/s0-redis-orders?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=orders')}`,
      serving.caPem,
    );
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ items: [{ metricName: 's0-redis-orders', value: '7' }] });
    expect(adapter.seen.length).toBe(before);
  });

  it('forwards any other metric with its namespace, name and selector, as swell, and streams the answer back', async () => {
    const path = `${base}/namespaces/shop/queue_depth?labelSelector=${encodeURIComponent('queue=orders')}`;
    const reply = await get(swell.port, path, serving.caPem);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ items: [{ metricName: 'queue_depth', value: '42' }] });
    expect(adapter.seen.at(-1)).toEqual({ url: path, authorization: 'Bearer swell-sa-token' });
  });

  it("passes the adapter's own errors through unchanged", async () => {
    const reply = await get(swell.port, `${base}/namespaces/shop/missing`, serving.caPem);
    expect(reply.status).toBe(404);
    expect(reply.body).toContain('NotFound');
  });

  it('refuses an unauthorised user before anything is forwarded', async () => {
    const before = adapter.seen.length;
    const reply = await get(swell.port, `${base}/namespaces/shop/secret_metric`, serving.caPem);
    expect(reply.status).toBe(403);
    expect(adapter.seen.length).toBe(before);
  });

  it("lists swell's metrics and the adapter's in discovery, each name once", async () => {
    const reply = await get(swell.port, base, serving.caPem);
    const names = (JSON.parse(reply.body) as { resources: { name: string }[] }).resources.map((r) => r.name);
    expect(names).toEqual(['externalmetrics', 's0-redis-orders', 'queue_depth']);
  });

  it('answers 503 for upstream metrics only when the adapter is down, and keeps serving its own', async () => {
    const closed = await startAdapter(serving, (_req, res) => res.end());
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const handler = createMetricsHandler({
      source: { getMetric: () => Promise.resolve({ ok: true, value: 3, timestamp: new Date(0) }) },
      authenticator: { authenticate: () => Promise.resolve({ ok: true, via: 'front-proxy', user: { username: 'hpa', groups: [], extra: {} } }) },
      authorizer: { authorize: () => Promise.resolve({ allowed: true, reason: '' }) },
      log: silent,
      notReadyReason: () => undefined,
      upstream: new UpstreamForwarder({
        client: new UpstreamClient({ target: { url: `https://127.0.0.1:${closed.port}`, token: () => Promise.resolve(undefined) } }),
        ownership,
        log: silent,
      }),
    });
    const request = (url: string) =>
      handler({
        method: 'GET',
        url,
        connection: {},
        peerCertificate: () => ({ presented: false, authorized: false, commonName: '', validUntil: 0 }),
        headers: {},
        signal: new AbortController().signal,
      });
    const upstreamMetric = await request(`${base}/namespaces/shop/queue_depth`);
    expect(upstreamMetric.status).toBe(503);
    expect('json' in upstreamMetric && (upstreamMetric.json as { message: string }).message).toMatch(
      /queue_depth" is served by the upstream metrics server https:\/\/127\.0\.0\.1:\d+, which is unavailable: .*ECONNREFUSED/,
    );
    const own = await request(`${base}/namespaces/shop/s0-redis-orders?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=orders')}`);
    expect(own.status).toBe(200);
    const discovery = await request(base);
    expect(discovery.status).toBe(200);
  });
});

describe('upstream helpers', () => {
  it.each([
    ['monitoring/prometheus-adapter', 'https://prometheus-adapter.monitoring.svc:443'],
    ['monitoring/prometheus-adapter:6443', 'https://prometheus-adapter.monitoring.svc:6443'],
  ])('serviceUrl(%s) = %s', (reference, url) => expect(serviceUrl(reference)).toBe(url));

  it.each(['prometheus-adapter', 'monitoring/Adapter', 'a/b:0', 'a/b:70000', 'a/b/c'])('serviceUrl rejects %s', (reference) => {
    expect(() => serviceUrl(reference)).toThrow(/not a Service reference/);
  });

  it('merges resource lists, the first list winning a name', () => {
    const r = (name: string, kind = 'ExternalMetricValueList') => ({ name, singularName: '', namespaced: true, kind, verbs: ['get'] });
    expect(mergeResources([r('a'), r('b')], [r('b', 'Other'), r('c')])).toEqual([r('a'), r('b'), r('c')]);
  });

  it('rejects a discovery answer without a resources list', () => {
    expect(() => resourcesOf({ kind: 'Status' })).toThrow(/no resources list/);
  });

  it('reads a token file again only after a minute', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swell-token-'));
    let now = 0;
    const token = tokenFromFile(join(dir, 'token'), () => now);
    expect(await token()).toBeUndefined();
    await writeFile(join(dir, 'token'), 'first\n');
    now = 59_999;
    expect(await token()).toBeUndefined();
    now = 60_000;
    expect(await token()).toBe('first');
  });
});

describe('UpstreamHealth', () => {
  it('lets everything through while the adapter answers, fails fast after a failure, and probes one at a time', () => {
    let now = 0;
    const health = new UpstreamHealth(() => now, 1_000);
    const steps: [string, () => unknown, unknown][] = [
      ['healthy', () => health.admit().ok, true],
      ['fails', () => health.failed('connect ECONNREFUSED'), undefined],
      ['right after', () => health.admit(), { ok: false, message: 'connect ECONNREFUSED (not answering; trying again every 1000 ms)' }],
      ['999 ms later', () => ((now = 999), health.admit().ok), false],
      ['1 s later: one probe', () => ((now = 1_000), health.admit().ok), true],
      ['while it probes', () => health.admit().ok, false],
      ['the probe fails too', () => health.failed('no answer within 10000 ms'), undefined],
      ['after it', () => health.admit().ok, false],
      ['another probe', () => ((now = 2_000), health.admit().ok), true],
      ['it answers', () => health.succeeded(), undefined],
      ['everything again', () => [health.admit().ok, health.admit().ok], [true, true]],
    ];
    for (const [step, act, expected] of steps) expect(act(), step).toEqual(expected);
  });
});
