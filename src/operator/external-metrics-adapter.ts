import type { ExternalMetricsSource } from '../metrics-api/source.js';
import { MetricsSourceError, type MetricsSource } from './metrics-source.js';

/**
 * Presents the operator's MetricsSource in the shape the external metrics API serves: typed failures instead
 * of rejections, so a missing object answers 404 and a failing trigger 500, and anything else stays a bug.
 */
export function externalMetricsSourceOf(source: MetricsSource): ExternalMetricsSource {
  return {
    getMetric: (request) =>
      source.getMetric(request.namespace, request.scaledObject, request.metricName, request).then(
        (v) => ({ ok: true, value: v.value, timestamp: new Date(v.timestamp) }),
        (error: unknown) => {
          if (!(error instanceof MetricsSourceError)) return Promise.reject(error instanceof Error ? error : new Error(String(error)));
          return { ok: false, reason: error.reason === 'NotFound' ? 'MetricNotFound' : 'TriggerError', message: error.message };
        },
      ),
  };
}
