import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { metricsText, serveMetrics } from './http-endpoints.js';

function registryWith(familySize: number) {
  const registry = new Registry();
  const gauges = ['first', 'second', 'third'].map(
    (name) => new Gauge({ name: `big_${name}`, help: `family ${name}`, labelNames: ['object'], registers: [registry] }),
  );
  for (const gauge of gauges) for (let i = 0; i < familySize; i++) gauge.set({ object: `ns/object-${i}` }, i);
  new Counter({ name: 'small_total', help: 'a counter "quoted"\nover two lines', labelNames: ['result'], registers: [registry] }).inc({ result: 'a\\b' });
  new Histogram({ name: 'small_seconds', help: 'a histogram', buckets: [0.1, 1], registers: [registry] }).observe(0.5);
  new Gauge({ name: 'empty', help: 'no series yet', registers: [registry] });
  return registry;
}

describe('metricsText', () => {
  it('is the text registry.metrics() gives, family for family', async () => {
    const registry = registryWith(3);
    expect(await metricsText(registry)).toBe(await registry.metrics());
  });

  it('lets I/O and timers run between families instead of formatting every series in one turn', async () => {
    const registry = registryWith(5_000);
    let formatted = false;
    const text = metricsText(registry).then((t) => ((formatted = true), t));
    const doneAtNextTurn = await new Promise<boolean>((resolve) => setImmediate(() => resolve(formatted)));
    expect(doneAtNextTurn).toBe(false);
    expect((await text).split('\n').filter((line) => line.startsWith('big_'))).toHaveLength(15_000);
  });

  it('serves only the named families when asked by ?name=, and every family otherwise', async () => {
    const registry = registryWith(2);
    const endpoint = await serveMetrics(registry, 0, '127.0.0.1');
    try {
      const get = async (query: string) => (await fetch(`http://127.0.0.1:${endpoint.port}/metrics${query}`)).text();
      const familiesIn = (text: string) => text.split('\n').flatMap((line) => /^# TYPE (\S+)/.exec(line)?.[1] ?? []);
      expect(familiesIn(await get('?name=big_second&name=small_total'))).toEqual(['big_second', 'small_total']);
      expect(await get('?name=big_second')).toBe(`${await registry.getSingleMetricAsString('big_second')}\n`);
      expect(await get('')).toBe(await registry.metrics());
    } finally {
      await endpoint.close();
    }
  });
});
