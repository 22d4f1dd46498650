// Benchmark of the external metrics server: concurrent HTTPS clients presenting a front-proxy certificate
// read 1,000 ScaledObjects' metrics served from memory, at a fixed 1,000 requests/s and then flat out.
// Usage: npx tsx bench/metrics-api.ts [--seconds 10] [--connections 8] [--concurrency 32]
// (--connections: pool for the fixed-rate phase; --concurrency: connections kept busy in the max-throughput phase)
// The server runs in a child process so that client and server do not share one event loop; BENCH_PROF=1 also
// writes a CPU profile of the server to /tmp/prof.
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { RequestAuthenticator } from '../src/metrics-api/authenticator.js';
import { CachingAuthorizer } from '../src/metrics-api/authorizer.js';
import { generateServingBundle, type ServingBundle } from '../src/metrics-api/certificates.js';
import { frontProxyTrust, parseRequestHeaderConfig } from '../src/metrics-api/front-proxy.js';
import { createMetricsHandler } from '../src/metrics-api/handler.js';
import { MetricsApiServer } from '../src/metrics-api/server.js';
import type { ExternalMetricResult } from '../src/metrics-api/source.js';
import { createCertificateAuthority, issueClientCertificate, type CertifiedKey } from '../src/pki/index.js';

const scaledObjects = 1_000;
const metricName = 's0-aws-sqs-queue';

interface ServerSetup {
  serving: ServingBundle;
  frontProxyCaPem: string;
}

interface PhaseResult {
  phase: string;
  serverCpuMicrosecondsPerRequest?: number;
  requests: number;
  errors: number;
  seconds: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

/** Child side: the server with an in-memory source and an allow-all reviewer behind the real caches. */
async function serve(setup: ServerSetup): Promise<void> {
  const values = new Map<string, number>();
  for (let i = 0; i < scaledObjects; i += 1) values.set(`bench/so-${i}`, i * 1.5);
  const now = new Date();
  const trust = frontProxyTrust(
    parseRequestHeaderConfig({
      'requestheader-client-ca-file': setup.frontProxyCaPem,
      'requestheader-allowed-names': '["front-proxy-client"]',
      'requestheader-username-headers': '["X-Remote-User"]',
      'requestheader-group-headers': '["X-Remote-Group"]',
      'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    }),
  );
  const handler = createMetricsHandler({
    source: {
      getMetric: ({ namespace, scaledObject, metricName: name }) => {
        const value = values.get(`${namespace}/${scaledObject}`);
        const result: ExternalMetricResult =
          value === undefined || name !== metricName ? { ok: false, reason: 'ScaledObjectNotFound', message: 'unknown' } : { ok: true, value, timestamp: now };
        return Promise.resolve(result);
      },
    },
    authenticator: new RequestAuthenticator({ trust: () => trust, clock: Date.now }),
    authorizer: new CachingAuthorizer({ reviewer: () => Promise.resolve({ allowed: true, reason: '' }), clock: Date.now }),
    log: pino({ level: 'silent' }),
    notReadyReason: () => undefined,
  });
  const server = await MetricsApiServer.start({ handler, servingCertificate: setup.serving, log: pino({ level: 'silent' }), host: '127.0.0.1', port: 0 });
  process.send?.({ port: server.port });
  // The parent asks for CPU time around each phase, to report server CPU per request whatever else runs.
  process.on('message', (message) => {
    if (message === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  });
  process.on('disconnect', () => void server.close(0).then(() => process.exit(0)));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summarize(phase: string, latencies: number[], errors: number, seconds: number): PhaseResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    phase,
    requests: latencies.length,
    errors,
    seconds: round(seconds),
    throughputPerSecond: Math.round(latencies.length / seconds),
    latencyMs: { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? Number.NaN) },
  };
}

const requestHeaders = 'Host: localhost\r\nX-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\nX-Remote-Group: system:serviceaccounts\r\nAccept: application/json\r\n\r\n';

function randomMetricPath(): string {
  const so = `so-${Math.floor(Math.random() * scaledObjects)}`;
  return `/apis/external.metrics.k8s.io/v1beta1/namespaces/bench/${metricName}?labelSelector=scaledobject.keda.sh%2Fname%3D${so}`;
}

/**
 * A keep-alive HTTPS/1.1 connection that sends one GET at a time and reads just enough of the response (status
 * line, Content-Length, body) to know it is complete. Far lighter than node's HTTP client, so that on a small
 * machine the benchmark measures the server rather than the client.
 */
class KeepAliveConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (ok: boolean) => void } | undefined;

  private constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.settle(false));
    socket.on('close', () => this.settle(false));
  }

  static open(port: number, tls: { ca: string; cert: string; key: string }): Promise<KeepAliveConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tls, ALPNProtocols: ['http/1.1'] }, () => resolve(new KeepAliveConnection(socket)));
      socket.once('error', reject);
    });
  }

  get(path: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.pending = { resolve };
      this.socket.write(`GET ${path} HTTP/1.1\r\n${requestHeaders}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf('\r\n\r\n');
    if (headerEnd === -1) return;
    const head = this.buffer.subarray(0, headerEnd).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < headerEnd + 4 + length) return;
    this.buffer = this.buffer.subarray(headerEnd + 4 + length);
    this.settle(head.startsWith('HTTP/1.1 200'));
  }

  private settle(ok: boolean): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(ok);
  }
}

/**
 * Open loop at a fixed rate over a pool of connections; latency counts from each request's scheduled start,
 * so time spent queued behind a busy connection is not hidden.
 */
async function fixedRate(pool: KeepAliveConnection[], ratePerSecond: number, seconds: number): Promise<PhaseResult> {
  const latencies: number[] = [];
  let errors = 0;
  const idle = [...pool];
  const queue: number[] = [];
  const total = ratePerSecond * seconds;
  const intervalMs = 1000 / ratePerSecond;
  const start = performance.now();
  let inFlight = 0;
  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) {
      const connection = idle.pop();
      const scheduled = queue.shift();
      if (!connection || scheduled === undefined) break;
      inFlight += 1;
      void connection.get(randomMetricPath()).then((ok) => {
        inFlight -= 1;
        if (ok) latencies.push(performance.now() - scheduled);
        else errors += 1;
        idle.push(connection);
        dispatch();
      });
    }
  };
  for (let sent = 0; sent < total; ) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    for (; sent < due; sent += 1) queue.push(start + sent * intervalMs);
    dispatch();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  while (queue.length > 0 || inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  return summarize(`fixed ${ratePerSecond} req/s`, latencies, errors, (performance.now() - start) / 1000);
}

/** Closed loop: one request always in flight on every connection of the pool. */
async function maxThroughput(pool: KeepAliveConnection[], seconds: number): Promise<PhaseResult> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (connection: KeepAliveConnection) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      if (await connection.get(randomMetricPath())) latencies.push(performance.now() - t0);
      else errors += 1;
    }
  };
  await Promise.all(pool.map(worker));
  return summarize(`max throughput, ${pool.length} connections`, latencies, errors, (performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '32' } } });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const concurrency = Number(values.concurrency);
  const frontProxyCa = await createCertificateAuthority({ commonName: 'bench-front-proxy-ca' });
  const client: CertifiedKey = await issueClientCertificate(frontProxyCa, { commonName: 'front-proxy-client' });
  const serving = await generateServingBundle({ serviceName: 'swell-metrics', namespace: 'bench' }, new Date());

  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--import', 'tsx', ...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
      child.send({ serving, frontProxyCaPem: frontProxyCa.certificatePem } satisfies ServerSetup);
    });
    const serverCpu = () =>
      new Promise<number>((resolve) => {
        child.once('message', (m) => {
          const { user, system } = (m as { cpu: NodeJS.CpuUsage }).cpu;
          resolve(user + system);
        });
        child.send('cpu');
      });
    const withServerCpu = async (phase: () => Promise<PhaseResult>): Promise<PhaseResult> => {
      const before = await serverCpu();
      const result = await phase();
      const used = (await serverCpu()) - before;
      return { ...result, serverCpuMicrosecondsPerRequest: Math.round(used / Math.max(1, result.requests + result.errors)) };
    };
    const tls = { ca: serving.caPem, cert: client.certificatePem, key: client.privateKeyPem };
    const open = (n: number) => Promise.all(Array.from({ length: n }, () => KeepAliveConnection.open(port, tls)));
    const ratePool = await open(connections);
    const maxPool = await open(concurrency);
    await maxThroughput(ratePool, 2); // warm-up: JIT, per-connection certificate checks, authorization cache
    const results = [await withServerCpu(() => fixedRate(ratePool, 1_000, seconds)), await withServerCpu(() => maxThroughput(maxPool, seconds))];
    for (const connection of [...ratePool, ...maxPool]) connection.close();
    const report = {
      benchmark: 'metrics-api',
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${availableParallelism()} x ${cpus()[0]?.model ?? 'unknown'}`,
      scaledObjects,
      connections,
      concurrency,
      loadAverage: loadavg(),
      note: 'client and server on the same machine, server in a child process; values from memory, authorization decisions cached',
      results,
    };
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `metrics-api-${report.date.replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    for (const r of results) {
      process.stdout.write(
        `${r.phase.padEnd(32)} ${String(r.throughputPerSecond).padStart(6)} req/s  p50 ${r.latencyMs.p50} ms  p90 ${r.latencyMs.p90} ms  p99 ${r.latencyMs.p99} ms  max ${r.latencyMs.max} ms  errors ${r.errors}  server CPU ${r.serverCpuMicrosecondsPerRequest} µs/req\n`,
      );
    }
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    child.disconnect();
  }
}

if (process.argv.includes('--serve')) {
  process.once('message', (setup) => void serve(setup as ServerSetup));
} else {
  await main();
}
