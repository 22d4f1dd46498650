// @sandbox prometheus
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { traceFromPrometheus, TraceError } from '../../src/simulate/trace.js';

// `swell simulate --from-prometheus` builds its trace from the sandbox's real Prometheus (query_range), which
// scrapes itself every second: `max(up{job="prometheus"})` is 1 at every step once the first scrapes are in.

const repo = join(import.meta.dirname, '..', '..');
let url: string;
let dir: string;

beforeAll(async () => {
  const env = process.env.PROMETHEUS_URL;
  if (!env) throw new Error('PROMETHEUS_URL is not set: run through the integration project so the sandbox starts Prometheus');
  url = env;
  dir = await mkdtemp(join(tmpdir(), 'swell-simulate-prom-'));
  // Wait (bounded) until Prometheus holds 20 s of its own scrapes.
  for (let i = 0; i < 60; i += 1) {
    const trace = await traceFromPrometheus({ url, query: 'max(up{job="prometheus"})', rangeSeconds: 20, stepSeconds: 1 }).catch(() => undefined);
    if (trace && trace.times.length >= 18) return;
    await sleep(1000);
  }
  throw new Error(`Prometheus at ${url} did not gather 20 s of its own scrapes within a minute`);
}, 90_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => vi.restoreAllMocks());

describe('traces from Prometheus', () => {
  it('reads a range query as a metric trace, times from the start of the range', async () => {
    const trace = await traceFromPrometheus({ url, query: 'max(up{job="prometheus"})', rangeSeconds: 20, stepSeconds: 2 });
    expect(trace.kind).toBe('metric');
    // Steps at 0, 2, ..., 20 s from the start of the range, all with Prometheus up.
    expect([...trace.times]).toEqual(Array.from({ length: 11 }, (_, i) => i * 2));
    expect(new Set(trace.values)).toEqual(new Set([1]));
    expect(trace.duration).toBe(20);
  });

  it('reports what Prometheus says about a bad query, and an empty result', async () => {
    await expect(traceFromPrometheus({ url, query: 'sum(', rangeSeconds: 20, stepSeconds: 2 })).rejects.toThrow(/answered 400: .*parse error/);
    await expect(traceFromPrometheus({ url, query: 'no_such_metric_anywhere', rangeSeconds: 20, stepSeconds: 2 })).rejects.toThrow(TraceError);
  });

  it('runs `swell simulate --from-prometheus` on it', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await main([
      'simulate',
      '-f',
      join(repo, 'examples', 'prometheus.yaml'),
      '--from-prometheus',
      url,
      '--query',
      'max(up{job="prometheus"})',
      '--range',
      '30s',
      '--step',
      '1s',
      '--bases',
      '1',
      '--output',
      'json',
    ]);
    const out = stdout.mock.calls.map((c) => String(c[0])).join('');
    const err = stderr.mock.calls.map((c) => String(c[0])).join('');
    expect(err).toBe('');
    expect([0, 1]).toContain(code);
    const report = JSON.parse(out) as { trace: { kind: string; seconds: number }; results: { name: string; served: number }[] };
    expect(report.trace).toMatchObject({ kind: 'metric', seconds: 30 });
    // One unit of work a second for 30 s, served by every strategy.
    for (const r of report.results) expect(r.served).toBeCloseTo(30, 0);
    expect(await readFile(join(repo, 'examples', 'prometheus.yaml'), 'utf8')).toContain('type: prometheus');
  });
});
