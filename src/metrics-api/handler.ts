import { createSystemClock, type Clock } from '../controller/clock.js';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { CredentialsView } from './authenticator.js';
import type { AccessDecision, ResourceAttributes } from './authorizer.js';
import { apiGroup, apiGroupList, apiResourceList, openApiV2, openApiV3GroupVersion, openApiV3Index } from './documents.js';
import type { MetricQuestion } from './ownership.js';
import { LabelSelectorError, equalityRequirements, scaledObjectLabel } from './label-selector.js';
import { PendingReads, type ReadContext, type ReadOutcome } from './pending-reads.js';
import { formatQuantity } from '../kube/quantity.js';
import { rfc3339Seconds } from './rfc3339.js';
import { metricsGroup, metricsGroupVersion, metricsVersion, routeRequest, type Route } from './routes.js';
import type { ExternalMetricRequest, ExternalMetricResult, ExternalMetricsSource } from './source.js';
import { failureStatus, type StatusReason } from './status.js';
import type { AuthenticationResult, UserInfo } from './user.js';

/** One entry of an APIResourceList, as discovery lists it. */
export interface ApiResource {
  readonly name: string;
  readonly singularName: string;
  readonly namespaced: boolean;
  readonly kind: string;
  readonly verbs: readonly string[];
}

/** What the handler needs to share the API with another adapter. */
export interface UpstreamRouting {
  /** True when swell answers the metric itself. */
  owns(question: MetricQuestion): boolean;
  /** Sends an already authorised metric request on and streams the adapter's answer back. */
  forward(request: MetricsRequest, metricName: string): Promise<MetricsResponse>;
  /** swell's own resources plus swell's metric names and the adapter's resources, each name once. */
  discoveryResources(own: readonly ApiResource[]): Promise<ApiResource[]>;
}

export interface MetricsRequest extends CredentialsView {
  readonly method: string;
  readonly url: string;
  /**
   * Aborted when the client disconnects. Read only by requests that wait (slow metric reads, token reviews),
   * so a server may create it on first use.
   */
  readonly signal: AbortSignal;
}

/**
 * A response as data: JSON for API objects (`jsonText` when already serialised), plain text for health checks,
 * or a body streamed from another server as it arrives.
 */
export type MetricsResponse =
  | { status: number; json: unknown }
  | { status: number; jsonText: string }
  | { status: number; text: string }
  | { status: number; contentType: string; stream: Readable };

export interface MetricsHandlerOptions {
  readonly source: ExternalMetricsSource;
  readonly authenticator: { authenticate(request: CredentialsView): Promise<AuthenticationResult> };
  readonly authorizer: { authorize(user: UserInfo, attributes: ResourceAttributes): Promise<AccessDecision> };
  readonly log: Logger;
  /** Why the server cannot serve metrics yet (e.g. authentication config not read), or undefined when ready. */
  readonly notReadyReason: () => string | undefined;
  /** Upper bound on one metric lookup; default 10 s, below the aggregator's own proxy timeout. */
  readonly metricTimeoutMs?: number;
  /** For metric deadlines; default the system clock. */
  readonly clock?: Clock;
  /** Another adapter that serves every metric swell does not own; without one, every metric is swell's. */
  readonly upstream?: UpstreamRouting;
}

export type MetricsHandler = (request: MetricsRequest) => Promise<MetricsResponse>;

type MetricRoute = Extract<Route, { kind: 'metric' }>;

/** The whole request → response logic of the server, with no socket in sight. */
export function createMetricsHandler(options: MetricsHandlerOptions): MetricsHandler {
  const timeoutMs = options.metricTimeoutMs ?? 10_000;
  const reads = new PendingReads({ timeoutMs, clock: options.clock ?? createSystemClock() });
  const serving: MetricServing = { ...options, reads, timeoutMs };
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
        return publicDocument(options, request, route);
      case 'metric':
        return metricRequest(serving, request, route);
    }
  };
}

// Discovery and OpenAPI are public to every authenticated user under default RBAC (system:discovery).
async function publicDocument(
  options: MetricsHandlerOptions,
  request: MetricsRequest,
  route: Extract<Route, { kind: 'discovery' | 'openapi' }>,
): Promise<MetricsResponse> {
  const authentication = await options.authenticator.authenticate(request);
  if (!authentication.ok) return unauthenticated(options, request, authentication.message);
  if (route.kind === 'discovery' && route.document === 'resources' && options.upstream) {
    return { status: 200, json: { ...apiResourceList, resources: await options.upstream.discoveryResources(apiResourceList.resources) } };
  }
  if (route.kind === 'discovery')
    return { status: 200, json: route.document === 'groups' ? apiGroupList : route.document === 'group' ? apiGroup : apiResourceList };
  return { status: 200, json: route.document === 'v2' ? openApiV2 : route.document === 'v3' ? openApiV3Index : openApiV3GroupVersion };
}

interface MetricServing extends MetricsHandlerOptions {
  readonly reads: PendingReads;
  readonly timeoutMs: number;
}

/**
 * Authenticate, authorize, read, answer: the path every HPA poll takes, kept to one async function (each
 * extra async layer is another promise and another trip through the microtask queue).
 */
async function metricRequest(options: MetricServing, request: MetricsRequest, route: MetricRoute): Promise<MetricsResponse> {
  const authentication = await options.authenticator.authenticate(request);
  if (!authentication.ok) return unauthenticated(options, request, authentication.message);
  const user = authentication.user;
  let decision: AccessDecision;
  try {
    decision = await options.authorizer.authorize(user, {
      namespace: route.namespace,
      verb: 'get',
      group: metricsGroup,
      version: metricsVersion,
      resource: route.metricName,
    });
  } catch (error) {
    options.log.error({ user: user.username, err: error }, 'SubjectAccessReview failed');
    return failure('InternalError', 'authorization check failed; see the metrics server log');
  }
  if (!decision.allowed) return forbidden(options, user, route, decision);
  if (options.upstream && !options.upstream.owns(route)) return options.upstream.forward(request, route.metricName);
  const scaledObject = scaledObjectOf(route.labelSelector);
  if (!scaledObject.ok) return failure('BadRequest', scaledObject.message);
  const outcome = await options.reads.run(
    (context) => options.source.getMetric(new MetricRead(route.namespace, scaledObject.name, route.metricName, context)),
    () => request.signal,
  );
  return metricResponse(options, route, scaledObject.name, outcome);
}

/**
 * What the source is asked, its signal made only if the source looks at it. A class rather than an object
 * literal with a getter: V8 gives every such literal fresh property metadata, which the young-generation
 * collector then copies and promotes (megabytes per collection at a thousand requests a second).
 */
class MetricRead implements ExternalMetricRequest {
  constructor(
    readonly namespace: string,
    readonly scaledObject: string,
    readonly metricName: string,
    private readonly context: ReadContext,
  ) {}

  get signal(): AbortSignal {
    return this.context.signal;
  }
}

function unauthenticated(options: MetricsHandlerOptions, request: MetricsRequest, reason: string): MetricsResponse {
  options.log.warn({ path: pathOf(request.url), reason }, 'refused unauthenticated request');
  return failure('Unauthorized', 'Unauthorized');
}

function forbidden(options: MetricsHandlerOptions, user: UserInfo, route: MetricRoute, decision: AccessDecision): MetricsResponse {
  options.log.warn(
    { user: user.username, groups: user.groups, namespace: route.namespace, metric: route.metricName, reason: decision.reason },
    'refused unauthorized metric request',
  );
  const because = decision.reason ? `: ${decision.reason}` : '';
  return failure(
    'Forbidden',
    `externalmetrics.${metricsGroup} "${route.metricName}" is forbidden: User "${user.username}" cannot get resource "${route.metricName}" in API group "${metricsGroup}" in the namespace "${route.namespace}"${because}`,
  );
}

function metricResponse(options: MetricServing, route: MetricRoute, scaledObject: string, outcome: ReadOutcome<ExternalMetricResult>): MetricsResponse {
  const { namespace, metricName } = route;
  const what = () => `metric "${metricName}" of ScaledObject ${namespace}/${scaledObject}`;
  switch (outcome.kind) {
    case 'timeout':
      return failure('Timeout', `${what()}: no value within ${options.timeoutMs} ms`);
    case 'client-gone':
      return failure('InternalError', `${what()}: the client went away`);
    case 'error':
      options.log.error({ namespace, scaledObject, metric: metricName, err: outcome.error }, 'metric source failed');
      return failure('InternalError', `${what()}: the metric source failed unexpectedly`);
    case 'value':
      break;
  }
  const result = outcome.value;
  if (result.ok) return { status: 200, jsonText: metricValueListJson(metricName, result.value, result.timestamp.getTime()) };
  switch (result.reason) {
    case 'ScaledObjectNotFound':
      return failure('NotFound', `ScaledObject ${namespace}/${scaledObject} not found: ${result.message}`);
    case 'MetricNotFound':
      return failure('NotFound', `${what()} not found: ${result.message}`);
    case 'TriggerError':
      return failure('InternalError', `${what()} encountered an error: ${result.message}`);
  }
}

/**
 * The ExternalMetricValueList of one value, written out directly: every HPA poll gets one, and serialising the
 * equivalent object tree with JSON.stringify costs about ten times as much. Only the metric name is free text.
 */
function metricValueListJson(metricName: string, value: number, timestampMs: number): string {
  return `{"kind":"ExternalMetricValueList","apiVersion":"${metricsGroupVersion}","metadata":{},"items":[{"metricName":${JSON.stringify(metricName)},"metricLabels":{},"timestamp":"${rfc3339Seconds(timestampMs)}","value":"${formatQuantity(value)}"}]}`;
}

function scaledObjectOf(labelSelector: string | undefined): { ok: true; name: string } | { ok: false; message: string } {
  const missing = () => `scaledObject name is not specified: pass labelSelector=${scaledObjectLabel}=<name>`;
  if (labelSelector === undefined || labelSelector.trim() === '') return { ok: false, message: missing() };
  if (isPlainScaledObjectSelector(labelSelector)) return { ok: true, name: labelSelector.slice(plainSelectorPrefix.length) };
  try {
    const name = equalityRequirements(labelSelector).get(scaledObjectLabel);
    return name ? { ok: true, name } : { ok: false, message: missing() };
  } catch (error) {
    if (error instanceof LabelSelectorError) return { ok: false, message: error.message };
    throw error;
  }
}

const plainSelectorPrefix = `${scaledObjectLabel}=`;
const plainSelectorName = /^[^=!\s,()]+$/;

/**
 * `scaledobject.keda.sh/name=<name>` and nothing else, as every HPA writes it: the name is what follows, with
 * no need to split and match a whole selector (arrays, a map and a match per request).
 */
function isPlainScaledObjectSelector(selector: string): boolean {
  return selector.startsWith(plainSelectorPrefix) && plainSelectorName.test(selector.slice(plainSelectorPrefix.length));
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
