// @sandbox kube,prometheus
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { addScrapeTarget, removeScrapeTarget } from '../../src/sandbox/prometheus.js';
import { scalingStory } from './support.js';

/*
 * A team autoscales on a backlog their application exports to Prometheus: the test runs that exporter, the
 * sandbox's Prometheus scrapes it every second, and the ScaledObject's query reads it back.
 */
scalingStory('Prometheus query: 0 → 1 → 6 → 2 → 1 → 0', 'prometheus', async (namespace) => {
  const url = process.env.PROMETHEUS_URL;
  const targetsFile = process.env.PROMETHEUS_TARGETS_FILE;
  if (!url || !targetsFile) throw new Error('PROMETHEUS_URL and PROMETHEUS_TARGETS_FILE are not set');
  const registry = new Registry();
  const backlog = new Gauge({ name: 'e2e_backlog_jobs', help: 'jobs waiting in the e2e story', registers: [registry] });
  backlog.set(0);
  const server = createServer((_req, res) => {
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  await addScrapeTarget(targetsFile, target, { story: namespace });
  const query = `sum(e2e_backlog_jobs{story="${namespace}"})`;
  // Ready once Prometheus has scraped the exporter (a query with no sample is an error for the scaler).
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const reply = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as { data?: { result?: unknown[] } };
    if ((reply.data?.result?.length ?? 0) > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    metricName: 's0-prometheus',
    trigger: () => Promise.resolve({ type: 'prometheus', metadata: { serverAddress: url, query, threshold: '5' } }),
    async setBacklog(n) {
      backlog.set(n);
      // The scaler sees the change after the next scrape (1 s); wait until Prometheus answers with it.
      for (let attempt = 0; attempt < 40; attempt += 1) {
        const reply = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as {
          data?: { result?: { value: [number, string] }[] };
        };
        if (Number(reply.data?.result?.[0]?.value[1]) === n) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`Prometheus did not report ${n} for ${query}`);
    },
    async close() {
      await removeScrapeTarget(targetsFile, target);
      await new Promise((resolve) => server.close(resolve));
    },
  };
});
