/*
 * Are polls on time and evenly spread? Drives the operator's PollScheduler on the real clock with N keys at one
 * polling interval (default 1 s), each run costing a little CPU like a real poll (default 40 µs, what
 * bench/scale-loop.ts measures for one ScaledObject poll), and reports over a measuring window:
 * - lateness: how long after its planned time each run started (p50/p99/max);
 * - period: the time between two runs of the same key (should be the interval, not the interval plus the run);
 * - evenness: runs per 100 ms bucket (an even spread is N/10 per bucket at 1 s; runs fired on shared ticks
 *   leave some buckets empty and others full).
 *
 *   npx tsx bench/poll-schedule.ts [--count 1000] [--interval-ms 1000] [--window 10] [--work-us 40] [--read-ms 0]
 *   npx tsx bench/poll-schedule.ts --scheduler path/to/other/poll-scheduler.ts --random-start   # another build
 *
 * --random-start gives each key a random first delay within min(interval, 5 s), as the operator did before keys
 * had phases of their own; without it keys start at their first slot, as the operator now does for intervals up
 * to 5 s.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createSystemClock } from '../src/controller/clock.js';
import type { PollScheduler, PollSchedulerOptions } from '../src/controller/poll-scheduler.js';
import { createLogger } from '../src/log.js';

const repo = join(import.meta.dirname, '..');

interface Options {
  count: number;
  intervalMs: number;
  windowS: number;
  warmupS: number;
  workUs: number;
  readMs: number;
  concurrency: number;
  scheduler: string | undefined;
  label: string;
  randomStart: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '1000' },
      'interval-ms': { type: 'string', default: '1000' },
      window: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      'work-us': { type: 'string', default: '40' },
      'read-ms': { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '64' },
      scheduler: { type: 'string' },
      label: { type: 'string' },
      'random-start': { type: 'boolean', default: false },
    },
  });
  const int = (name: string, raw: string, min = 1): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min) throw new Error(`--${name}: "${raw}" is not an integer ≥ ${min}`);
    return value;
  };
  return {
    count: int('count', values.count),
    intervalMs: int('interval-ms', values['interval-ms']),
    windowS: int('window', values.window),
    warmupS: int('warmup', values.warmup, 0),
    workUs: int('work-us', values['work-us'], 0),
    readMs: int('read-ms', values['read-ms'], 0),
    concurrency: int('concurrency', values.concurrency),
    scheduler: values.scheduler,
    label: values.label ?? (values.scheduler ? 'other' : 'current'),
    randomStart: values['random-start'],
  };
}

type SchedulerClass = new (options: PollSchedulerOptions) => PollScheduler;

async function loadScheduler(path: string | undefined): Promise<SchedulerClass> {
  const module = (await import(path ? pathToFileURL(resolve(path)).href : '../src/controller/poll-scheduler.js')) as { PollScheduler: SchedulerClass };
  return module.PollScheduler;
}

function busy(us: number): void {
  if (us === 0) return;
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

async function main(): Promise<void> {
  const opts = options();
  const PollSchedulerImpl = await loadScheduler(opts.scheduler);
  const clock = createSystemClock();
  let measuring = false;
  let windowStart = 0;
  const lateness: number[] = [];
  const buckets = new Uint32Array(Math.ceil((opts.windowS * 1000) / 100));
  const lastRun = new Map<string, number>();
  const periods: number[] = [];
  let runs = 0;
  const scheduler = new PollSchedulerImpl({
    name: 'bench',
    log: createLogger({ level: 'warn' }),
    clock,
    concurrency: opts.concurrency,
    run: async (key, _signal, dueAt) => {
      const started = performance.timeOrigin + performance.now();
      if (measuring) {
        runs++;
        // The scheduler's own due times are clock (ms) values; older builds did not pass one.
        if (dueAt !== undefined) lateness.push(Math.max(0, started - dueAt));
        const bucket = Math.floor((started - windowStart) / 100);
        if (bucket >= 0 && bucket < buckets.length) buckets[bucket]!++;
        const previous = lastRun.get(key);
        if (previous !== undefined) periods.push(started - previous);
      }
      lastRun.set(key, started);
      busy(opts.workUs);
      if (opts.readMs > 0) await new Promise((r) => setTimeout(r, opts.readMs));
    },
  });
  for (let i = 0; i < opts.count; i++) {
    const key = `bench/so-${i}`;
    if (opts.randomStart) scheduler.schedule(key, opts.intervalMs, Math.floor(Math.random() * Math.min(opts.intervalMs, 5_000)));
    else scheduler.schedule(key, opts.intervalMs);
  }
  await new Promise((r) => setTimeout(r, opts.warmupS * 1000 + opts.intervalMs));
  const cpuStart = process.cpuUsage();
  windowStart = Date.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, opts.windowS * 1000));
  measuring = false;
  const cpu = process.cpuUsage(cpuStart);
  const windowMs = Date.now() - windowStart;
  await scheduler.stop();

  const late = Float64Array.from(lateness).sort();
  const gaps = Float64Array.from(periods).sort();
  const full = Array.from(buckets.slice(0, Math.floor(windowMs / 100)));
  const mean = full.reduce((a, b) => a + b, 0) / Math.max(1, full.length);
  const sd = Math.sqrt(full.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, full.length));
  const result = {
    label: opts.label,
    start: opts.randomStart ? 'random first delay' : 'first slot',
    count: opts.count,
    intervalMs: opts.intervalMs,
    workUsPerRun: opts.workUs,
    readMs: opts.readMs,
    concurrency: opts.concurrency,
    node: process.version,
    windowSeconds: round(windowMs / 1000, 1),
    runsPerSecond: round((runs * 1000) / windowMs, 1),
    runsPerSecondExpected: round((opts.count * 1000) / opts.intervalMs, 1),
    runsPerKeyPerInterval: round((runs * opts.intervalMs) / windowMs / opts.count, 3),
    latenessMs:
      lateness.length > 0
        ? { p50: round(percentile(late, 50)), p99: round(percentile(late, 99)), max: round(late.at(-1) ?? 0) }
        : 'not reported by this scheduler',
    periodMs: { p1: round(percentile(gaps, 1)), p50: round(percentile(gaps, 50)), p99: round(percentile(gaps, 99)) },
    runsPer100ms: {
      expected: round(opts.count / (opts.intervalMs / 100), 1),
      mean: round(mean, 1),
      min: Math.min(...full),
      max: Math.max(...full),
      coefficientOfVariation: round(sd / Math.max(mean, 1e-9), 3),
    },
    cpuPercentOfOneCore: round(((cpu.user + cpu.system) / 1000 / windowMs) * 100, 1),
  };
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const out = join(repo, 'bench', 'results', `poll-schedule-${opts.count}-${opts.intervalMs}ms${opts.label === 'current' ? '' : `-${opts.label}`}.json`);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
}

await main();
