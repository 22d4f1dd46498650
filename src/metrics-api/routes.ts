export const metricsGroup = 'external.metrics.k8s.io';
export const metricsVersion = 'v1beta1';
export const metricsGroupVersion = `${metricsGroup}/${metricsVersion}`;

export type HealthCheck = 'healthz' | 'readyz' | 'livez';

/** What a request asks for, decided from its method and URL alone. */
export type Route =
  | { kind: 'health'; check: HealthCheck }
  | { kind: 'discovery'; document: 'groups' | 'group' | 'resources' }
  | { kind: 'openapi'; document: 'v2' | 'v3' | 'v3-group-version' }
  | { kind: 'metric'; namespace: string; metricName: string; labelSelector: string | undefined }
  | { kind: 'invalid'; message: string }
  | { kind: 'method-not-allowed'; method: string }
  | { kind: 'not-found'; path: string };

const versionPath = `/apis/${metricsGroupVersion}`;
const namespacesPath = `${versionPath}/namespaces/`;
const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Routes a request; pure so that the whole URL space can be tested without a socket. */
export function routeRequest(method: string, rawUrl: string): Route {
  const { pathname, query } = splitUrl(rawUrl);
  const path = pathname.length > 1 && pathname.endsWith('/') ? pathname.replace(/\/+$/, '') : pathname;
  if (method !== 'GET' && method !== 'HEAD') return { kind: 'method-not-allowed', method };
  const fixed = fixedRoute(path);
  if (fixed) return fixed;
  if (path.startsWith(namespacesPath)) return metricRoute(path.slice(namespacesPath.length), query);
  return { kind: 'not-found', path };
}

/** Servers receive origin-form targets ("/path?query"); anything else goes through the full URL parser. */
function splitUrl(rawUrl: string): { pathname: string; query: string } {
  if (!rawUrl.startsWith('/') || rawUrl.startsWith('//')) {
    const url = new URL(rawUrl, 'https://localhost');
    return { pathname: url.pathname, query: url.search.slice(1) };
  }
  const q = rawUrl.indexOf('?');
  return q === -1 ? { pathname: rawUrl, query: '' } : { pathname: rawUrl.slice(0, q), query: rawUrl.slice(q + 1) };
}

function fixedRoute(path: string): Route | undefined {
  switch (path) {
    case '/healthz':
    case '/readyz':
    case '/livez':
      return { kind: 'health', check: path.slice(1) as HealthCheck };
    case '/apis':
      return { kind: 'discovery', document: 'groups' };
    case `/apis/${metricsGroup}`:
      return { kind: 'discovery', document: 'group' };
    case versionPath:
      return { kind: 'discovery', document: 'resources' };
    case '/openapi/v2':
      return { kind: 'openapi', document: 'v2' };
    case '/openapi/v3':
      return { kind: 'openapi', document: 'v3' };
    case `/openapi/v3${versionPath}`:
      return { kind: 'openapi', document: 'v3-group-version' };
    default:
      return undefined;
  }
}

/** `<namespace>/<metric>`, the part of the path after `.../namespaces/`. */
function metricRoute(rest: string, query: string): Route {
  const slash = rest.indexOf('/');
  if (slash === -1 || rest.includes('/', slash + 1)) return { kind: 'not-found', path: `${namespacesPath}${rest}` };
  const rawNamespace = rest.slice(0, slash);
  const rawMetric = rest.slice(slash + 1);
  let namespace: string;
  let metricName: string;
  try {
    namespace = percentDecoded(rawNamespace);
    metricName = percentDecoded(rawMetric);
  } catch {
    return { kind: 'invalid', message: `path segments "${rawNamespace}/${rawMetric}" are not valid percent-encoding` };
  }
  if (!namespacePattern.test(namespace) || namespace.length > 63) return { kind: 'invalid', message: `namespace "${namespace}" is not a valid namespace name` };
  if (metricName === '') return { kind: 'invalid', message: 'metric name is empty' };
  return { kind: 'metric', namespace, metricName, labelSelector: queryParameter(query, 'labelSelector') };
}

function percentDecoded(segment: string): string {
  return segment.includes('%') ? decodeURIComponent(segment) : segment;
}

/**
 * The first value of a query parameter, decoded as URLSearchParams decodes it. Building URLSearchParams for
 * every metric request costs more than the rest of the routing, so the common case (plainly written names,
 * well-formed percent-encoding) is read here, and anything unusual still goes to URLSearchParams.
 */
function queryParameter(query: string, name: string): string | undefined {
  if (query === '') return undefined;
  for (let start = 0; start <= query.length;) {
    const amp = query.indexOf('&', start);
    const end = amp === -1 ? query.length : amp;
    const pair = query.slice(start, end);
    start = end + 1;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    if (rawName.includes('%') || rawName.includes('+')) return searchParameter(query, name);
    if (rawName !== name) continue;
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    try {
      return percentDecoded(value.includes('+') ? value.replaceAll('+', ' ') : value);
    } catch {
      return searchParameter(query, name);
    }
  }
  return undefined;
}

function searchParameter(query: string, name: string): string | undefined {
  return new URLSearchParams(query).get(name) ?? undefined;
}
