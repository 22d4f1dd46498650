// @sandbox prometheus
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addScrapeTarget, readTargets, removeScrapeTarget } from '../../src/sandbox/prometheus.js';

// The Prometheus scaler runs PromQL through /api/v1/query. The sandbox's Prometheus must pick up a target
// added at runtime to its file_sd targets file and serve the scraped value back within a few seconds.

interface QueryResponse {
  status: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
  error?: string;
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the integration project so the sandbox starts Prometheus`);
  return value;
}

async function query(promql: string): Promise<number[]> {
  const response = await fetch(`${requiredEnv('PROMETHEUS_URL')}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await response.json()) as QueryResponse;
  if (body.status !== 'success' || !body.data) throw new Error(`query ${promql} failed: ${body.error ?? response.status}`);
  return body.data.result.map((sample) => Number(sample.value[1]));
}

async function queryUntil(promql: string, done: (values: number[]) => boolean, timeoutMs = 30_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let values = await query(promql);
  while (!done(values)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting on ${promql}; last result ${JSON.stringify(values)}`);
    await sleep(250);
    values = await query(promql);
  }
  return values;
}

describe('sandbox prometheus', () => {
  const testId = randomUUID();
  const registry = new Registry();
  const depth = new Gauge({ name: 'swell_it_queue_depth', help: 'a queue depth the test controls', registers: [registry] });
  let server: Server;
  let target: string;
  let targetsFile: string;

  beforeAll(async () => {
    targetsFile = requiredEnv('PROMETHEUS_TARGETS_FILE');
    server = createServer((_request, response) => {
      registry.metrics().then(
        (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await removeScrapeTarget(targetsFile, target);
    await new Promise((resolve) => server.close(resolve));
  });

  const series = () => `swell_it_queue_depth{test="${testId}"}`;

  it('answers /-/ready', async () => {
    const response = await fetch(`${requiredEnv('PROMETHEUS_URL')}/-/ready`, { signal: AbortSignal.timeout(5000) });
    expect(response.status).toBe(200);
  });

  it('scrapes a target added to the targets file and serves its gauge through /api/v1/query', async () => {
    const value = 1 + Math.floor(Math.random() * 1000);
    depth.set(value);
    await addScrapeTarget(targetsFile, target, { test: testId });
    expect((await readTargets(targetsFile)).some((group) => group.targets.includes(target) && group.labels?.test === testId)).toBe(true);
    expect(await queryUntil(series(), (values) => values.length > 0)).toEqual([value]);
  });

  it('follows the gauge as it changes', async () => {
    const [current] = await query(series());
    const next = (current ?? 0) + 1 + Math.floor(Math.random() * 50);
    depth.set(next);
    expect(await queryUntil(series(), (values) => values[0] === next, 15_000)).toEqual([next]);
  });

  it('stops scraping a removed target', async () => {
    await removeScrapeTarget(targetsFile, target);
    expect((await readTargets(targetsFile)).some((group) => group.targets.includes(target))).toBe(false);
    // Prometheus marks a dropped target's series stale, so the instant query comes back empty.
    expect(await queryUntil(series(), (values) => values.length === 0, 20_000)).toEqual([]);
  });
});
