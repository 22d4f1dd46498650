/*
 * What forwarding through swell adds to a metric request for another adapter. prometheus-adapter (the sandbox's)
 * serves an external metric; the compiled `swell operator` runs with it as its upstream. The same request is sent
 * at a fixed rate, first straight to the adapter, then to swell, which checks access and forwards it; both as
 * the aggregator sends it (the front proxy's client certificate, the user in headers, kept-alive connections).
 * The difference of the latency percentiles is what swell adds. A last phase reads one of swell's own metrics
 * while the adapter is stopped (SIGSTOP: it accepts connections but never answers), to show that its own
 * metrics do not wait for the adapter.
 *
 *   npm run build && npx swell dev up --components kube,prometheus,prometheus-adapter && source .swell/dev/env
 *   npx tsx bench/forwarding.ts [--rate 50] [--seconds 20]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Gauge, Registry } from 'prom-client';
import { resourcePath, createHttpKubeClient, type KubeClient } from '../src/operator/kube-client.js';
import { clusterPkiFiles } from '../src/sandbox/kube-pki.js';
import { kubePkiEnvVar } from '../src/sandbox/kube.js';
import { addScrapeTarget, removeScrapeTarget } from '../src/sandbox/prometheus.js';
import { installCrds, waitFor } from '../test/integration/operator-support.js';

const repo = join(import.meta.dirname, '..');
const metricName = 'sandbox_bench_backlog';

interface Phase {
  phase: string;
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run \`npx swell dev up --components kube,prometheus,prometheus-adapter\` and \`source .swell/dev/env\` first`);
  return value;
}

function options(): { rate: number; seconds: number } {
  const { values } = parseArgs({ options: { rate: { type: 'string', default: '50' }, seconds: { type: 'string', default: '20' } } });
  const int = (name: string, raw: string): number => {
    if (!/^[1-9]\d*$/.test(raw)) throw new Error(`--${name}: "${raw}" is not a positive integer`);
    return Number(raw);
  };
  return { rate: int('rate', values.rate), seconds: int('seconds', values.seconds) };
}

/** A keep-alive HTTPS client that calls as the aggregator does: front-proxy certificate, user and groups in headers. */
function aggregatorLikeClient(cert: string, key: string): (port: number, path: string) => Promise<{ status: number; ms: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16, cert, key, rejectUnauthorized: false });
  const headers = { 'x-remote-user': 'swell-sandbox-admin', 'x-remote-group': ['system:masters', 'system:authenticated'], accept: 'application/json' };
  return (port, path) =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = request({ host: '127.0.0.1', port, path, agent, headers, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve({ status: 0, ms: performance.now() - started }));
      req.end();
    });
}

/** Sends at `rate` per second for `seconds`, on schedule whether or not earlier requests have answered. */
async function fixedRate(name: string, rate: number, seconds: number, send: () => Promise<{ status: number; ms: number }>): Promise<Phase> {
  const results: Promise<{ status: number; ms: number }>[] = [];
  const started = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    results.push(send());
  }
  const done = await Promise.all(results);
  const latencies = done.map((d) => d.ms).sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const statuses: Record<string, number> = {};
  for (const d of done) statuses[String(d.status)] = (statuses[String(d.status)] ?? 0) + 1;
  return { phase: name, requests: done.length, errors: done.filter((d) => d.status !== 200).length, statuses, latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(latencies.at(-1) ?? 0) } };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

async function serviceAccountToken(client: KubeClient, namespace: string): Promise<string> {
  await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace }), { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'swell' } } });
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'swell-reads-external-metrics' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ kind: 'ServiceAccount', name: 'swell', namespace }],
  };
  await client.request('POST', resourcePath({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', namespace }), { body: binding });
  const review = await client.request<{ status: { token: string } }>('POST', `${resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace, name: 'swell' })}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  return review.status.token;
}

function startOperator(args: string[], logFile: string): Promise<{ child: ChildProcess; metricsApiPort: number }> {
  const child = spawn(process.execPath, ['bin/swell.js', 'operator', ...args], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      void writeFile(logFile, output);
      reject(new Error(`swell operator did not start in 90 s; see ${logFile}`));
    }, 90_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      // Only the start is kept: the rest of the log is not read, and a long run would keep all of it.
      if (output.length < 1_000_000) output += chunk.toString('utf8');
      const line = output.split('\n').find((l) => l.includes('"swell operator started"'));
      if (!line) return;
      clearTimeout(timer);
      resolve({ child, metricsApiPort: (JSON.parse(line) as { metricsApiPort: number }).metricsApiPort });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      void writeFile(logFile, output);
      reject(new Error(`swell operator exited (${String(code)}); see ${logFile}`));
    });
  });
}

async function main(): Promise<void> {
  const opts = options();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(env('KUBECONFIG'));
  const client = createHttpKubeClient(kubeConfig);
  const adapterUrl = env('PROMETHEUS_ADAPTER_URL');
  const adapterPort = Number(new URL(adapterUrl).port);
  const namespace = `bench-forwarding-${randomBytes(3).toString('hex')}`;
  const work = join(repo, '.swell', 'bench', namespace);
  await mkdir(work, { recursive: true });
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });

  const registry = new Registry();
  new Gauge({ name: metricName, help: 'a value for the forwarding benchmark', labelNames: ['bench'], registers: [registry] }).set({ bench: namespace }, 7);
  const exporter = createHttpServer((_req, res) => void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body)));
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  await addScrapeTarget(env('PROMETHEUS_TARGETS_FILE'), target);

  await installCrds(client);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, await serviceAccountToken(client, namespace), { mode: 0o600 });
  const pki = clusterPkiFiles(env(kubePkiEnvVar));
  const get = aggregatorLikeClient(await readFile(pki.frontProxyClient.cert, 'utf8'), await readFile(pki.frontProxyClient.key, 'utf8'));
  const path = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${metricName}?labelSelector=${encodeURIComponent(`bench=${namespace}`)}`;
  await waitFor('prometheus-adapter to serve the bench metric', 60_000, async () => ((await get(adapterPort, path)).status === 200 ? true : undefined));

  const logFile = join(work, 'operator.log');
  const operator = await startOperator(
    ['--namespace', namespace, '--lease-namespace', namespace, '--cluster-auth-namespace', namespace, '--metrics-port', '0', '--health-port', '0', '--burst', 'false', '--webhooks', 'false',
      '--upstream-metrics-url', adapterUrl, '--upstream-metrics-ca-file', env('PROMETHEUS_ADAPTER_CA_FILE'), '--upstream-metrics-token-file', tokenFile],
    logFile,
  );
  const pidRecord = await readFile(join(repo, '.swell', 'dev', 'pids', 'prometheus-adapter.pid'), 'utf8').catch(() => '{"pid":0}');
  const adapterPid = (JSON.parse(pidRecord) as { pid: number }).pid;
  try {
    // Warm both paths: connections, token review and access review caches.
    await fixedRate('warm-up', opts.rate, 3, () => get(adapterPort, path));
    await fixedRate('warm-up', opts.rate, 3, () => get(operator.metricsApiPort, path));
    const direct = await fixedRate('direct to prometheus-adapter', opts.rate, opts.seconds, () => get(adapterPort, path));
    const forwarded = await fixedRate('forwarded by swell', opts.rate, opts.seconds, () => get(operator.metricsApiPort, path));
    const phases = [direct, forwarded];
    const added = { p50: round(forwarded.latencyMs.p50 - direct.latencyMs.p50), p99: round(forwarded.latencyMs.p99 - direct.latencyMs.p99) };
    let ownWhileAdapterHangs: Phase | undefined;
    let upstreamWhileAdapterHangs: Phase | undefined;
    if (adapterPid > 0) {
      // One of swell's own metrics: the request is swell's (its selector names a ScaledObject); none exists, so
      // swell answers 404 itself, which is as far as the path goes without a scaler. It must not wait for the adapter.
      const own = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/s0-cron?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=none')}`;
      process.kill(adapterPid, 'SIGSTOP');
      try {
        upstreamWhileAdapterHangs = await fixedRate('forwarded, adapter hung', Math.min(opts.rate, 10), 3, () => get(operator.metricsApiPort, path));
        ownWhileAdapterHangs = await fixedRate("swell's own metric, adapter hung", opts.rate, Math.min(opts.seconds, 10), () => get(operator.metricsApiPort, own));
      } finally {
        process.kill(adapterPid, 'SIGCONT');
      }
      phases.push(upstreamWhileAdapterHangs, ownWhileAdapterHangs);
    }
    for (const p of phases) {
      process.stdout.write(`${p.phase.padEnd(36)} ${String(p.requests).padStart(6)} req  p50 ${p.latencyMs.p50.toFixed(2)} ms  p90 ${p.latencyMs.p90.toFixed(2)} ms  p99 ${p.latencyMs.p99.toFixed(2)} ms  max ${p.latencyMs.max.toFixed(2)} ms  statuses ${JSON.stringify(p.statuses)}\n`);
    }
    process.stdout.write(`added by forwarding at ${opts.rate}/s: p50 ${added.p50.toFixed(2)} ms, p99 ${added.p99.toFixed(2)} ms\n`);
    const result = { benchmark: 'forwarding', rate: opts.rate, seconds: opts.seconds, cpus: cpus().length, loadavg: loadavg(), node: process.version, phases, addedMs: added };
    const out = join(repo, 'bench', 'results', 'forwarding.json');
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    operator.child.kill('SIGTERM');
    await new Promise((resolve) => operator.child.once('exit', resolve));
    await removeScrapeTarget(env('PROMETHEUS_TARGETS_FILE'), target);
    await new Promise((resolve) => exporter.close(resolve));
    await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  }
}

await main();
