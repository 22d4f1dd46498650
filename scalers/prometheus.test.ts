import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusReply, prometheusQueryURL, prometheusValue, type PrometheusSample } from './prometheus.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps, testEpochMs } from './testing.js';
import { FakeClock } from '../src/controller/fake-clock.js';

const reply = (result: unknown) => JSON.stringify({ status: 'success', data: { resultType: 'vector', result } });

describe('parsePrometheusReply', () => {
  it.each([
    ['one sample', reply([{ metric: {}, value: [1700000000, '42.5'] }]), { kind: 'value', value: 42.5 }],
    ['exponent', reply([{ value: [1, '1e3'] }]), { kind: 'value', value: 1000 }],
    ['negative', reply([{ value: [1, '-3'] }]), { kind: 'value', value: -3 }],
    ['NaN', reply([{ value: [1, 'NaN'] }]), { kind: 'value', value: Number.NaN }],
    ['+Inf', reply([{ value: [1, '+Inf'] }]), { kind: 'value', value: Infinity }],
    ['-Inf', reply([{ value: [1, '-Inf'] }]), { kind: 'value', value: -Infinity }],
    ['no series', reply([]), { kind: 'empty' }],
    ['empty value', reply([{ value: [] }]), { kind: 'empty' }],
  ])('%s', (_t, body, expected) => expect(parsePrometheusReply(200, body, 'q')).toEqual(expected));

  it.each([
    [500, reply([]), 'prometheus query api returned error. status: 500'],
    [200, 'not json', 'prometheus query q returned a body that is not JSON'],
    [200, reply([{ value: [1, '1'] }, { value: [1, '2'] }]), 'prometheus query q returned multiple elements'],
    [200, reply([{ value: [1] }]), "prometheus query q didn't return enough values"],
    [200, reply([{ value: [1, 'abc'] }]), 'prometheus query q returned a value that is not a number'],
  ])('status %i %s fails', (status, body, message) => expect(() => parsePrometheusReply(status, body, 'q')).toThrow(message));
});

describe('prometheusValue', () => {
  it.each([
    [{ kind: 'empty' }, true, 0],
    [{ kind: 'value', value: Number.NaN }, true, 0],
    [{ kind: 'value', value: Infinity }, true, 0],
    [{ kind: 'value', value: -2 }, false, -2],
    [{ kind: 'value', value: 7 }, false, 7],
  ] satisfies Array<[PrometheusSample, boolean, number]>)('%j ignoreNullValues=%s → %d', (sample, ignore, value) => {
    expect(prometheusValue(sample, ignore)).toBe(value);
  });
  it.each([[{ kind: 'empty' }], [{ kind: 'value', value: Number.NaN }], [{ kind: 'value', value: -Infinity }]] satisfies Array<[PrometheusSample]>)(
    '%j without ignoreNullValues is an error',
    (sample) => expect(() => prometheusValue(sample, false)).toThrow(),
  );
});

const metadata = { serverAddress: 'http://prom:9090/', query: 'sum(rate(x[1m]))', threshold: '2.5' };

describe('prometheus metadata', () => {
  it('applies KEDA defaults', () => {
    const scaler = createScaler(contextFor({ type: 'prometheus', metadata }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-prometheus', targetType: 'AverageValue', target: 2.5 }]);
    return scaler.close();
  });

  it('builds the query URL with time, namespace and extra parameters', () => {
    const url = prometheusQueryURL(
      {
        ...metadata,
        threshold: 1,
        activationThreshold: 0,
        ignoreNullValues: true,
        unsafeSsl: false,
        method: 'header',
        namespace: 'team-a',
        queryParameters: { dedup: 'true' },
      },
      new Date('2026-01-05T12:00:00.123Z'),
    );
    expect(url.origin + url.pathname).toBe('http://prom:9090/api/v1/query');
    expect(Object.fromEntries(url.searchParams)).toEqual({ query: 'sum(rate(x[1m]))', time: '2026-01-05T12:00:00Z', namespace: 'team-a', dedup: 'true' });
  });

  it.each([
    [{ threshold: '' }, 'missing required parameter "threshold" in [triggerMetadata]'],
    [{ threshold: '1x' }, 'unable to set param "threshold" value "1x": not a number'],
    [{ serverAddress: 'prom:9090' }, 'serverAddress must be an http(s) URL'],
    [{ authModes: 'bearer' }, 'bearerToken is required when bearer auth is enabled'],
    [{ authModes: 'basic' }, 'username is required when basic auth is enabled'],
    [{ authModes: 'tls' }, 'cert and key are required when tls auth is enabled'],
    [{ authModes: 'basic,bearer' }, 'only one of bearer, basic or oauth auth can be enabled'],
    [{ authModes: 'kerberos' }, 'parameter "authModes" value "kerberos" must be one of [apiKey basic tls bearer custom oauth]'],
    [{ timeout: '-1' }, 'unable to set param "timeout" value "-1": duration must not be negative'],
    [{ queryParameters: 'a' }, 'unable to set param "queryParameters" value "a": expected format key=value, got "a"'],
  ])('rejects %j', (extra, problem) => {
    expect(validateTriggerMetadata({ type: 'prometheus', metadata: { ...metadata, ...extra } })).toContain(`error parsing prometheus metadata: ${problem}`);
  });

  it('offline, auth parameters behind an authenticationRef count as present', () => {
    const trigger = { type: 'prometheus', metadata: { ...metadata, authModes: 'bearer' }, authenticationRef: { name: 'prom-auth' } };
    expect(validateTriggerMetadata(trigger, { offline: true })).toEqual([]);
    expect(validateTriggerMetadata(trigger)).toHaveLength(1);
  });
});

describe('prometheus scaler against a stub HTTP server', () => {
  let server: http.Server;
  let url = '';
  const seen: Array<{ url: string; authorization: string | undefined; headers: http.IncomingHttpHeaders }> = [];
  let body = reply([{ value: [1, '12'] }]);
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** A Prometheus that never answers. */
  let hanging: http.Server;
  let hangingUrl = '';
  beforeAll(async () => {
    hanging = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    hanging.closeAllConnections();
    return new Promise<void>((resolve) => hanging.close(() => resolve()));
  });

  it('reads, judges activity on the raw value, and coalesces identical queries', async () => {
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock);
    const trigger = { type: 'prometheus', metadata: { serverAddress: url, query: 'up', threshold: '5', activationThreshold: '12', authModes: 'bearer' } };
    const scalers = Array.from({ length: 10 }, (_, i) => createScaler(contextFor(trigger, { triggerIndex: i, authParams: { bearerToken: 's3cret' } }), deps));
    seen.length = 0;
    const readings = await Promise.all(scalers.map((s, i) => s.read(`s${i}-prometheus`, { maxAgeMs: 30_000 })));
    expect(readings).toEqual(Array(10).fill({ value: 12, active: false }));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.authorization).toBe('Bearer s3cret');
    expect(seen[0]?.url).toContain('time=2026-01-05T12%3A00%3A00Z');
    body = reply([{ value: [1, '13'] }]);
    await clock.advance(30_001);
    await expect(scalers[0]?.read('s0-prometheus', { maxAgeMs: 30_000 })).resolves.toEqual({ value: 13, active: true });
    expect(seen).toHaveLength(2);
    await Promise.all(scalers.map((s) => s.close()));
    expect(deps.connections.size).toBe(0);
  });

  it.each([
    [{ authModes: 'bearer' }, { bearerToken: 'tok' }, { authorization: 'Bearer tok' }],
    [{ authModes: 'basic' }, { username: 'u', password: 'p' }, { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` }],
    [{ authModes: 'custom' }, { customAuthHeader: 'X-Scope', customAuthValue: 'v' }, { 'x-scope': 'v' }],
    [{ authModes: 'apiKey' }, { apiKey: 'k' }, { 'x-api-key': 'k' }],
    [{ customHeaders: 'X-Org=1,X-Team=2' }, {}, { 'x-org': '1', 'x-team': '2' }],
  ])('%j sends the right headers', async (extra, authParams, headers) => {
    const trigger = { type: 'prometheus', metadata: { serverAddress: url, query: 'up', threshold: '5', ...extra } };
    const scaler = createScaler(contextFor(trigger, { authParams }), testDeps());
    seen.length = 0;
    await scaler.read('s0-prometheus');
    expect(seen[0]?.headers).toMatchObject(headers);
    await scaler.close();
  });

  it('sends an apiKey as a query parameter when asked to', async () => {
    const trigger = { type: 'prometheus', metadata: { serverAddress: url, query: 'up', threshold: '5', authModes: 'apiKey' } };
    const scaler = createScaler(contextFor(trigger, { authParams: { apiKey: 'k1', method: 'query', keyParamName: 'key' } }), testDeps());
    seen.length = 0;
    await scaler.read('s0-prometheus');
    expect(new URL(seen[0]?.url ?? '', url).searchParams.get('key')).toBe('k1');
    await scaler.close();
  });

  it("closes the HTTP request to the server when the caller's deadline passes", async () => {
    const closed = new Promise<number>((resolve) => {
      hanging.on('request', (req: http.IncomingMessage) => {
        const at = Date.now();
        req.socket.on('close', () => resolve(Date.now() - at));
      });
    });
    const trigger = { type: 'prometheus', metadata: { serverAddress: hangingUrl, query: 'up', threshold: '5' } };
    const scaler = createScaler(contextFor(trigger), testDeps(new FakeClock(testEpochMs), { requestTimeoutMs: 60_000 }));
    const caller = new AbortController();
    const reading = scaler.read('s0-prometheus', { signal: caller.signal });
    await new Promise((resolve) => hanging.once('request', resolve));
    caller.abort(new Error('metrics request deadline'));
    await expect(reading).rejects.toThrow('metrics request deadline');
    await closed;
    await scaler.close();
  });
});
