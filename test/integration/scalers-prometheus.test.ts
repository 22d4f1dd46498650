// @sandbox prometheus
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps } from '../../scalers/testing.js';
import { addScrapeTarget, removeScrapeTarget } from '../../src/sandbox/prometheus.js';
import { createSystemClock } from '../../src/controller/clock.js';

const serverAddress = process.env.PROMETHEUS_URL ?? 'http://127.0.0.1:9090';
const targetsFile = process.env.PROMETHEUS_TARGETS_FILE;

function context(metadata: Record<string, string>): ScalerContext {
  return {
    triggerIndex: 0,
    trigger: { type: 'prometheus', metadata: { serverAddress, threshold: '10', ...metadata } },
    authParams: {},
    resolvedEnv: {},
    namespace: 'default',
  };
}

async function readQuery(query: string, metadata: Record<string, string> = {}) {
  const scaler = createScaler(context({ query, ...metadata }), testDeps());
  try {
    return await scaler.read('s0-prometheus');
  } finally {
    await scaler.close();
  }
}

describe('prometheus scaler on a real server', () => {
  it.each([
    ['a scalar vector', 'vector(42)', {}, { value: 42, active: true }],
    ['a fraction', 'vector(0.25)', { activationThreshold: '0.5' }, { value: 0.25, active: false }],
    ['a negative value keeps its sign for activity', 'vector(-3)', {}, { value: -3, active: false }],
    ['no series, ignoreNullValues (default)', 'absent_metric_swell_test_xyz', {}, { value: 0, active: false }],
    ['+Inf, ignoreNullValues', 'vector(1) / 0', {}, { value: 0, active: false }],
    ['NaN, ignoreNullValues', 'vector(0) / 0', {}, { value: 0, active: false }],
  ])('%s', async (_title, query, metadata, expected) => {
    await expect(readQuery(query, metadata)).resolves.toEqual(expected);
  });

  it.each([
    ['no series', 'absent_metric_swell_test_xyz', 'target may be lost'],
    ['+Inf', 'vector(1) / 0', 'returned +Inf'],
    ['NaN', 'vector(0) / 0', 'returned NaN'],
  ])('%s without ignoreNullValues is an error', async (_title, query, message) => {
    await expect(readQuery(query, { ignoreNullValues: 'false' })).rejects.toThrow(message);
  });

  it('rejects a query returning several series', async () => {
    const query = 'label_replace(vector(1), "k", "a", "", "") or label_replace(vector(2), "k", "b", "", "")';
    await expect(readQuery(query)).rejects.toThrow('returned multiple elements');
  });

  it('reports a bad query with the HTTP status', async () => {
    await expect(readQuery('sum(')).rejects.toThrow('prometheus query api returned error. status: 400');
  });

  it('fails fast when the server is down', async () => {
    const scaler = createScaler(
      { ...context({ query: 'up' }), trigger: { type: 'prometheus', metadata: { serverAddress: 'http://127.0.0.1:1', query: 'up', threshold: '1' } } },
      testDeps(),
    );
    await expect(scaler.read('s0-prometheus')).rejects.toThrow(/connection refused to Prometheus http:\/\/127.0.0.1:1/);
    await scaler.close();
  });

  describe.runIf(targetsFile)('a metric scraped from an exporter', () => {
    let exporter: http.Server;
    let target = '';
    let depth = 17;
    beforeAll(async () => {
      exporter = http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`# TYPE swell_test_queue_depth gauge\nswell_test_queue_depth ${depth}\n`);
      });
      await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
      target = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
      await addScrapeTarget(targetsFile ?? '', target, { swell_test: 'scalers' });
    });
    afterAll(async () => {
      await removeScrapeTarget(targetsFile ?? '', target);
      await new Promise<void>((resolve) => exporter.close(() => resolve()));
    });

    it('follows the exporter through real PromQL', async () => {
      const query = `sum(swell_test_queue_depth{instance="${target}"})`;
      const deps = testDeps(createSystemClock());
      const scaler = createScaler(context({ query, activationThreshold: '20' }), deps);
      const waitFor = async (value: number) => {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const reading = await scaler.read('s0-prometheus');
          if (reading.value === value || Date.now() > deadline) return reading;
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      await expect(waitFor(17)).resolves.toEqual({ value: 17, active: false });
      depth = 25;
      await expect(waitFor(25)).resolves.toEqual({ value: 25, active: true });
      await scaler.close();
    }, 45_000);
  });
});
