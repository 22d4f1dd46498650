import { describe, expect, it } from 'vitest';
import { metricsApiRequest, valueFromBody, type MetricsApiConfig } from './metrics-api.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import type { TriggerSpec } from './scaler.js';
import { contextFor, testDeps } from './testing.js';

const metadata = { url: 'http://api.svc:3232/api/v1/stats', valueLocation: 'components.worker.tasks', targetValue: '8.8' };
const trigger = (m: Record<string, string>, extra: Partial<TriggerSpec> = {}): TriggerSpec => ({ type: 'metrics-api', metadata: m, ...extra });
const prefix = 'error parsing metric API metadata: ';

describe('metrics-api metadata', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['the minimum', metadata, []],
    ['every format', { ...metadata, format: 'prometheus' }, []],
    ['no url', { ...metadata, url: '' }, [`${prefix}missing required parameter "url" in [triggerMetadata]`]],
    ['no valueLocation', { ...metadata, valueLocation: '' }, [`${prefix}missing required parameter "valueLocation" in [triggerMetadata]`]],
    ['no targetValue', { ...metadata, targetValue: '' }, [`${prefix}missing required parameter "targetValue" in [triggerMetadata]`]],
    ['an unknown format', { ...metadata, format: 'csv' }, [`${prefix}parameter "format" value "csv" must be one of [json xml yaml prometheus]`]],
    ['a url that is not http', { ...metadata, url: 'ftp://x/y' }, [`${prefix}url must be an http(s) URL`]],
    ['a modifier in the path', { ...metadata, valueLocation: 'items|@reverse' }, [`${prefix}valueLocation: modifier "@reverse" is not supported`]],
    ['an unknown authMode', { ...metadata, authMode: 'oauth' }, [`${prefix}parameter "authMode" value "oauth" must be one of [apiKey basic tls bearer]`]],
    ['apiKey without a key', { ...metadata, authMode: 'apiKey' }, [`${prefix}no apikey provided`]],
    ['basic without a user', { ...metadata, authMode: 'basic' }, [`${prefix}no username given`]],
    ['tls without certs', { ...metadata, authMode: 'tls' }, [`${prefix}no tls certs given`]],
    ['bearer without a token', { ...metadata, authMode: 'bearer' }, [`${prefix}no token provided`]],
    [
      'aggregation over endpoints',
      { ...metadata, aggregateFromKubeServiceEndpoints: 'true' },
      [`${prefix}aggregateFromKubeServiceEndpoints is not supported by swell`],
    ],
  ])('%s', (_name, m, errors) => expect(validateTriggerMetadata(trigger(m))).toEqual(errors));

  it('takes credentials behind an authenticationRef as present when validating offline', () => {
    expect(validateTriggerMetadata(trigger({ ...metadata, authMode: 'bearer' }, { authenticationRef: { name: 'api' } }), { offline: true })).toEqual([]);
  });

  it("names the metric after valueLocation, as KEDA's metric-api-<location>", async () => {
    const scaler = createScaler(contextFor(trigger(metadata), { triggerIndex: 2 }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's2-metric-api-components-worker-tasks', targetType: 'AverageValue', target: 8.8 }]);
    await scaler.close();
  });
});

describe('valueFromBody', () => {
  it.each<[string, string, string, string, number]>([
    ['json number', 'json', '{"a":{"b":[1,{"c":4.5}]}}', 'a.b.1.c', 4.5],
    ['json quantity string', 'json', '{"queue":{"depth":"2k"}}', 'queue.depth', 2000],
    ['json milli quantity', 'json', '{"load":"250m"}', 'load', 0.25],
    ['json query', 'json', '{"queues":[{"name":"a","n":1},{"name":"b","n":9}]}', 'queues.#(name=="b").n', 9],
    ['json length', 'json', '{"jobs":[1,2,3]}', 'jobs.#', 3],
    ['yaml', 'yaml', 'components:\n  worker:\n    tasks: 7\n', 'components.worker.tasks', 7],
    ['yaml array', 'yaml', 'foo:\n  - bar: 42\n', 'foo.0.bar', 42],
    ['xml', 'xml', '<?xml version="1.0"?><stats><worker><tasks>12</tasks></worker></stats>', 'stats.worker.tasks', 12],
    ['prometheus plain', 'prometheus', '# TYPE queue_depth gauge\nqueue_depth 17\n', 'queue_depth', 17],
    ['prometheus labels', 'prometheus', 'queue_depth{queue="a"} 1\nqueue_depth{queue="b",tier="x"} 5\n', 'queue_depth{tier="x", queue="b"}', 5],
  ])('%s', (_name, format, body, location, value) => expect(valueFromBody(body, format as MetricsApiConfig['format'], location)).toBe(value));

  it.each<[string, string, string, string, string]>([
    ['json missing', 'json', '{"a":1}', 'b', "valueLocation b must point to value of type number or a string representing a Quantity got: ''"],
    ['json text', 'json', '{"a":"lots"}', 'a', "valueLocation a must point to value of type number or a string representing a Quantity got: 'lots'"],
    ['json object', 'json', '{"a":{"b":1}}', 'a', `valueLocation a must point to value of type number or a string representing a Quantity got: '{"b":1}'`],
    ['not json', 'json', '<html>', 'a', 'the response is not JSON'],
    ['prometheus missing series', 'prometheus', 'queue_depth{queue="a"} 1\n', 'queue_depth', 'value queue_depth not found'],
  ])('%s fails', (_name, format, body, location, message) =>
    expect(() => valueFromBody(body, format as MetricsApiConfig['format'], location)).toThrow(message),
  );
});

describe('metricsApiRequest', () => {
  const base = {
    url: 'http://api/stats?x=1',
    format: 'json',
    valueLocation: 'v',
    targetValue: 1,
    activationTargetValue: 0,
    unsafeSsl: false,
    aggregateFromKubeServiceEndpoints: false,
    method: 'header',
  } as const;
  it.each<[string, Partial<MetricsApiConfig>, Record<string, string>, string]>([
    ['apiKey in the default header', { authMode: ['apiKey'], apiKey: 'k1' }, { 'X-API-KEY': 'k1' }, 'http://api/stats?x=1'],
    ['apiKey in a named header', { authMode: ['apiKey'], apiKey: 'k1', keyParamName: 'X-Token' }, { 'X-Token': 'k1' }, 'http://api/stats?x=1'],
    ['apiKey in the query', { authMode: ['apiKey'], apiKey: 'k1', method: 'query' }, {}, 'http://api/stats?x=1&api_key=k1'],
    ['basic', { authMode: ['basic'], username: 'u', password: 'p' }, { authorization: 'Basic dTpw' }, 'http://api/stats?x=1'],
    ['bearer', { authMode: ['bearer'], token: 't0k' }, { authorization: 'Bearer t0k' }, 'http://api/stats?x=1'],
  ])('%s', (_name, extra, headers, url) => {
    const request = metricsApiRequest({ ...base, ...extra });
    expect(request.headers).toMatchObject(headers);
    expect(request.url.href).toBe(url);
  });
});
