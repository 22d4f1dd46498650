import { describe, expect, it } from 'vitest';
import { externalMetricsSourceOf } from './external-metrics-adapter.js';
import { MetricsSourceError, type MetricsSource } from './metrics-source.js';

const request = { namespace: 'ns', scaledObject: 'so', metricName: 's0-redis-jobs' };

function sourceThat(answer: () => Promise<{ value: number; timestamp: number }>): MetricsSource {
  return { getMetric: () => answer() };
}

describe('externalMetricsSourceOf', () => {
  it('passes a value through with its timestamp as a Date', async () => {
    const result = await externalMetricsSourceOf(sourceThat(() => Promise.resolve({ value: 42, timestamp: 1_700_000_000_000 }))).getMetric(request);
    expect(result).toEqual({ ok: true, value: 42, timestamp: new Date(1_700_000_000_000) });
  });

  it.each([
    { reason: 'NotFound' as const, expected: 'MetricNotFound' },
    { reason: 'Unavailable' as const, expected: 'TriggerError' },
  ])('maps $reason to $expected with the message', async ({ reason, expected }) => {
    const result = await externalMetricsSourceOf(sourceThat(() => Promise.reject(new MetricsSourceError(reason, `why ${reason}`)))).getMetric(request);
    expect(result).toEqual({ ok: false, reason: expected, message: `why ${reason}` });
  });

  it('lets unexpected errors reject', async () => {
    await expect(externalMetricsSourceOf(sourceThat(() => Promise.reject(new TypeError('bug')))).getMetric(request)).rejects.toThrow('bug');
  });

  it("hands the request's deadline to the source without making the signal itself", async () => {
    let made = 0;
    const deadline = new AbortController();
    const withSignal = {
      ...request,
      get signal() {
        made++;
        return deadline.signal;
      },
    };
    let seen: AbortSignal | undefined;
    const source: MetricsSource = {
      getMetric: (_ns, _so, _metric, caller) => {
        expect(made).toBe(0);
        seen = caller?.signal;
        return Promise.resolve({ value: 1, timestamp: 0 });
      },
    };
    await externalMetricsSourceOf(source).getMetric(withSignal);
    expect(seen).toBe(deadline.signal);
  });
});
