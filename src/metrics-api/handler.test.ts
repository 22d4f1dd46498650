import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AccessDecision } from './authorizer.js';
import { createMetricsHandler, type MetricsHandlerOptions, type MetricsResponse } from './handler.js';
import type { ExternalMetricRequest, ExternalMetricResult, ExternalMetricsSource } from './source.js';
import type { AuthenticationResult } from './user.js';

const silent = pino({ level: 'silent' });
const at = new Date('2030-01-02T03:04:05.678Z');
const base = '/apis/external.metrics.k8s.io/v1beta1/namespaces';
const selector = (so: string) => `labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${so}`)}`;

/** An in-memory source: namespace/scaledObject → metric → value or failure. */
function memorySource(table: Record<string, Record<string, number | Error | 'hang'>>): ExternalMetricsSource & { requests: ExternalMetricRequest[] } {
  const requests: ExternalMetricRequest[] = [];
  return {
    requests,
    getMetric(request) {
      requests.push(request);
      const metrics = table[`${request.namespace}/${request.scaledObject}`];
      if (!metrics) return Promise.resolve<ExternalMetricResult>({ ok: false, reason: 'ScaledObjectNotFound', message: 'no such ScaledObject' });
      const value = metrics[request.metricName];
      if (value === undefined)
        return Promise.resolve<ExternalMetricResult>({ ok: false, reason: 'MetricNotFound', message: `known metrics: ${Object.keys(metrics).join(', ')}` });
      if (value === 'hang') return new Promise(() => {});
      if (value instanceof Error) return Promise.resolve<ExternalMetricResult>({ ok: false, reason: 'TriggerError', message: value.message });
      return Promise.resolve<ExternalMetricResult>({ ok: true, value, timestamp: at });
    },
  };
}

function handler(
  overrides: Partial<MetricsHandlerOptions> = {},
  identity: AuthenticationResult = { ok: true, via: 'front-proxy', user: { username: 'hpa', groups: [], extra: {} } },
) {
  const authorizations: string[] = [];
  const options: MetricsHandlerOptions = {
    source: memorySource({
      'default/orders': { 's0-redis-orders': 5.5, 's1-kafka-topic': new Error('kafka: broker 127.0.0.1:9092 unreachable'), 's2-slow': 'hang' },
    }),
    authenticator: { authenticate: () => Promise.resolve(identity) },
    authorizer: {
      authorize: (user, attributes) => {
        authorizations.push(`${user.username} ${attributes.verb} ${attributes.group}/${attributes.resource} in ${attributes.namespace}`);
        return Promise.resolve<AccessDecision>(attributes.resource === 'secret-metric' ? { allowed: false, reason: 'no rule' } : { allowed: true, reason: '' });
      },
    },
    log: silent,
    notReadyReason: () => undefined,
    ...overrides,
  };
  const handle = createMetricsHandler(options);
  const client = new AbortController();
  let signalReads = 0;
  const get = (url: string, method = 'GET') =>
    handle({
      method,
      url,
      connection: {},
      peerCertificate: () => ({ presented: false, authorized: false, commonName: '', validUntil: 0 }),
      headers: {},
      get signal() {
        signalReads += 1;
        return client.signal;
      },
    });
  return { get, authorizations, leave: () => client.abort(), signalReads: () => signalReads };
}

const json = (r: MetricsResponse) =>
  'jsonText' in r ? (JSON.parse(r.jsonText) as Record<string, unknown>) : 'json' in r ? (r.json as Record<string, unknown>) : {};

describe('metrics handler', () => {
  it('serves a metric as an ExternalMetricValueList with a milli quantity', async () => {
    const { get, authorizations } = handler();
    const response = await get(`${base}/default/s0-redis-orders?${selector('orders')}`);
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({
      kind: 'ExternalMetricValueList',
      apiVersion: 'external.metrics.k8s.io/v1beta1',
      metadata: {},
      items: [{ metricName: 's0-redis-orders', metricLabels: {}, timestamp: '2030-01-02T03:04:05Z', value: '5500m' }],
    });
    expect(authorizations).toEqual(['hpa get external.metrics.k8s.io/s0-redis-orders in default']);
  });

  // The HPA's plain selector is read without the selector parser; every other form must still go through it.
  it.each([
    ['scaledobject.keda.sh/name=orders', 'orders'],
    ['scaledobject.keda.sh/name==orders', 'orders'],
    ['scaledobject.keda.sh/name = orders', 'orders'],
    [' scaledobject.keda.sh/name=orders ', 'orders'],
    ['scaledobject.keda.sh/name=orders,app=web', 'orders'],
    ['app=web,scaledobject.keda.sh/name=orders', 'orders'],
    ['scaledobject.keda.sh/name=orders,scaledobject.keda.sh/name=other', 400],
    ['scaledobject.keda.sh/name=', 400],
    ['scaledobject.keda.sh/name=a=b', 400],
    ['scaledobject.keda.sh/name!=orders', 400],
    ['scaledobject.keda.sh/name=orders,env in (a,b)', 'orders'],
    ['scaledobject.keda.sh/names=orders', 400],
  ])('reads the ScaledObject from selector %j', async (labelSelector, expected) => {
    const source = memorySource({ 'default/orders': { m: 1 } });
    const { get } = handler({ source });
    const response = await get(`${base}/default/m?labelSelector=${encodeURIComponent(labelSelector)}`);
    if (typeof expected === 'number') expect(response.status).toBe(expected);
    else expect(source.requests.map((r) => r.scaledObject)).toEqual([expected]);
  });

  it('writes any metric name as valid JSON', async () => {
    const name = 's0-"quoted"\\back\u2028é';
    const source: ExternalMetricsSource = { getMetric: () => Promise.resolve({ ok: true, value: 2, timestamp: at }) };
    const { get } = handler({ source });
    const response = await get(`${base}/default/${encodeURIComponent(name)}?${selector('orders')}`);
    expect(json(response)).toMatchObject({ items: [{ metricName: name, value: '2' }] });
  });

  it('answers a metric read from memory without looking at the client connection', async () => {
    const { get, signalReads } = handler();
    expect((await get(`${base}/default/s0-redis-orders?${selector('orders')}`)).status).toBe(200);
    expect(signalReads()).toBe(0);
  });

  it('stops waiting for a slow source when the client leaves, and tells it to stop', async () => {
    const source = memorySource({ 'default/orders': { 's2-slow': 'hang' } });
    const { get, leave } = handler({ source });
    const pending = get(`${base}/default/s2-slow?${selector('orders')}`);
    leave();
    const response = await pending;
    expect(response.status).toBe(500);
    expect(json(response).message).toMatch(/the client went away/);
    expect(source.requests[0]?.signal?.aborted).toBe(true);
  });

  it.each([
    ['no selector', `${base}/default/s0-redis-orders`, 400, 'BadRequest', /scaledObject name is not specified/],
    [
      'a selector without the ScaledObject label',
      `${base}/default/s0-redis-orders?labelSelector=app%3Dx`,
      400,
      'BadRequest',
      /scaledObject name is not specified/,
    ],
    ['a malformed selector', `${base}/default/s0-redis-orders?labelSelector=a%3D1%2Ca%3D2`, 400, 'BadRequest', /both "1" and "2"/],
    ['an unknown ScaledObject', `${base}/default/s0-redis-orders?${selector('nope')}`, 404, 'NotFound', /ScaledObject default\/nope not found/],
    [
      'an unknown metric',
      `${base}/default/s9-x?${selector('orders')}`,
      404,
      'NotFound',
      /metric "s9-x" of ScaledObject default\/orders not found: known metrics/,
    ],
    [
      'a failing trigger',
      `${base}/default/s1-kafka-topic?${selector('orders')}`,
      500,
      'InternalError',
      /metric "s1-kafka-topic" of ScaledObject default\/orders encountered an error: kafka: broker/,
    ],
    [
      'a forbidden metric',
      `${base}/default/secret-metric?${selector('orders')}`,
      403,
      'Forbidden',
      /User "hpa" cannot get resource "secret-metric" in API group "external.metrics.k8s.io" in the namespace "default": no rule/,
    ],
    ['an unknown path', '/apis/custom.metrics.k8s.io/v1beta2', 404, 'NotFound', /could not find/],
    ['a write', `${base}/default/s0-redis-orders`, 405, 'MethodNotAllowed', /POST is not supported/],
  ])('answers %s with a %d Status', async (_, url, code, reason, message) => {
    const { get } = handler();
    const response = await get(url, reason === 'MethodNotAllowed' ? 'POST' : 'GET');
    expect(response.status).toBe(code);
    expect(json(response)).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason });
    expect(json(response).message).toMatch(message);
  });

  it('times out a source that does not answer, and tells it to stop', async () => {
    const source = memorySource({ 'default/orders': { 's2-slow': 'hang' } });
    const { get } = handler({ metricTimeoutMs: 20, source });
    const response = await get(`${base}/default/s2-slow?${selector('orders')}`);
    expect(response.status).toBe(504);
    expect(json(response).message).toMatch(/no value within 20 ms/);
    expect(source.requests[0]?.signal?.aborted).toBe(true);
  });

  it('turns a throwing source into a 500 without leaking the exception', async () => {
    const source: ExternalMetricsSource = { getMetric: () => Promise.reject(new Error('password=hunter2')) };
    const { get } = handler({ source });
    const response = await get(`${base}/default/m?${selector('orders')}`);
    expect(response.status).toBe(500);
    expect(JSON.stringify(json(response))).not.toContain('hunter2');
  });

  it('refuses unauthenticated requests with 401 before looking at anything else', async () => {
    const source = memorySource({});
    const { get, authorizations } = handler({ source }, { ok: false, message: 'no client certificate' });
    for (const url of [`${base}/default/s0?${selector('orders')}`, '/apis', '/openapi/v2']) {
      const response = await get(url);
      expect(response.status).toBe(401);
      expect(json(response)).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
    }
    expect(authorizations).toEqual([]);
    expect(source.requests).toEqual([]);
  });

  it('serves health checks without credentials, readyz reflecting readiness', async () => {
    let reason: string | undefined = 'front-proxy configuration not read yet';
    const { get } = handler({ notReadyReason: () => reason }, { ok: false, message: 'no client certificate' });
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok' });
    expect(await get('/livez')).toEqual({ status: 200, text: 'ok' });
    expect(await get('/readyz')).toEqual({ status: 503, text: 'not ready: front-proxy configuration not read yet' });
    reason = undefined;
    expect(await get('/readyz')).toEqual({ status: 200, text: 'ok' });
  });

  it('serves discovery that lists externalmetrics as a namespaced, get-only resource', async () => {
    const { get } = handler();
    expect(json(await get('/apis'))).toMatchObject({
      kind: 'APIGroupList',
      groups: [{ name: 'external.metrics.k8s.io', preferredVersion: { groupVersion: 'external.metrics.k8s.io/v1beta1' } }],
    });
    expect(json(await get('/apis/external.metrics.k8s.io'))).toMatchObject({ kind: 'APIGroup', name: 'external.metrics.k8s.io' });
    expect(json(await get('/apis/external.metrics.k8s.io/v1beta1'))).toMatchObject({
      kind: 'APIResourceList',
      groupVersion: 'external.metrics.k8s.io/v1beta1',
      resources: [{ name: 'externalmetrics', namespaced: true, verbs: ['get'] }],
    });
    expect(json(await get('/openapi/v2'))).toMatchObject({ swagger: '2.0' });
    const index = json(await get('/openapi/v3')) as { paths: Record<string, { serverRelativeURL: string }> };
    const relative = Object.values(index.paths)[0]?.serverRelativeURL ?? '';
    expect(json(await get(relative))).toMatchObject({ openapi: '3.0.0' });
  });
});
