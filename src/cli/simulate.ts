import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { reportUsageError } from './usage.js';
import { parseDurationMs } from '../apis/swell/v1alpha1/validation.js';
import { bytesPerGiB, parseNonNegativeQuantity } from '../kube/quantity.js';
import { renderSimulationChart } from '../simulate/chart.js';
import { chartFormat, svgToPng } from '../simulate/png.js';
import { formatJson, formatTable } from '../simulate/report.js';
import { defaultParameters, runSimulation, type SimulationParameters } from '../simulate/simulation.js';
import type { SloPercentile } from '../simulate/strategies.js';
import { formatTraceCsv, generateTrace, parseTraceCsv, traceFromPrometheus, traceShapes, type Trace, type TraceShape } from '../simulate/trace.js';
import { loadWorkload } from '../simulate/workload.js';

const d = defaultParameters;
const usage = `usage: swell simulate -f MANIFESTS.yaml (--trace TRACE.csv | --from-prometheus URL --query QUERY --range DURATION)
                      [--output table|json] [--chart FILE.svg|FILE.png] [--slo-wait 60s] [options]
       swell simulate generate --shape diurnal|bursts|spike [--duration 24h] [--step 10s] [--mean 5] [--seed 1] [--out FILE]

Replays a load trace through swell's own scaling and placement decisions and prices it: nodes only (with a
cluster autoscaler), serverless only, the manifests as given, and base + burst for a sweep of baseReplicas.
Prints cost, work wait p50/p95/p99, peak backlog and time over the SLO for each, and the BurstPolicy of the
cheapest base that meets the SLO. Durations take Go-style units (90s, 5m, 1h30m) or plain seconds.

input:
  -f, --filename FILE          ScaledObject (+ BurstPolicy, + target Deployment) manifests
  --scaled-object NAME         which ScaledObject, when the file has several
  --trace FILE                 CSV "seconds,arrivals" (items arriving at that second) or "seconds,value" (a metric),
                               optionally ",source" (up|down: while down every trigger read fails, for fallback)
  --from-prometheus URL        build the trace from Prometheus's query_range API instead
  --query QUERY                PromQL for --from-prometheus; the series are summed
  --range DURATION             how far back from now (default 1h)
  --step DURATION              resolution (default 15s)
output:
  -o, --output table|json      (default table)
  --chart FILE.svg|FILE.png    queue depth, replicas per tier and cumulative cost per strategy (PNG at 2x)
  --slo-wait DURATION          the wait the work may see (default ${d.sloSeconds}s)
  --slo-percentile 50|95|99    which wait percentile must stay within it (default ${d.sloPercentile})
  --bases LIST                 baseReplicas to sweep, e.g. 1,2,4,8 (default: 1, 2, 3, 4, 6, 8, ... up to max)
workload:
  --rate N                     items one Running replica finishes per second (default ${d.ratePerReplica};
                               annotation simulate.swell.dev/work-per-second wins)
  --pod-cpu N, --pod-memory Q  pod requests when the target is not in the file (default 0.25, 512Mi)
  --seed N                     for the burst start latency spread and generated traces (default ${d.seed})
models:
  --hpa-sync-period DURATION   HPA controller sync period (default ${d.hpaSyncSeconds}s)
  --tolerance N                HPA tolerance when behavior sets none (default ${d.tolerance})
  --downscale-stabilization DURATION   default scale-down stabilization window (default ${d.downscaleStabilizationSeconds}s)
  --regular-start DURATION     bound to Running on a regular node (default ${d.regularStartSeconds}s)
  --burst-start MIN-MAX        created to Running on the virtual node, uniform (default ${d.burstStartSeconds.min}-${d.burstStartSeconds.max}s)
  --node-cpu N, --node-memory Q, --node-pods N   node allocatable (default ${d.node.cpu}, 8Gi, ${d.node.pods})
  --node-price-hour USD        per node-hour (default ${d.nodePricing.pricePerHour})
  --node-billing second|hour   per second with a 60 s minimum, or per started hour (default ${d.nodePricing.billing})
  --node-boot DURATION         autoscaler request to node ready (default ${d.autoscaler.bootMs / 1000}s)
  --scan-interval DURATION     autoscaler scan interval (default ${d.autoscaler.scanIntervalMs / 1000}s)
  --scale-down-unneeded DURATION        (default ${d.autoscaler.unneededMs / 1000}s)
  --scale-down-delay-after-add DURATION (default ${d.autoscaler.delayAfterAddMs / 1000}s)
  --scale-down-utilization N   (default ${d.autoscaler.utilizationThreshold})
  --min-nodes N, --max-nodes N (default ${d.autoscaler.minNodes}, ${d.autoscaler.maxNodes})
  --price-vcpu-hour USD, --price-gib-hour USD    serverless rates (default ${d.vcpuHour}, ${d.gibHour})

Exit status: 0 done, 1 no strategy meets the SLO, 2 usage, input or trace error.
`;

const options = {
  filename: { type: 'string', short: 'f' },
  'scaled-object': { type: 'string' },
  trace: { type: 'string' },
  'from-prometheus': { type: 'string' },
  query: { type: 'string' },
  range: { type: 'string', default: '1h' },
  step: { type: 'string' },
  output: { type: 'string', short: 'o', default: 'table' },
  chart: { type: 'string' },
  'slo-wait': { type: 'string' },
  'slo-percentile': { type: 'string' },
  bases: { type: 'string' },
  rate: { type: 'string' },
  'pod-cpu': { type: 'string' },
  'pod-memory': { type: 'string' },
  seed: { type: 'string' },
  'hpa-sync-period': { type: 'string' },
  tolerance: { type: 'string' },
  'downscale-stabilization': { type: 'string' },
  'regular-start': { type: 'string' },
  'burst-start': { type: 'string' },
  'node-cpu': { type: 'string' },
  'node-memory': { type: 'string' },
  'node-pods': { type: 'string' },
  'node-price-hour': { type: 'string' },
  'node-billing': { type: 'string' },
  'node-boot': { type: 'string' },
  'scan-interval': { type: 'string' },
  'scale-down-unneeded': { type: 'string' },
  'scale-down-delay-after-add': { type: 'string' },
  'scale-down-utilization': { type: 'string' },
  'min-nodes': { type: 'string' },
  'max-nodes': { type: 'string' },
  'price-vcpu-hour': { type: 'string' },
  'price-gib-hour': { type: 'string' },
  shape: { type: 'string' },
  duration: { type: 'string', default: '24h' },
  mean: { type: 'string', default: '5' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

class UsageError extends Error {}

/** Seconds from "90s", "1h30m" or a plain number of seconds. */
export function parseSeconds(text: string, flag: string): number {
  const plain = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : parseDurationMs(text);
  if (plain === undefined) throw new UsageError(`${flag}: "${text}" is not a duration (examples: 30s, 5m, 1h30m, 45)`);
  return plain / 1000;
}

function positive(text: string | undefined, flag: string, fallback: number, allowZero = false): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0))
    throw new UsageError(`${flag}: "${text}" must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  return value;
}

function integer(text: string | undefined, flag: string, fallback: number): number {
  const value = positive(text, flag, fallback, true);
  if (!Number.isInteger(value)) throw new UsageError(`${flag}: "${text ?? ''}" must be a whole number`);
  return value;
}

function gib(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  try {
    return parseNonNegativeQuantity(text, flag) / bytesPerGiB;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function seconds(text: string | undefined, flag: string, fallback: number): number {
  return text === undefined ? fallback : parseSeconds(text, flag);
}

/** The model parameters from the flags, each defaulting to defaultParameters. */
export function parametersFrom(v: Values): SimulationParameters {
  const percentile = integer(v['slo-percentile'], '--slo-percentile', d.sloPercentile);
  if (![50, 95, 99].includes(percentile)) throw new UsageError(`--slo-percentile must be 50, 95 or 99, not ${percentile}`);
  const billing = v['node-billing'] ?? d.nodePricing.billing;
  if (billing !== 'second' && billing !== 'hour') throw new UsageError(`--node-billing must be second or hour, not "${billing}"`);
  const burst = burstStart(v['burst-start']);
  const bases = v.bases?.split(',').map((b) => integer(b.trim(), '--bases', 0));
  const tolerance = positive(v.tolerance, '--tolerance', d.tolerance, true);
  const pod =
    v['pod-cpu'] !== undefined || v['pod-memory'] !== undefined
      ? { vcpu: positive(v['pod-cpu'], '--pod-cpu', 0.25), memoryGiB: gib(v['pod-memory'], '--pod-memory', 0.5) }
      : undefined;
  return {
    ratePerReplica: positive(v.rate, '--rate', d.ratePerReplica),
    sloSeconds: seconds(v['slo-wait'], '--slo-wait', d.sloSeconds),
    sloPercentile: percentile as SloPercentile,
    ...(bases ? { bases } : {}),
    seed: integer(v.seed, '--seed', d.seed),
    hpaSyncSeconds: seconds(v['hpa-sync-period'], '--hpa-sync-period', d.hpaSyncSeconds),
    tolerance,
    downscaleStabilizationSeconds: seconds(v['downscale-stabilization'], '--downscale-stabilization', d.downscaleStabilizationSeconds),
    regularStartSeconds: seconds(v['regular-start'], '--regular-start', d.regularStartSeconds),
    burstStartSeconds: burst,
    ...(pod ? { pod } : {}),
    node: {
      cpu: positive(v['node-cpu'], '--node-cpu', d.node.cpu),
      memoryGiB: gib(v['node-memory'], '--node-memory', d.node.memoryGiB),
      pods: integer(v['node-pods'], '--node-pods', d.node.pods),
    },
    nodePricing: {
      pricePerHour: positive(v['node-price-hour'], '--node-price-hour', d.nodePricing.pricePerHour, true),
      billing,
      minimumSeconds: d.nodePricing.minimumSeconds,
    },
    autoscaler: {
      bootMs: seconds(v['node-boot'], '--node-boot', d.autoscaler.bootMs / 1000) * 1000,
      scanIntervalMs: Math.max(1, seconds(v['scan-interval'], '--scan-interval', d.autoscaler.scanIntervalMs / 1000)) * 1000,
      unneededMs: seconds(v['scale-down-unneeded'], '--scale-down-unneeded', d.autoscaler.unneededMs / 1000) * 1000,
      delayAfterAddMs: seconds(v['scale-down-delay-after-add'], '--scale-down-delay-after-add', d.autoscaler.delayAfterAddMs / 1000) * 1000,
      utilizationThreshold: positive(v['scale-down-utilization'], '--scale-down-utilization', d.autoscaler.utilizationThreshold, true),
      minNodes: integer(v['min-nodes'], '--min-nodes', d.autoscaler.minNodes),
      maxNodes: integer(v['max-nodes'], '--max-nodes', d.autoscaler.maxNodes),
    },
    vcpuHour: positive(v['price-vcpu-hour'], '--price-vcpu-hour', d.vcpuHour, true),
    gibHour: positive(v['price-gib-hour'], '--price-gib-hour', d.gibHour, true),
    drainLimitSeconds: d.drainLimitSeconds,
  };
}

function burstStart(text: string | undefined): { min: number; max: number } {
  if (text === undefined) return d.burstStartSeconds;
  const [low = '', high = low] = text.split('-');
  const range = { min: parseSeconds(low, '--burst-start'), max: parseSeconds(high, '--burst-start') };
  if (range.max < range.min) throw new UsageError(`--burst-start: ${text} ends before it starts`);
  return range;
}

async function loadTrace(v: Values): Promise<Trace> {
  if (v.trace !== undefined && v['from-prometheus'] !== undefined) throw new UsageError('give either --trace or --from-prometheus, not both');
  if (v.trace !== undefined) return parseTraceCsv(await readFile(v.trace, 'utf8'), v.trace);
  const url = v['from-prometheus'];
  if (url === undefined) throw new UsageError('missing --trace FILE (or --from-prometheus URL --query QUERY)');
  if (!v.query) throw new UsageError('--from-prometheus needs --query QUERY');
  return traceFromPrometheus({ url, query: v.query, rangeSeconds: parseSeconds(v.range ?? '1h', '--range'), stepSeconds: seconds(v.step, '--step', 15) });
}

async function simulate(v: Values): Promise<number> {
  if (!v.filename) throw new UsageError('missing -f MANIFESTS.yaml');
  if (v.output !== 'table' && v.output !== 'json') throw new UsageError(`--output must be table or json, not "${v.output ?? ''}"`);
  const format = v.chart === undefined ? undefined : chartFormat(v.chart);
  if (v.chart !== undefined && !format) throw new UsageError(`--chart: "${v.chart}" must end in .svg or .png`);
  const parameters = parametersFrom(v);
  const workload = loadWorkload(await readFile(v.filename, 'utf8'), v['scaled-object']);
  const trace = await loadTrace(v);
  const report = runSimulation(trace, workload, parameters);
  process.stdout.write(v.output === 'json' ? formatJson(report) : formatTable(report));
  if (v.chart) {
    const picked = report.results.filter((r) => r.kind !== 'base' || r === report.recommendation?.result);
    const svg = renderSimulationChart(picked, `swell simulate: ${report.workload.scaledObject} on ${v.trace ?? 'Prometheus'}`);
    await writeFile(v.chart, format === 'png' ? await svgToPng(svg) : svg);
    process.stderr.write(`chart written to ${v.chart}\n`);
  }
  return report.recommendation ? 0 : 1;
}

async function generate(v: Values): Promise<number> {
  const shape = v.shape as TraceShape | undefined;
  if (!shape || !traceShapes.includes(shape)) throw new UsageError(`--shape must be one of ${traceShapes.join(', ')}`);
  const trace = generateTrace({
    shape,
    duration: parseSeconds(v.duration ?? '24h', '--duration'),
    step: Math.max(1, seconds(v.step, '--step', 10)),
    mean: positive(v.mean, '--mean', 5),
    seed: integer(v.seed, '--seed', d.seed),
  });
  const csv = `# swell simulate generate --shape ${shape} --duration ${v.duration ?? '24h'} --step ${v.step ?? '10s'} --mean ${v.mean ?? '5'} --seed ${v.seed ?? String(d.seed)}\n${formatTraceCsv(trace)}`;
  if (v.out) await writeFile(v.out, csv);
  else process.stdout.write(csv);
  return 0;
}

export async function simulateCommand(argv: string[]): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true }));
  } catch (err) {
    return reportUsageError('simulate', err);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    if (positionals[0] === 'generate' && positionals.length === 1) return await generate(values);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return await simulate(values);
  } catch (err) {
    if (err instanceof UsageError) return reportUsageError('simulate', err);
    process.stderr.write(`swell simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}
