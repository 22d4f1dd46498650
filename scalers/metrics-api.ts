import { XMLParser } from 'fast-xml-parser';
import parsePrometheusText from 'parse-prometheus-text-format';
import { parse as parseYaml } from 'yaml';
import { quantityValue } from '../src/kube/quantity.js';
import type { ParseInput, ParseResult } from './definition.js';
import { metadataInput, podIdentityOf, prefixed } from './definition.js';
import { getPath, PathError, splitPath } from './gjson-path.js';
import { HttpAgentHandle, httpGet } from './http-get.js';
import { checkRules, field, parseMetadata, positiveTarget, type MetadataOf, type Rule } from './metadata.js';
import { ScalerReadError } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { pooledSource, singleMetricScaler } from './single-metric.js';

const formats = ['json', 'xml', 'yaml', 'prometheus'] as const;
export type MetricsApiFormat = (typeof formats)[number];
const authModes = ['apiKey', 'basic', 'tls', 'bearer'] as const;
type AuthMode = (typeof authModes)[number];

const schema = {
  url: field.string(),
  format: field.oneOf(formats, { default: 'json' }),
  valueLocation: field.string(),
  targetValue: field.float(),
  activationTargetValue: field.float({ default: 0 }),
  unsafeSsl: field.bool({ default: false }),
  aggregateFromKubeServiceEndpoints: field.bool({ default: false }),
  authMode: field.list({ name: ['authMode', 'authModes'], from: ['triggerMetadata', 'authParams'], optional: true }, authModes),
  apiKey: field.string({ from: ['authParams'], optional: true, secret: true }),
  method: field.oneOf(['header', 'query'], { from: ['authParams', 'triggerMetadata'], default: 'header' }),
  keyParamName: field.string({ from: ['authParams', 'triggerMetadata'], optional: true }),
  username: field.string({ from: ['authParams'], optional: true }),
  password: field.string({ from: ['authParams'], optional: true, secret: true }),
  ca: field.string({ from: ['authParams'], optional: true, secret: true }),
  cert: field.string({ from: ['authParams'], optional: true, secret: true }),
  key: field.string({ from: ['authParams'], optional: true, secret: true }),
  token: field.string({ name: ['token', 'bearerToken'], from: ['authParams'], optional: true, secret: true }),
};

export type MetricsApiConfig = MetadataOf<typeof schema>;

const has = (m: MetricsApiConfig, mode: AuthMode): boolean => m.authMode?.includes(mode) ?? false;

const rules: Rule<MetricsApiConfig>[] = [
  positiveTarget('targetValue'),
  { fields: ['url'], check: (m) => (/^https?:\/\//.test(m.url) && URL.canParse(m.url) ? undefined : 'url must be an http(s) URL') },
  {
    fields: ['format', 'valueLocation'],
    check: (m) => {
      if (m.format !== 'json') return undefined;
      try {
        splitPath(m.valueLocation).forEach((part) => {
          if (part.startsWith('@')) throw new PathError(`modifier "${part}" is not supported`);
        });
        return undefined;
      } catch (error) {
        return `valueLocation: ${error instanceof Error ? error.message : String(error)}`;
      }
    },
  },
  {
    fields: ['aggregateFromKubeServiceEndpoints'],
    check: (m) => (m.aggregateFromKubeServiceEndpoints ? 'aggregateFromKubeServiceEndpoints is not supported by swell' : undefined),
  },
  { fields: ['authMode', 'apiKey'], check: (m) => (has(m, 'apiKey') && m.apiKey === undefined ? 'no apikey provided' : undefined) },
  { fields: ['authMode', 'username'], check: (m) => (has(m, 'basic') && m.username === undefined ? 'no username given' : undefined) },
  {
    fields: ['authMode', 'cert', 'key'],
    check: (m) => (has(m, 'tls') && (m.cert === undefined || m.key === undefined) ? 'no tls certs given' : undefined),
  },
  { fields: ['authMode', 'token'], check: (m) => (has(m, 'bearer') && m.token === undefined ? 'no token provided' : undefined) },
  {
    fields: ['authMode'],
    check: (m) => (has(m, 'basic') && has(m, 'bearer') ? 'only one of basic or bearer auth can be enabled' : undefined),
  },
];

function podIdentityRules(input: ParseInput): Rule<MetricsApiConfig>[] {
  const { provider } = podIdentityOf(input);
  if (provider === undefined) return [];
  return [{ fields: [], check: () => `podIdentity provider "${provider}" is not supported for metrics-api by swell` }];
}

export function parseMetricsApi(input: ParseInput): ParseResult<MetricsApiConfig> {
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, [...rules, ...podIdentityRules(input)])];
  return { config: parsed.values, errors: prefixed('error parsing metric API metadata', errors) };
}

/** A number, or a string holding a Kubernetes quantity ("1.5", "250m", "2k"), as KEDA accepts; anything else is an error. */
export function metricValue(found: unknown, valueLocation: string): number {
  if (typeof found === 'number' && Number.isFinite(found)) return found;
  if (typeof found === 'string') {
    const value = quantityValue(found);
    if (value !== undefined) return value;
  }
  const shown = found === undefined ? '' : typeof found === 'string' ? found : JSON.stringify(found);
  throw new ScalerReadError(`valueLocation ${valueLocation} must point to value of type number or a string representing a Quantity got: '${shown}'`);
}

/** KEDA's dot path for yaml and xml: keys, and numbers for array positions. */
function dotPath(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(part)) current = current[Number(part)];
    else if (current !== null && typeof current === 'object' && Object.hasOwn(current, part)) current = (current as Record<string, unknown>)[part];
    else return undefined;
  }
  return current;
}

/** `name` or `name{label="value",...}`: the series with exactly that name and those labels. */
function prometheusSample(body: string, valueLocation: string): unknown {
  const selector = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/s.exec(valueLocation.trim());
  if (!selector) throw new ScalerReadError(`valueLocation ${valueLocation} is not a Prometheus series name`);
  const wanted: Record<string, string> = {};
  for (const match of (selector[2] ?? '').matchAll(/\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/g))
    wanted[match[1] ?? ''] = (match[2] ?? '').replace(/\\(.)/g, '$1');
  let families: ReturnType<typeof parsePrometheusText>;
  try {
    families = parsePrometheusText(body);
  } catch {
    throw new ScalerReadError('the response is not in the Prometheus text format');
  }
  const sameLabels = (labels: Record<string, string> | undefined): boolean => {
    const have = Object.entries(labels ?? {});
    return have.length === Object.keys(wanted).length && have.every(([k, v]) => wanted[k] === v);
  };
  for (const family of families) {
    for (const metric of family.metrics) {
      if (family.name === selector[1] && 'value' in metric && sameLabels(metric.labels)) return metric.value;
    }
  }
  throw new ScalerReadError(`value ${valueLocation} not found`);
}

/** The value at valueLocation in a response of the given format. */
export function valueFromBody(body: string, format: MetricsApiFormat, valueLocation: string): number {
  switch (format) {
    case 'json': {
      let document: unknown;
      try {
        document = JSON.parse(body);
      } catch {
        throw new ScalerReadError('the response is not JSON');
      }
      try {
        return metricValue(getPath(document, valueLocation), valueLocation);
      } catch (error) {
        if (error instanceof PathError) throw new ScalerReadError(`valueLocation: ${error.message}`);
        throw error;
      }
    }
    case 'yaml': {
      let document: unknown;
      try {
        document = parseYaml(body);
      } catch {
        throw new ScalerReadError('the response is not YAML');
      }
      return metricValue(dotPath(document, valueLocation), valueLocation);
    }
    case 'xml': {
      let document: unknown;
      try {
        document = new XMLParser({ parseTagValue: false, ignoreDeclaration: true, ignoreAttributes: true, processEntities: false }).parse(body, true);
      } catch {
        throw new ScalerReadError('the response is not XML');
      }
      return metricValue(dotPath(document, valueLocation), valueLocation);
    }
    case 'prometheus':
      return metricValue(prometheusSample(body, valueLocation), valueLocation);
  }
}

export function metricsApiRequest(m: MetricsApiConfig): { url: URL; headers: Record<string, string> } {
  const url = new URL(m.url);
  const accept = { json: 'application/json', yaml: 'application/x-yaml', xml: 'application/xml', prometheus: 'text/plain' }[m.format];
  const headers: Record<string, string> = { accept };
  if (has(m, 'apiKey')) {
    if (m.method === 'query') url.searchParams.set(m.keyParamName ?? 'api_key', m.apiKey ?? '');
    else headers[m.keyParamName ?? 'X-API-KEY'] = m.apiKey ?? '';
  }
  if (has(m, 'basic')) headers.authorization = `Basic ${Buffer.from(`${m.username ?? ''}:${m.password ?? ''}`).toString('base64')}`;
  if (has(m, 'bearer')) headers.authorization = `Bearer ${m.token ?? ''}`;
  return { url, headers };
}

export const metricsApiScaler = singleMetricScaler<MetricsApiConfig, string>({
  types: ['metrics-api'],
  schema,
  example: { metadata: { url: 'http://127.0.0.1:1/stats', valueLocation: 'queue.depth', targetValue: '5', authMode: 'bearer' }, authParams: { token: 't' } },
  parse: parseMetricsApi,
  metricName: (config) => `metric-api-${config.valueLocation}`,
  target: (config) => config.targetValue,
  source: (config, deps) => {
    const origin = new URL(config.url).origin;
    const tls = has(config, 'tls') ? { cert: config.cert, key: config.key } : {};
    const agentKey = sourceKey('http', { origin, unsafeSsl: config.unsafeSsl }, { ...tls, ca: config.ca });
    const lease = deps.connections.acquire(
      agentKey,
      `metrics API ${origin}`,
      () =>
        new HttpAgentHandle(origin.startsWith('https:'), {
          rejectUnauthorized: !config.unsafeSsl,
          ...(config.ca !== undefined ? { ca: config.ca } : {}),
          ...tls,
        }),
    );
    const { url, headers } = metricsApiRequest(config);
    // Scalers that differ only in valueLocation share the response, so the body is what is read and shared.
    const key = sourceKey('metrics-api', { agentKey, url: url.href, format: config.format }, headers);
    return pooledSource(lease, key, async (handle, signal) => {
      const reply = await httpGet(url, { agent: handle.agent, headers, signal });
      if (reply.status < 200 || reply.status > 299) throw new ScalerReadError(`metrics API ${origin} returned ${reply.status}`);
      return reply.body;
    });
  },
  value: (body, config) => valueFromBody(body, config.format, config.valueLocation),
  activation: (config) => config.activationTargetValue,
});
