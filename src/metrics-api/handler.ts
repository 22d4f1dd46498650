import type { Logger } from '../log.js';
import type { CredentialsView } from './authenticator.js';
import type { AccessDecision, ResourceAttributes } from './authorizer.js';
import { apiGroup, apiGroupList, apiResourceList, openApiV2, openApiV3GroupVersion, openApiV3Index } from './documents.js';
import { LabelSelectorError, equalityRequirements, scaledObjectLabel } from './label-selector.js';
import { formatMilliQuantity } from './quantity.js';
import { metricsGroup, metricsGroupVersion, metricsVersion, routeRequest, type Route } from './routes.js';
import type { ExternalMetricsSource } from './source.js';
import { failureStatus, type StatusReason } from './status.js';
import type { AuthenticationResult, UserInfo } from './user.js';

export interface MetricsRequest extends CredentialsView {
  readonly method: string;
  readonly url: string;
  /** Aborted when the client disconnects. */
  readonly signal: AbortSignal;
}

/** A response as data: JSON for API objects, plain text for health checks. */
export type MetricsResponse = { status: number; json: unknown } | { status: number; text: string };

export interface MetricsHandlerOptions {
  readonly source: ExternalMetricsSource;
  readonly authenticator: { authenticate(request: CredentialsView, signal?: AbortSignal): Promise<AuthenticationResult> };
  readonly authorizer: { authorize(user: UserInfo, attributes: ResourceAttributes): Promise<AccessDecision> };
  readonly log: Logger;
  /** Why the server cannot serve metrics yet (e.g. authentication config not read), or undefined when ready. */
  readonly notReadyReason: () => string | undefined;
  /** Upper bound on one metric lookup; default 10 s, below the aggregator's own proxy timeout. */
  readonly metricTimeoutMs?: number;
}

export type MetricsHandler = (request: MetricsRequest) => Promise<MetricsResponse>;

/** The whole request → response logic of the server, with no socket in sight. */
export function createMetricsHandler(options: MetricsHandlerOptions): MetricsHandler {
  return async (request) => {
    const route = routeRequest(request.method, request.url);
    switch (route.kind) {
      case 'health':
        return healthResponse(route.check === 'readyz' ? options.notReadyReason() : undefined);
      case 'method-not-allowed':
        return failure('MethodNotAllowed', `method ${route.method} is not supported; this API is read-only`);
      case 'not-found':
        return failure('NotFound', `the server could not find the requested resource ${route.path}`);
      case 'invalid':
        return failure('BadRequest', route.message);
      case 'discovery':
      case 'openapi':
      case 'metric':
        return authenticated(options, request, route);
    }
  };
}

async function authenticated(options: MetricsHandlerOptions, request: MetricsRequest, route: Extract<Route, { kind: 'discovery' | 'openapi' | 'metric' }>): Promise<MetricsResponse> {
  const authentication = await options.authenticator.authenticate(request, request.signal);
  if (!authentication.ok) {
    options.log.warn({ path: pathOf(request.url), reason: authentication.message }, 'refused unauthenticated request');
    return failure('Unauthorized', 'Unauthorized');
  }
  // Discovery and OpenAPI are public to every authenticated user under default RBAC (system:discovery).
  if (route.kind === 'discovery') return { status: 200, json: route.document === 'groups' ? apiGroupList : route.document === 'group' ? apiGroup : apiResourceList };
  if (route.kind === 'openapi') return { status: 200, json: route.document === 'v2' ? openApiV2 : route.document === 'v3' ? openApiV3Index : openApiV3GroupVersion };
  return authorizedMetric(options, request, route, authentication.user);
}

async function authorizedMetric(options: MetricsHandlerOptions, request: MetricsRequest, route: Extract<Route, { kind: 'metric' }>, user: UserInfo): Promise<MetricsResponse> {
  const attributes: ResourceAttributes = { namespace: route.namespace, verb: 'get', group: metricsGroup, version: metricsVersion, resource: route.metricName };
  let decision: AccessDecision;
  try {
    decision = await options.authorizer.authorize(user, attributes);
  } catch (error) {
    options.log.error({ user: user.username, err: error }, 'SubjectAccessReview failed');
    return failure('InternalError', 'authorization check failed; see the metrics server log');
  }
  if (!decision.allowed) {
    options.log.warn({ user: user.username, groups: user.groups, namespace: route.namespace, metric: route.metricName, reason: decision.reason }, 'refused unauthorized metric request');
    const because = decision.reason ? `: ${decision.reason}` : '';
    return failure('Forbidden', `externalmetrics.${metricsGroup} "${route.metricName}" is forbidden: User "${user.username}" cannot get resource "${route.metricName}" in API group "${metricsGroup}" in the namespace "${route.namespace}"${because}`);
  }
  return metricResponse(options, request, route);
}

async function metricResponse(options: MetricsHandlerOptions, request: MetricsRequest, route: Extract<Route, { kind: 'metric' }>): Promise<MetricsResponse> {
  const scaledObject = scaledObjectOf(route.labelSelector);
  if (!scaledObject.ok) return failure('BadRequest', scaledObject.message);
  const { namespace, metricName } = route;
  const what = `metric "${metricName}" of ScaledObject ${namespace}/${scaledObject.name}`;
  const timeoutMs = options.metricTimeoutMs ?? 10_000;
  const outcome = await withDeadline((signal) => options.source.getMetric({ namespace, scaledObject: scaledObject.name, metricName, signal }), request.signal, timeoutMs);
  if (outcome.kind === 'timeout') return failure('Timeout', `${what}: no value within ${timeoutMs} ms`);
  if (outcome.kind === 'error') {
    if (request.signal.aborted) return failure('InternalError', `${what}: the client went away`);
    options.log.error({ namespace, scaledObject: scaledObject.name, metric: metricName, err: outcome.error }, 'metric source failed');
    return failure('InternalError', `${what}: the metric source failed unexpectedly`);
  }
  const result = outcome.value;
  if (!result.ok) {
    switch (result.reason) {
      case 'ScaledObjectNotFound':
        return failure('NotFound', `ScaledObject ${namespace}/${scaledObject.name} not found: ${result.message}`);
      case 'MetricNotFound':
        return failure('NotFound', `${what} not found: ${result.message}`);
      case 'TriggerError':
        return failure('InternalError', `${what} encountered an error: ${result.message}`);
    }
  }
  return { status: 200, json: metricValueList(metricName, result.value, result.timestamp) };
}

export function metricValueList(metricName: string, value: number, timestamp: Date): unknown {
  return {
    kind: 'ExternalMetricValueList',
    apiVersion: metricsGroupVersion,
    metadata: {},
    items: [{ metricName, metricLabels: {}, timestamp: rfc3339Seconds(timestamp), value: formatMilliQuantity(value) }],
  };
}

function scaledObjectOf(labelSelector: string | undefined): { ok: true; name: string } | { ok: false; message: string } {
  const missing = `scaledObject name is not specified: pass labelSelector=${scaledObjectLabel}=<name>`;
  if (labelSelector === undefined || labelSelector.trim() === '') return { ok: false, message: missing };
  try {
    const name = equalityRequirements(labelSelector).get(scaledObjectLabel);
    return name ? { ok: true, name } : { ok: false, message: missing };
  } catch (error) {
    if (error instanceof LabelSelectorError) return { ok: false, message: error.message };
    throw error;
  }
}

/** Kubernetes writes metav1.Time as RFC 3339 with whole seconds. */
function rfc3339Seconds(time: Date): string {
  const ms = time.getTime();
  return Number.isFinite(ms) ? new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z') : new Date(0).toISOString().replace('.000Z', 'Z');
}

type Outcome<T> = { kind: 'value'; value: T } | { kind: 'timeout' } | { kind: 'error'; error: unknown };

/**
 * Runs `work` with a signal that aborts when the client goes away or the deadline passes, and stops waiting at
 * that moment even if the work ignores its signal. A plain timer (cleared on completion) keeps the hot path cheap.
 */
function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, clientSignal: AbortSignal, timeoutMs: number): Promise<Outcome<T>> {
  const controller = new AbortController();
  return new Promise<Outcome<T>>((resolve) => {
    const finish = (outcome: Outcome<T>) => {
      clearTimeout(timer);
      clientSignal.removeEventListener('abort', onClientAbort);
      resolve(outcome);
    };
    const onClientAbort = () => {
      controller.abort(clientSignal.reason);
      finish({ kind: 'error', error: new Error('client disconnected') });
    };
    const timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
      finish({ kind: 'timeout' });
    }, timeoutMs);
    if (clientSignal.aborted) return onClientAbort();
    clientSignal.addEventListener('abort', onClientAbort, { once: true });
    let running: Promise<T>;
    try {
      running = work(controller.signal);
    } catch (error) {
      return finish({ kind: 'error', error });
    }
    running.then(
      (value) => finish({ kind: 'value', value }),
      (error: unknown) => finish({ kind: 'error', error }),
    );
  });
}

function healthResponse(notReadyReason: string | undefined): MetricsResponse {
  return notReadyReason === undefined ? { status: 200, text: 'ok' } : { status: 503, text: `not ready: ${notReadyReason}` };
}

function failure(reason: StatusReason, message: string): MetricsResponse {
  const status = failureStatus(reason, message);
  return { status: status.code, json: status };
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
