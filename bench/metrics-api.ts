// Benchmark of the external metrics server: concurrent HTTPS clients presenting a front-proxy certificate
// read 1,000 ScaledObjects' metrics served from memory, at a fixed rate and then flat out.
// Usage: npx tsx bench/metrics-api.ts [--seconds 10] [--rate 1000] [--connections 8] [--concurrency 32] [--tsx]
//                                     [--server-node-options="--min-semi-space-size=32 --max-semi-space-size=32"]
// (--connections: pool for the fixed-rate phase; --concurrency: connections kept busy in the max-throughput phase;
// --server-node-options: node/V8 flags for the server process, e.g. to compare young-generation sizes, "" for
// none; by default the flags of the image's ENTRYPOINT, so that it measures what a pod runs)
// The server runs in a child process so that client and server do not share one event loop. It runs as
// production does, from JavaScript compiled by TypeScript (into node_modules/.cache/swell-bench); --tsx runs it
// through tsx instead, whose transform adds a name-keeping call to every closure. BENCH_PROF=1 also writes a
// CPU profile of the server to /tmp/prof.
import { fork } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type ts from 'typescript';
import { createSystemClock } from '../src/controller/clock.js';
import { RequestAuthenticator } from '../src/metrics-api/authenticator.js';
import { CachingAuthorizer } from '../src/metrics-api/authorizer.js';
import type { ServingBundle } from '../src/certificates/index.js';
import { frontProxyTrust, parseRequestHeaderConfig } from '../src/metrics-api/front-proxy.js';
import { createMetricsHandler } from '../src/metrics-api/handler.js';
import { MetricsApiServer } from '../src/metrics-api/server.js';
import type { ExternalMetricResult } from '../src/metrics-api/source.js';
import type { CertifiedKey } from '../src/pki/index.js';

const scaledObjects = 1_000;
/** The V8 flags the image starts node with (its ENTRYPOINT), so that by default the server runs as in a pod. */
async function imageNodeFlags(): Promise<string> {
  const dockerfile = await readFile(join(import.meta.dirname, '..', 'Dockerfile'), 'utf8');
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (!entrypoint) throw new Error('the Dockerfile has no ENTRYPOINT ["node", ...] line');
  return (JSON.parse(entrypoint) as string[]).filter((arg) => arg.startsWith('--')).join(' ');
}
const metricName = 's0-aws-sqs-queue';

interface ServerSetup {
  serving: ServingBundle;
  frontProxyCaPem: string;
}

interface PhaseResult {
  phase: string;
  requests: number;
  errors: number;
  seconds: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

/** What the server process reports about itself, cumulative since it started. */
interface ServerStats {
  userCpuMicroseconds: number;
  systemCpuMicroseconds: number;
  rssBytes: number;
  maxRssBytes: number;
  gcCount: number;
  /** Of which full (mark-compact) collections; the others are scavenges of the young generation. */
  gcMajorCount: number;
  gcMs: number;
  gcMaxMs: number;
  /** Event-loop delay p99 since the previous report, in ms. */
  loopDelayP99Ms: number;
}

interface MeasuredPhase extends PhaseResult {
  serverCpuMicrosecondsPerRequest: number;
  /** Of which in the kernel: TLS records written to and read from sockets, polling. */
  serverSystemCpuMicrosecondsPerRequest: number;
  clientCpuMicrosecondsPerRequest: number;
  serverRssMiB: number;
  serverGcPerSecond: number;
  serverGc: { count: number; major: number; totalMs: number; maxMs: number };
  serverLoopDelayP99Ms: number;
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
    authenticator: new RequestAuthenticator({ trust: () => trust, clock: createSystemClock() }),
    authorizer: new CachingAuthorizer({ reviewer: () => Promise.resolve({ allowed: true, reason: '' }), clock: createSystemClock() }),
    log: pino({ level: 'silent' }),
    notReadyReason: () => undefined,
  });
  const server = await MetricsApiServer.start({
    handler,
    servingCertificate: setup.serving,
    clientCaPem: setup.frontProxyCaPem,
    log: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
  });
  const gc = { count: 0, major: 0, ms: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count += 1;
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major += 1;
      gc.ms += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  // Coarse on purpose: a finer timer would wake the server a thousand times a second and show in its CPU time.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  process.send?.({ port: server.port });
  // The parent asks around each phase, to report server CPU per request whatever else runs on the machine.
  process.on('message', (message) => {
    if (message !== 'stats') return;
    const { user, system } = process.cpuUsage();
    const stats: ServerStats = {
      userCpuMicroseconds: user,
      systemCpuMicroseconds: system,
      rssBytes: process.memoryUsage.rss(),
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      gcCount: gc.count,
      gcMajorCount: gc.major,
      gcMs: gc.ms,
      gcMaxMs: gc.maxMs,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    };
    loopDelay.reset();
    gc.maxMs = 0;
    process.send?.({ stats });
  });
  process.on('disconnect', () => void server.close(0).then(() => process.exit(0)));
}

/**
 * Compiles this file and the project sources it imports one by one (no type checking: `tsc --noEmit` does that)
 * into `outDir`, keeping the tree so that package imports still resolve. Returns the compiled entry point.
 */
async function compileServer(entry: string, root: string, outDir: string): Promise<string> {
  // Loaded here rather than at the top so that the server process does not carry the compiler in its memory.
  const { default: typescript } = await import('typescript');
  const options: ts.CompilerOptions = { target: typescript.ScriptTarget.ES2023, module: typescript.ModuleKind.ESNext, verbatimModuleSyntax: true };
  const pending = [entry];
  const done = new Set<string>();
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    const source = await readFile(file, 'utf8');
    const output = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(output), { recursive: true });
    await writeFile(output, typescript.transpileModule(source, { compilerOptions: options, fileName: file }).outputText);
    for (const { fileName } of typescript.preProcessFile(source).importedFiles) {
      if (fileName.startsWith('.')) pending.push(resolve(dirname(file), fileName).replace(/\.js$/, '.ts'));
    }
  }
  return join(outDir, relative(root, entry)).replace(/\.ts$/, '.js');
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
    latencyMs: {
      p50: round(percentile(sorted, 50)),
      p90: round(percentile(sorted, 90)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted.at(-1) ?? Number.NaN),
    },
  };
}

const requestHeaders =
  'Host: localhost\r\nX-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler\r\nX-Remote-Group: system:serviceaccounts\r\nAccept: application/json\r\n\r\n';

// Every request the HPA could make here, built once so that the client spends its time sending them.
const requests = Array.from({ length: scaledObjects }, (_, i) =>
  Buffer.from(
    `GET /apis/external.metrics.k8s.io/v1beta1/namespaces/bench/${metricName}?labelSelector=scaledobject.keda.sh%2Fname%3Dso-${i} HTTP/1.1\r\n${requestHeaders}`,
  ),
);

function randomRequest(): Buffer {
  return requests[Math.floor(Math.random() * scaledObjects)] ?? Buffer.alloc(0);
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
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tls, ALPNProtocols: ['http/1.1'] }, () =>
        resolve(new KeepAliveConnection(socket)),
      );
      socket.once('error', reject);
    });
  }

  get(request: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      this.pending = { resolve };
      this.socket.write(request);
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
      void connection.get(randomRequest()).then((ok) => {
        inFlight -= 1;
        if (ok) latencies.push(performance.now() - scheduled);
        else errors += 1;
        idle.push(connection);
        dispatch();
      });
    }
  };
  for (let sent = 0; sent < total;) {
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
      if (await connection.get(randomRequest())) latencies.push(performance.now() - t0);
      else errors += 1;
    }
  };
  await Promise.all(pool.map(worker));
  return summarize(`max throughput, ${pool.length} connections`, latencies, errors, (performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1000' },
      connections: { type: 'string', default: '8' },
      concurrency: { type: 'string', default: '32' },
      tsx: { type: 'boolean', default: false },
      'server-node-options': { type: 'string' },
    },
  });
  const serverNodeOptions = (values['server-node-options'] ?? (await imageNodeFlags())).split(/\s+/).filter(Boolean);
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  const connections = Number(values.connections);
  const concurrency = Number(values.concurrency);
  // Imported here so that the server process, which runs this file too, loads only what it serves with.
  const { createCertificateAuthority, issueClientCertificate } = await import('../src/pki/index.js');
  const { generateServingBundle } = await import('../src/certificates/index.js');
  const frontProxyCa = await createCertificateAuthority({ commonName: 'bench-front-proxy-ca' });
  const client: CertifiedKey = await issueClientCertificate(frontProxyCa, { commonName: 'front-proxy-client' });
  const serving = await generateServingBundle({ serviceName: 'swell-metrics', namespace: 'bench' }, new Date());

  const self = fileURLToPath(import.meta.url);
  const root = dirname(dirname(self));
  const server = values.tsx
    ? { file: self, execArgv: ['--import', 'tsx'] }
    : { file: await compileServer(self, root, join(root, 'node_modules/.cache/swell-bench')), execArgv: [] };
  const profile = process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
  const child = fork(server.file, ['--serve'], {
    execArgv: [...server.execArgv, ...serverNodeOptions, ...profile],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
      child.send({ serving, frontProxyCaPem: frontProxyCa.certificatePem } satisfies ServerSetup);
    });
    const serverStats = () =>
      new Promise<ServerStats>((resolve) => {
        child.once('message', (m) => resolve((m as { stats: ServerStats }).stats));
        child.send('stats');
      });
    const measured = async (phase: () => Promise<PhaseResult>): Promise<MeasuredPhase> => {
      const before = await serverStats();
      const clientBefore = process.cpuUsage();
      const result = await phase();
      const clientCpu = process.cpuUsage(clientBefore);
      const after = await serverStats();
      const perRequest = (microseconds: number) => Math.round(microseconds / Math.max(1, result.requests + result.errors));
      return {
        ...result,
        serverCpuMicrosecondsPerRequest: perRequest(
          after.userCpuMicroseconds + after.systemCpuMicroseconds - before.userCpuMicroseconds - before.systemCpuMicroseconds,
        ),
        serverSystemCpuMicrosecondsPerRequest: perRequest(after.systemCpuMicroseconds - before.systemCpuMicroseconds),
        clientCpuMicrosecondsPerRequest: perRequest(clientCpu.user + clientCpu.system),
        serverRssMiB: Math.round(after.rssBytes / 2 ** 20),
        serverGcPerSecond: Math.round(((after.gcCount - before.gcCount) / result.seconds) * 10) / 10,
        serverGc: {
          count: after.gcCount - before.gcCount,
          major: after.gcMajorCount - before.gcMajorCount,
          totalMs: Math.round((after.gcMs - before.gcMs) * 10) / 10,
          maxMs: Math.round(after.gcMaxMs * 100) / 100,
        },
        serverLoopDelayP99Ms: Math.round(after.loopDelayP99Ms * 100) / 100,
      };
    };
    const tls = { ca: serving.caPem, cert: client.certificatePem, key: client.privateKeyPem };
    const open = (n: number) => Promise.all(Array.from({ length: n }, () => KeepAliveConnection.open(port, tls)));
    const ratePool = await open(connections);
    const maxPool = await open(concurrency);
    await maxThroughput(ratePool, 2); // warm-up: JIT, per-connection certificate checks, authorization cache
    await maxThroughput(maxPool, 1);
    const warmedUp = await serverStats();
    const results = [await measured(() => fixedRate(ratePool, rate, seconds)), await measured(() => maxThroughput(maxPool, seconds))];
    const finalStats = await serverStats();
    for (const connection of [...ratePool, ...maxPool]) connection.close();
    const report = {
      benchmark: 'metrics-api',
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${availableParallelism()} x ${cpus()[0]?.model ?? 'unknown'}`,
      server: values.tsx ? 'tsx' : 'compiled',
      serverNodeOptions: serverNodeOptions.join(' '),
      scaledObjects,
      connections,
      concurrency,
      loadAverage: loadavg(),
      serverRssAfterWarmUpMiB: Math.round(warmedUp.rssBytes / 2 ** 20),
      serverMaxRssMiB: Math.round(finalStats.maxRssBytes / 2 ** 20),
      note: 'client (this process) and server (a child process) on the same machine; values from memory, authorization decisions cached',
      results,
    };
    const dir = join(dirname(self), 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `metrics-api-${report.date.replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(
      `load average ${report.loadAverage.map((l) => l.toFixed(2)).join(' ')}, server ${report.server} [${report.serverNodeOptions}], RSS after warm-up ${report.serverRssAfterWarmUpMiB} MiB, max ${report.serverMaxRssMiB} MiB\n`,
    );
    for (const r of results) {
      process.stdout.write(
        `${r.phase.padEnd(32)} ${String(r.throughputPerSecond).padStart(6)} req/s  p50 ${r.latencyMs.p50} ms  p90 ${r.latencyMs.p90} ms  p99 ${r.latencyMs.p99} ms  max ${r.latencyMs.max} ms  errors ${r.errors}  ` +
          `CPU/req server ${r.serverCpuMicrosecondsPerRequest} µs (kernel ${r.serverSystemCpuMicrosecondsPerRequest}) client ${r.clientCpuMicrosecondsPerRequest} µs  GC ${r.serverGc.count}x = ${r.serverGcPerSecond}/s (${r.serverGc.major} full) ${r.serverGc.totalMs} ms (max ${r.serverGc.maxMs})  loop delay p99 ${r.serverLoopDelayP99Ms} ms\n`,
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
