/*
 * What forwarding through swell adds to a metric request for another adapter. prometheus-adapter (the sandbox's)
 * serves an external metric; the compiled `swell operator` runs with it as its upstream. The same request is sent
 * at a fixed rate, first straight to the adapter, then to swell, which checks access and forwards it; both as
 * the aggregator sends it (the front proxy's client certificate, the user in headers, kept-alive connections).
 * The difference of the latency percentiles is what swell adds. A last phase reads one of swell's own metrics
 * while the adapter is stopped (SIGSTOP: it accepts connections but never answers), to show that its own
 * metrics (a cron ScaledObject's) do not wait for the adapter.
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
import { resourcePath, createHttpKubeClient, type KubeClient } from '../src/kube/client.js';
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
  if (!value)
    throw new Error(`${name} is not set; run \`npx swell dev up --components kube,prometheus,prometheus-adapter\` and \`source .swell/dev/env\` first`);
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

/**
 * A keep-alive HTTPS client that calls as the aggregator does: front-proxy certificate, user and groups in
 * headers, and no cap on connections (Go's transport opens another when all are busy), so that requests hung
 * on the adapter never hold up the others in the client.
 */
function aggregatorLikeClient(cert: string, key: string): (port: number, path: string) => Promise<{ status: number; ms: number }> {
  const agent = new Agent({ keepAlive: true, cert, key, rejectUnauthorized: false });
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

/** Sends to each target at `rate` per second, taking turns, on schedule whether or not earlier requests have answered. */
async function interleaved<const N extends readonly string[]>(
  names: N,
  rate: number,
  seconds: number,
  sends: (() => Promise<{ status: number; ms: number }>)[],
): Promise<{ [K in keyof N]: Phase }> {
  const results: Promise<{ status: number; ms: number }>[][] = sends.map(() => []);
  const started = performance.now();
  const ticks = rate * seconds * sends.length;
  for (let i = 0; i < ticks; i += 1) {
    const due = started + (i * 1000) / (rate * sends.length);
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const which = i % sends.length;
    results[which]?.push((sends[which] as () => Promise<{ status: number; ms: number }>)());
  }
  const phases = await Promise.all(results.map(async (list, n) => summarise(names[n] ?? `target ${n}`, await Promise.all(list))));
  return phases as { [K in keyof N]: Phase };
}

function summarise(name: string, done: { status: number; ms: number }[]): Phase {
  const latencies = done.map((d) => d.ms).sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const statuses: Record<string, number> = {};
  for (const d of done) statuses[String(d.status)] = (statuses[String(d.status)] ?? 0) + 1;
  return {
    phase: name,
    requests: done.length,
    errors: done.filter((d) => d.status !== 200).length,
    statuses,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(latencies.at(-1) ?? 0) },
  };
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
  return summarise(name, await Promise.all(results));
}

const round = (n: number) => Math.round(n * 1000) / 1000;

async function serviceAccountToken(client: KubeClient, namespace: string): Promise<string> {
  await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace }), {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'swell' } },
  });
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'swell-reads-external-metrics' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ kind: 'ServiceAccount', name: 'swell', namespace }],
  };
  await client.request('POST', resourcePath({ group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', namespace }), { body: binding });
  const review = await client.request<{ status: { token: string } }>(
    'POST',
    `${resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace, name: 'swell' })}/token`,
    {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    },
  );
  return review.status.token;
}

/** A ScaledObject with a cron trigger (no outside source): swell's own metric, answered from swell's memory. */
async function cronScaledObject(client: KubeClient, namespace: string): Promise<void> {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'cron' },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'cron' } },
      template: { metadata: { labels: { app: 'cron' } }, spec: { containers: [{ name: 'c', image: 'registry.invalid/c:1' }] } },
    },
  };
  await client.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), { body: deployment });
  const trigger = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 0 * * *', end: '0 1 * * *', desiredReplicas: '1' } };
  await client.request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }), {
    body: { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'cron' }, spec: { scaleTargetRef: { name: 'cron' }, triggers: [trigger] } },
  });
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
  const exporter = createHttpServer(
    (_req, res) => void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body)),
  );
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  await addScrapeTarget(env('PROMETHEUS_TARGETS_FILE'), target);

  await installCrds(client);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const tokenFile = join(work, 'token');
  await writeFile(tokenFile, await serviceAccountToken(client, namespace), { mode: 0o600 });
  const pki = clusterPkiFiles(env(kubePkiEnvVar));
  const [proxyCert, proxyKey] = [await readFile(pki.frontProxyClient.cert, 'utf8'), await readFile(pki.frontProxyClient.key, 'utf8')];
  const get = aggregatorLikeClient(proxyCert, proxyKey);
  // swell's own metrics on connections of their own, as the aggregator's transport would open new ones beside hung ones.
  const getOwn = aggregatorLikeClient(proxyCert, proxyKey);
  const path = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${metricName}?labelSelector=${encodeURIComponent(`bench=${namespace}`)}`;
  await waitFor('prometheus-adapter to serve the bench metric', 60_000, async () => ((await get(adapterPort, path)).status === 200 ? true : undefined));

  await cronScaledObject(client, namespace);
  const logFile = join(work, 'operator.log');
  const operator = await startOperator(
    [
      '--namespace',
      namespace,
      '--lease-namespace',
      namespace,
      '--cluster-auth-namespace',
      namespace,
      '--metrics-port',
      '0',
      '--health-port',
      '0',
      '--burst',
      'false',
      '--webhooks',
      'false',
      '--upstream-metrics-url',
      adapterUrl,
      '--upstream-metrics-ca-file',
      env('PROMETHEUS_ADAPTER_CA_FILE'),
      '--upstream-metrics-token-file',
      tokenFile,
    ],
    logFile,
  );
  const ownName = await waitFor('the cron ScaledObject to list its metric', 60_000, async () => {
    const so = await client.request<{ status?: { externalMetricNames?: string[] } }>(
      'GET',
      resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace, name: 'cron' }),
    );
    return so.status?.externalMetricNames?.[0];
  });
  const pidRecord = await readFile(join(repo, '.swell', 'dev', 'pids', 'prometheus-adapter.pid'), 'utf8').catch(() => '{"pid":0}');
  const adapterPid = (JSON.parse(pidRecord) as { pid: number }).pid;
  try {
    // Warm both paths: connections, token review and access review caches.
    await fixedRate('warm-up', opts.rate, 3, () => get(adapterPort, path));
    await fixedRate('warm-up', opts.rate, 3, () => get(operator.metricsApiPort, path));
    // Interleaved, so that both paths see the same load on a shared machine.
    const [direct, forwarded] = await interleaved(['direct to prometheus-adapter', 'forwarded by swell'], opts.rate, opts.seconds, [
      () => get(adapterPort, path),
      () => get(operator.metricsApiPort, path),
    ]);
    const phases: Phase[] = [direct, forwarded];
    const added = { p50: round(forwarded.latencyMs.p50 - direct.latencyMs.p50), p99: round(forwarded.latencyMs.p99 - direct.latencyMs.p99) };
    const own = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${ownName}?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=cron')}`;
    const [ownHealthy] = await interleaved(["swell's own metric, adapter up"], opts.rate, Math.min(opts.seconds, 10), [
      () => getOwn(operator.metricsApiPort, own),
    ]);
    phases.push(ownHealthy);
    if (adapterPid > 0) {
      process.kill(adapterPid, 'SIGSTOP');
      try {
        // Both at once: requests for the adapter pile up on its connections while swell's own are answered.
        const [upstreamHung, ownHung] = await interleaved(
          ['forwarded, adapter hung', "swell's own metric, adapter hung"],
          opts.rate,
          Math.min(opts.seconds, 10),
          [() => get(operator.metricsApiPort, path), () => getOwn(operator.metricsApiPort, own)],
        );
        phases.push(upstreamHung, ownHung);
      } finally {
        process.kill(adapterPid, 'SIGCONT');
      }
    }
    for (const p of phases) {
      process.stdout.write(
        `${p.phase.padEnd(36)} ${String(p.requests).padStart(6)} req  p50 ${p.latencyMs.p50.toFixed(2)} ms  p90 ${p.latencyMs.p90.toFixed(2)} ms  p99 ${p.latencyMs.p99.toFixed(2)} ms  max ${p.latencyMs.max.toFixed(2)} ms  statuses ${JSON.stringify(p.statuses)}\n`,
      );
    }
    process.stdout.write(`added by forwarding at ${opts.rate}/s: p50 ${added.p50.toFixed(2)} ms, p99 ${added.p99.toFixed(2)} ms\n`);
    const result = {
      benchmark: 'forwarding',
      rate: opts.rate,
      seconds: opts.seconds,
      cpus: cpus().length,
      loadavg: loadavg(),
      node: process.version,
      phases,
      addedMs: added,
    };
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
