/** What the metrics server asks for: one metric of one ScaledObject, as named by the HPA's request. */
export interface ExternalMetricRequest {
  namespace: string;
  scaledObject: string;
  metricName: string;
  /** Aborted when the HTTP client goes away or the request times out. */
  signal?: AbortSignal;
}

export type ExternalMetricResult =
  { ok: true; value: number; timestamp: Date } | { ok: false; reason: 'ScaledObjectNotFound' | 'MetricNotFound' | 'TriggerError'; message: string };

/**
 * The one thing the metrics server needs from the operator. The server knows nothing about scalers: whoever
 * implements this decides whether a value comes from a cache, a live query, or a fallback.
 */
export interface ExternalMetricsSource {
  /** Value of one metric of one ScaledObject, or a typed failure. */
  getMetric(request: ExternalMetricRequest): Promise<ExternalMetricResult>;
}
