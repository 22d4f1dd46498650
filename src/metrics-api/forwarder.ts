import type { Logger } from '../log.js';
import type { ApiResource, MetricsRequest, MetricsResponse, UpstreamRouting } from './handler.js';
import type { MetricOwnership, MetricQuestion } from './ownership.js';
import { metricsGroupVersion } from './routes.js';
import { failureStatus } from './status.js';
import { readText, UpstreamUnavailableError, type UpstreamClient } from './upstream.js';

export interface ForwarderOptions {
  readonly client: Pick<UpstreamClient, 'get' | 'description'>;
  readonly ownership: Pick<MetricOwnership, 'owns' | 'metricNames'>;
  readonly log: Logger;
  /** How long the adapter's discovery list is reused before it is asked again; default 30 s. */
  readonly discoveryTtlMs?: number;
  readonly clock?: () => number;
}

const discoveryPath = `/apis/${metricsGroupVersion}`;

/**
 * Routes metric requests swell does not own to the adapter that was there before. The original path and
 * query (namespace, metric name, label selector) go on unchanged, and the answer is streamed back as the
 * adapter wrote it, status included, so its own errors (404, 403) reach the client as they are. Only an
 * adapter that cannot be asked turns into a 503, and only for its metrics.
 */
export class UpstreamForwarder implements UpstreamRouting {
  private readonly discovery: UpstreamDiscovery;

  constructor(private readonly options: ForwarderOptions) {
    this.discovery = new UpstreamDiscovery(options);
  }

  owns(question: MetricQuestion): boolean {
    return this.options.ownership.owns(question);
  }

  async forward(request: MetricsRequest, metricName: string): Promise<MetricsResponse> {
    try {
      const answer = await this.options.client.get(request.url, request.headers.accept?.[0], request.signal);
      return { status: answer.status, contentType: answer.contentType, stream: answer.body };
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError)) throw error;
      this.options.log.warn({ metric: metricName, upstream: this.options.client.description, reason: error.message }, 'upstream metrics server unavailable');
      const status = failureStatus(
        'ServiceUnavailable',
        `external metric "${metricName}" is served by the upstream metrics server ${this.options.client.description}, which is unavailable: ${error.message}`,
      );
      return { status: status.code, json: status };
    }
  }

  async discoveryResources(own: readonly ApiResource[]): Promise<ApiResource[]> {
    const served = this.options.ownership.metricNames().map(metricResource);
    return mergeResources([...own, ...served], await this.discovery.resources());
  }
}

/** Resources listed first win; later ones are added only under names not listed yet. */
export function mergeResources(first: readonly ApiResource[], second: readonly ApiResource[]): ApiResource[] {
  const byName = new Map<string, ApiResource>();
  for (const resource of [...first, ...second]) if (!byName.has(resource.name)) byName.set(resource.name, resource);
  return [...byName.values()];
}

function metricResource(name: string): ApiResource {
  return { name, singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] };
}

/**
 * The adapter's discovery list, reused for a while and refreshed in the background: a discovery request
 * (the aggregator checks availability with one) waits for the adapter only while nothing is known yet, and
 * an adapter that is down leaves the last list it gave, or none.
 */
class UpstreamDiscovery {
  private last: { resources: ApiResource[]; at: number } | undefined;
  private refreshing: Promise<void> | undefined;
  private failing = false;
  private readonly ttlMs: number;
  private readonly clock: () => number;

  constructor(private readonly options: ForwarderOptions) {
    this.ttlMs = options.discoveryTtlMs ?? 30_000;
    this.clock = options.clock ?? Date.now;
  }

  async resources(): Promise<readonly ApiResource[]> {
    const fresh = this.last && this.clock() - this.last.at < this.ttlMs;
    if (!fresh) this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    if (!this.last) await this.refreshing;
    return this.last?.resources ?? [];
  }

  private async refresh(): Promise<void> {
    try {
      const answer = await this.options.client.get(discoveryPath, 'application/json');
      const text = await readText(answer.body);
      if (answer.status !== 200) throw new Error(`discovery answered ${answer.status}: ${text.slice(0, 200)}`);
      this.last = { resources: resourcesOf(JSON.parse(text) as unknown), at: this.clock() };
      if (this.failing) this.options.log.info({ upstream: this.options.client.description }, 'upstream metrics discovery works again');
      this.failing = false;
    } catch (error) {
      if (!this.failing)
        this.options.log.warn({ upstream: this.options.client.description, err: error }, 'upstream metrics discovery failed; listing swell metrics only');
      this.failing = true;
    }
  }
}

/** The resources of an APIResourceList, skipping entries that are not shaped like one. */
export function resourcesOf(document: unknown): ApiResource[] {
  const resources = (document as { resources?: unknown } | null)?.resources;
  if (!Array.isArray(resources)) throw new Error('discovery answer has no resources list');
  return resources.flatMap((entry: unknown) => {
    const r = entry as Partial<ApiResource> | null;
    if (typeof r?.name !== 'string' || r.name === '') return [];
    return [
      {
        name: r.name,
        singularName: typeof r.singularName === 'string' ? r.singularName : '',
        namespaced: r.namespaced !== false,
        kind: typeof r.kind === 'string' ? r.kind : 'ExternalMetricValueList',
        verbs: Array.isArray(r.verbs) ? r.verbs.filter((v): v is string => typeof v === 'string') : ['get'],
      },
    ];
  });
}
