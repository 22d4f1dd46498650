import type { ParseInput } from './definition.js';
import { podIdentityOf } from './definition.js';
import { HttpAgentHandle, httpGet } from './http-get.js';
import { field, positiveTarget, type MetadataOf, type Rule } from './metadata.js';
import { ScalerReadError, type ScalerDeps } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { pooledSource, schemaParser, singleMetricScaler, type MetricSource } from './single-metric.js';

const authModes = ['apiKey', 'basic', 'tls', 'bearer', 'custom', 'oauth'] as const;
type AuthMode = (typeof authModes)[number];

const schema = {
  serverAddress: field.string(),
  query: field.string(),
  threshold: field.float(),
  activationThreshold: field.float({ default: 0 }),
  namespace: field.string({ optional: true }),
  queryParameters: field.keyValues({ optional: true }),
  customHeaders: field.keyValues({ optional: true }),
  ignoreNullValues: field.bool({ default: true }),
  unsafeSsl: field.bool({ default: false }),
  timeout: field.duration({ optional: true }),
  authModes: field.list({ name: ['authModes', 'authMode'], from: ['triggerMetadata', 'authParams'], optional: true }, authModes),
  bearerToken: field.string({ name: ['bearerToken', 'token'], from: ['authParams'], optional: true, secret: true }),
  username: field.string({ from: ['authParams'], optional: true }),
  password: field.string({ from: ['authParams'], optional: true, secret: true }),
  cert: field.string({ from: ['authParams'], optional: true, secret: true }),
  key: field.string({ from: ['authParams'], optional: true, secret: true }),
  ca: field.string({ from: ['authParams'], optional: true, secret: true }),
  customAuthHeader: field.string({ from: ['authParams'], optional: true }),
  customAuthValue: field.string({ from: ['authParams'], optional: true, secret: true }),
  apiKey: field.string({ from: ['authParams'], optional: true, secret: true }),
  method: field.oneOf(['header', 'query'], { from: ['authParams'], default: 'header' }),
  keyParamName: field.string({ from: ['authParams'], optional: true }),
};

export type PrometheusConfig = MetadataOf<typeof schema>;

const has = (m: PrometheusConfig, mode: AuthMode): boolean => m.authModes?.includes(mode) ?? false;

const rules: Rule<PrometheusConfig>[] = [
  positiveTarget('threshold'),
  {
    fields: ['serverAddress'],
    check: (m) => (/^https?:\/\//.test(m.serverAddress) && URL.canParse(m.serverAddress) ? undefined : 'serverAddress must be an http(s) URL'),
  },
  {
    fields: ['authModes'],
    check: (m) => (has(m, 'oauth') ? 'authMode "oauth" is not supported by swell' : undefined),
  },
  {
    fields: ['authModes'],
    check: (m) =>
      ['bearer', 'basic', 'oauth'].filter((mode) => has(m, mode as AuthMode)).length > 1 ? 'only one of bearer, basic or oauth auth can be enabled' : undefined,
  },
  {
    fields: ['authModes', 'bearerToken'],
    check: (m) => (has(m, 'bearer') && m.bearerToken === undefined ? 'bearerToken is required when bearer auth is enabled' : undefined),
  },
  {
    fields: ['authModes', 'username'],
    check: (m) => (has(m, 'basic') && m.username === undefined ? 'username is required when basic auth is enabled' : undefined),
  },
  {
    fields: ['authModes', 'cert', 'key'],
    check: (m) => (has(m, 'tls') && (m.cert === undefined || m.key === undefined) ? 'cert and key are required when tls auth is enabled' : undefined),
  },
  {
    fields: ['authModes', 'customAuthHeader', 'customAuthValue'],
    check: (m) =>
      has(m, 'custom') && (m.customAuthHeader === undefined || m.customAuthValue === undefined)
        ? 'customAuthHeader and customAuthValue are required when custom auth is enabled'
        : undefined,
  },
  {
    fields: ['authModes', 'apiKey'],
    check: (m) => (has(m, 'apiKey') && m.apiKey === undefined ? 'apiKey is required when apiKey auth is enabled' : undefined),
  },
];

function podIdentityRules(input: ParseInput): Rule<PrometheusConfig>[] {
  const { provider } = podIdentityOf(input);
  if (provider === undefined) return [];
  return [
    {
      fields: ['authModes'],
      check: (m) =>
        m.authModes !== undefined && m.authModes.length > 0
          ? 'pod identity cannot be enabled with other auth types'
          : `podIdentity provider "${provider}" is not supported for prometheus by swell`,
    },
  ];
}

export const parsePrometheus = schemaParser({
  schema,
  errorPrefix: 'error parsing prometheus metadata',
  rules: (input) => [...rules, ...podIdentityRules(input)],
});

/** What one query returned: no sample at all, or one sample's value (which may be NaN or ±Inf). */
export type PrometheusSample = { kind: 'empty' } | { kind: 'value'; value: number };

/** Go's ParseFloat as Prometheus formats samples: decimals, exponents, NaN and ±Inf. */
function sampleValue(raw: unknown, query: string): number {
  if (typeof raw === 'string') {
    if (/^[+-]?inf(inity)?$/i.test(raw)) return raw.startsWith('-') ? -Infinity : Infinity;
    if (/^nan$/i.test(raw)) return Number.NaN;
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return Number(raw);
  }
  throw new ScalerReadError(`prometheus query ${query} returned a value that is not a number`);
}

/** Reads the instant-query reply the way KEDA does; errors name the query, never the credentials. */
export function parsePrometheusReply(status: number, body: string, query: string): PrometheusSample {
  if (status < 200 || status > 299) throw new ScalerReadError(`prometheus query api returned error. status: ${status}`);
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    throw new ScalerReadError(`prometheus query ${query} returned a body that is not JSON`);
  }
  const result = (reply as { data?: { result?: unknown } } | null)?.data?.result;
  if (!Array.isArray(result) || result.length === 0) return { kind: 'empty' };
  if (result.length > 1) throw new ScalerReadError(`prometheus query ${query} returned multiple elements`);
  const value = (result[0] as { value?: unknown } | null)?.value;
  if (!Array.isArray(value) || value.length === 0) return { kind: 'empty' };
  if (value.length < 2) throw new ScalerReadError(`prometheus query ${query} didn't return enough values`);
  return { kind: 'value', value: sampleValue(value[1], query) };
}

/** KEDA's null handling: no sample, NaN or ±Inf read as 0 when ignoreNullValues, otherwise fail. */
export function prometheusValue(sample: PrometheusSample, ignoreNullValues: boolean): number {
  if (sample.kind === 'empty') {
    if (ignoreNullValues) return 0;
    throw new ScalerReadError("prometheus metrics 'prometheus' target may be lost, the result is empty");
  }
  if (Number.isFinite(sample.value)) return sample.value;
  if (ignoreNullValues) return 0;
  const spelled = Number.isNaN(sample.value) ? 'NaN' : sample.value > 0 ? '+Inf' : '-Inf';
  throw new ScalerReadError(`prometheus query returned ${spelled}`);
}

/** RFC 3339 to the second, as Go's time.RFC3339 prints UTC. */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function prometheusQueryURL(m: PrometheusConfig, now: Date | undefined): URL {
  const url = new URL(`${m.serverAddress.replace(/\/+$/, '')}/api/v1/query`);
  url.searchParams.set('query', m.query);
  if (now) url.searchParams.set('time', rfc3339(now));
  if (m.namespace !== undefined) url.searchParams.set('namespace', m.namespace);
  for (const [k, v] of Object.entries(m.queryParameters ?? {})) url.searchParams.set(k, v);
  if (has(m, 'apiKey') && m.method === 'query') url.searchParams.set(m.keyParamName ?? 'api_key', m.apiKey ?? '');
  return url;
}

export function prometheusHeaders(m: PrometheusConfig): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json', ...m.customHeaders };
  if (has(m, 'bearer')) headers.authorization = `Bearer ${m.bearerToken ?? ''}`;
  if (has(m, 'basic')) headers.authorization = `Basic ${Buffer.from(`${m.username ?? ''}:${m.password ?? ''}`).toString('base64')}`;
  if (has(m, 'custom') && m.customAuthHeader !== undefined) headers[m.customAuthHeader] = m.customAuthValue ?? '';
  if (has(m, 'apiKey') && m.method === 'header') headers[m.keyParamName ?? 'X-API-KEY'] = m.apiKey ?? '';
  return headers;
}

function prometheusSource(config: PrometheusConfig, deps: ScalerDeps): MetricSource<PrometheusSample> {
  const origin = new URL(config.serverAddress).origin;
  const secure = origin.startsWith('https:');
  const tls = has(config, 'tls') ? { cert: config.cert, key: config.key } : {};
  const agentKey = sourceKey('http', { origin, unsafeSsl: config.unsafeSsl }, { ...tls, ca: config.ca });
  const lease = deps.connections.acquire(
    agentKey,
    `Prometheus ${origin}`,
    () =>
      new HttpAgentHandle(secure, {
        rejectUnauthorized: !config.unsafeSsl,
        ...(config.ca !== undefined ? { ca: config.ca } : {}),
        ...tls,
      }),
  );
  const headers = prometheusHeaders(config);
  const key = sourceKey('prometheus', { agentKey, url: prometheusQueryURL(config, undefined).href }, headers);
  return pooledSource(lease, key, async (handle, signal) => {
    const reply = await httpGet(prometheusQueryURL(config, new Date(deps.clock.now())), { agent: handle.agent, headers, signal });
    return parsePrometheusReply(reply.status, reply.body, config.query);
  });
}

export const prometheusScaler = singleMetricScaler<PrometheusConfig, PrometheusSample>({
  types: ['prometheus'],
  schema,
  example: {
    metadata: { serverAddress: 'http://127.0.0.1:1', query: 'sum(queue_depth)', threshold: '10', authModes: 'bearer' },
    authParams: { bearerToken: 't' },
  },
  parse: parsePrometheus,
  metricName: () => 'prometheus',
  target: (config) => config.threshold,
  timeoutMs: (config) => config.timeout,
  source: prometheusSource,
  value: (sample, config) => prometheusValue(sample, config.ignoreNullValues),
  activation: (config) => config.activationThreshold,
});
