// @sandbox prometheus
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { Scaler, ScalerContext, TriggerSpec } from '../../scalers/scaler.js';
import { FakeClock } from '../../src/controller/fake-clock.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';

/*
 * The metrics-api scaler against two real HTTP servers: a small server of this test that serves its stats in
 * each format and checks credentials, and the sandbox's Prometheus, whose own JSON query API is a metrics API.
 */

function context(trigger: TriggerSpec, extra: Partial<ScalerContext> = {}): ScalerContext {
  return { triggerIndex: 0, trigger, authParams: {}, resolvedEnv: {}, namespace: 'default', ...extra };
}

function metricOf(scaler: Scaler): string {
  const spec = scaler.metricSpecs[0];
  if (spec?.kind !== 'External') throw new Error('expected an external metric');
  return spec.metricName;
}

const stats = {
  components: { worker: { tasks: 12, queued: '1500m' } },
  queues: [
    { name: 'mail', depth: 3 },
    { name: 'video', depth: 40 },
  ],
};
const bodies: Record<string, { type: string; body: string }> = {
  '/stats.json': { type: 'application/json', body: JSON.stringify(stats) },
  '/stats.yaml': { type: 'application/x-yaml', body: 'components:\n  worker:\n    tasks: 12\n' },
  '/stats.xml': { type: 'application/xml', body: '<?xml version="1.0"?><stats><worker><tasks>12</tasks></worker></stats>' },
  '/metrics': { type: 'text/plain; version=0.0.4', body: '# TYPE jobs_waiting gauge\njobs_waiting{queue="mail"} 3\njobs_waiting{queue="video"} 40\n' },
};

describe('metrics-api scaler on real HTTP servers', () => {
  let server: http.Server;
  let base = '';
  const requests: { path: string; authorization?: string; apiKey?: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push({
        path: url.pathname,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(url.searchParams.get('api_key') ? { apiKey: url.searchParams.get('api_key') ?? '' } : {}),
      });
      if (url.pathname === '/private.json' && req.headers.authorization !== 'Bearer let-me-in') {
        res.writeHead(401).end();
        return;
      }
      const found = bodies[url.pathname === '/private.json' ? '/stats.json' : url.pathname];
      if (!found) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': found.type }).end(found.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const read = async (metadata: Record<string, string>, extra: Partial<ScalerContext> = {}): Promise<number> => {
    const scaler = createScaler(context({ type: 'metrics-api', metadata: { targetValue: '5', ...metadata } }, extra), testDeps());
    try {
      return (await scaler.read(metricOf(scaler))).value;
    } finally {
      await scaler.close();
    }
  };

  it.each<[string, Record<string, string>, number]>([
    ['json with a GJSON path', { url: '/stats.json', valueLocation: 'components.worker.tasks' }, 12],
    ['json with a GJSON query', { url: '/stats.json', valueLocation: 'queues.#(name=="video").depth' }, 40],
    ['json with a quantity string', { url: '/stats.json', valueLocation: 'components.worker.queued' }, 1.5],
    ['yaml', { url: '/stats.yaml', format: 'yaml', valueLocation: 'components.worker.tasks' }, 12],
    ['xml', { url: '/stats.xml', format: 'xml', valueLocation: 'stats.worker.tasks' }, 12],
    ['prometheus text', { url: '/metrics', format: 'prometheus', valueLocation: 'jobs_waiting{queue="video"}' }, 40],
  ])('reads %s', async (_name, { url, ...metadata }, value) => {
    await expect(read({ url: `${base}${url ?? ''}`, ...metadata })).resolves.toBe(value);
  });

  it('sends bearer and apiKey credentials from the TriggerAuthentication, and tells a refusal by its status', async () => {
    const url = `${base}/private.json`;
    await expect(read({ url, valueLocation: 'components.worker.tasks', authMode: 'bearer' }, { authParams: { token: 'let-me-in' } })).resolves.toBe(12);
    await expect(read({ url, valueLocation: 'components.worker.tasks', authMode: 'bearer' }, { authParams: { token: 'wrong' } })).rejects.toThrow(
      `metrics API ${base} returned 401`,
    );
    await read(
      { url: `${base}/stats.json`, valueLocation: 'components.worker.tasks', authMode: 'apiKey' },
      { authParams: { apiKey: 'k-123', method: 'query' } },
    );
    expect(requests.at(-1)).toEqual({ path: '/stats.json', apiKey: 'k-123' });
  });

  it('100 scalers on one URL make one request per polling interval, whatever value each takes from it', async () => {
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock);
    const locations = ['components.worker.tasks', 'queues.1.depth', 'queues.#(name=="mail").depth'];
    const scalers = Array.from({ length: 100 }, (_, i) =>
      createScaler(
        context(
          { type: 'metrics-api', metadata: { url: `${base}/stats.json`, valueLocation: locations[i % 3] ?? '', targetValue: '5' } },
          { triggerIndex: i % 3 },
        ),
        deps,
      ),
    );
    const intervalMs = 30_000;
    const before = requests.length;
    for (let interval = 0; interval < 3; interval++) {
      for (let step = 0; step < 4; step++) {
        const readings = await Promise.all(scalers.map((s) => s.read(metricOf(s), { maxAgeMs: intervalMs })));
        expect(new Set(readings.map((r) => r.value))).toEqual(new Set([12, 40, 3]));
        await clock.advance(intervalMs / 5);
      }
      await clock.advance(intervalMs);
    }
    const made = requests.length - before;
    process.stdout.write(`[metrics-api] 100 ScaledObjects on one URL: ${made / 3} requests per polling interval, ${deps.connections.size} agent\n`);
    expect(made).toBe(3);
    expect(deps.connections.size).toBe(1);
    await Promise.all(scalers.map((s) => s.close()));
    expect(deps.connections.size).toBe(0);
  });

  it("reads Prometheus's own JSON query API as a metrics API", async () => {
    const prometheus = process.env.PROMETHEUS_URL;
    if (!prometheus) throw new Error('PROMETHEUS_URL is not set: the sandbox setup should have started Prometheus');
    const url = `${prometheus}/api/v1/query?query=${encodeURIComponent('sum(up{job="prometheus"})')}`;
    let value = 0;
    for (let attempt = 0; attempt < 30 && value === 0; attempt++) {
      value = await read({ url, valueLocation: 'data.result.0.value.1' }).catch(() => 0);
      if (value === 0) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(value).toBe(1);
    await expect(read({ url, valueLocation: 'data.result.0.metric' })).rejects.toThrow(/must point to value of type number/);
  });
});
