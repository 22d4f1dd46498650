import { poisson, seededRandom } from './random.js';

/*
 * A load trace: either work arriving (`seconds,arrivals`: items that arrive at that second) or a metric sampled
 * over time (`seconds,value`: e.g. requests per second, holding until the next row), which Prometheus-style
 * triggers read directly and which arrives as that much work each second. An optional third column, `source`,
 * says whether the event source answers (`up`) or every trigger's read of it fails (`down`), from that row
 * until the next: what drives fallback. Work keeps arriving while the source is down.
 */

export type TraceKind = 'arrivals' | 'metric';

export interface Trace {
  kind: TraceKind;
  /** Seconds from the start, non-decreasing. */
  times: Float64Array;
  values: Float64Array;
  /** Seconds the trace covers (past its last row: one second for arrivals, one step for a metric). */
  duration: number;
  /** Per row, 1 when the source is down from that row on; absent when the trace has no source column. */
  sourceDown?: Uint8Array;
}

export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

/** Reads a trace CSV; the header names the kind (`arrivals` unless the second column is `value`) and may add `source`. */
export function parseTraceCsv(text: string, source = 'trace'): Trace {
  const times: number[] = [];
  const values: number[] = [];
  const down: number[] = [];
  let kind: TraceKind = 'arrivals';
  let columns = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${index + 1}`;
    const cells = line.split(',').map((c) => c.trim());
    const [first = '', second = '', third] = cells;
    if (times.length === 0 && columns === 0 && !/^[\d.]/.test(first)) {
      if (cells.length !== 2 && cells.length !== 3)
        throw new TraceError(`${where}: expected the header seconds,arrivals or seconds,value (and optionally ,source), got "${line}"`);
      if (second === 'value') kind = 'metric';
      else if (second !== 'arrivals') throw new TraceError(`${where}: the second column must be named arrivals or value, not "${second}"`);
      if (third !== undefined && third !== 'source') throw new TraceError(`${where}: the third column must be named source, not "${third}"`);
      columns = cells.length;
      return;
    }
    const expected = columns === 0 ? 2 : columns;
    if (cells.length !== expected)
      throw new TraceError(
        `${where}: expected ${expected} columns (${expected === 3 ? 'seconds,arrivals,source' : 'seconds,arrivals or seconds,value'}), got "${line}"`,
      );
    const t = Number(first);
    const v = Number(second);
    if (!Number.isFinite(t) || t < 0) throw new TraceError(`${where}: "${first}" is not a number of seconds`);
    if (!Number.isFinite(v) || v < 0) throw new TraceError(`${where}: "${second}" is not a non-negative number`);
    if (times.length > 0 && t < (times[times.length - 1] ?? 0)) throw new TraceError(`${where}: time ${t} goes back (rows must be in time order)`);
    if (third !== undefined && third !== 'up' && third !== 'down') throw new TraceError(`${where}: source must be up or down, not "${third}"`);
    times.push(t);
    values.push(v);
    down.push(third === 'down' ? 1 : 0);
  });
  if (times.length === 0) throw new TraceError(`${source}: no rows`);
  return makeTrace(kind, times, values, columns === 3 ? down : undefined);
}

export function makeTrace(kind: TraceKind, times: readonly number[], values: readonly number[], sourceDown?: readonly number[]): Trace {
  const last = times[times.length - 1] ?? 0;
  const step = times.length > 1 ? last - (times[times.length - 2] ?? 0) : 1;
  return {
    kind,
    times: Float64Array.from(times),
    values: Float64Array.from(values),
    duration: last + (kind === 'metric' ? Math.max(1, step) : 1),
    ...(sourceDown ? { sourceDown: Uint8Array.from(sourceDown) } : {}),
  };
}

/** Seconds the trace says its source is down (a row's state holds until the next row, the last until the end). */
export function sourceDownSeconds(trace: Trace): number {
  const down = trace.sourceDown;
  if (!down) return 0;
  let total = 0;
  for (let i = 0; i < trace.times.length; i += 1) if (down[i] === 1) total += (trace.times[i + 1] ?? trace.duration) - (trace.times[i] ?? 0);
  return total;
}

export function formatTraceCsv(trace: Trace): string {
  const down = trace.sourceDown;
  const lines = [`seconds,${trace.kind === 'metric' ? 'value' : 'arrivals'}${down ? ',source' : ''}`];
  for (let i = 0; i < trace.times.length; i += 1) lines.push(`${trace.times[i]},${round(trace.values[i] ?? 0)}${down ? (down[i] ? ',down' : ',up') : ''}`);
  return `${lines.join('\n')}\n`;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export type TraceShape = 'diurnal' | 'bursts' | 'spike';

export const traceShapes: readonly TraceShape[] = ['diurnal', 'bursts', 'spike'];

export interface GenerateOptions {
  shape: TraceShape;
  /** Seconds covered. */
  duration: number;
  /** Seconds between rows; each row holds the arrivals of its whole step. */
  step: number;
  /** Average arrivals per second over the whole trace (before Poisson noise). */
  mean: number;
  seed: number;
}

/**
 * A deterministic synthetic trace. diurnal: a smooth day-long sine (low at night, peak mid-afternoon). bursts:
 * a low floor with random bursts of 10× the mean lasting 3-20 minutes, about one every two hours. spike: a steady
 * load with one 15-minute spike at 20× a third of the way in. Counts per row are Poisson around the rate.
 */
export function generateTrace(options: GenerateOptions): Trace {
  const random = seededRandom(options.seed);
  const rate = rateFunction(options, seededRandom(options.seed ^ 0x5eed));
  const times: number[] = [];
  const values: number[] = [];
  for (let t = 0; t < options.duration; t += options.step) {
    const count = poisson(random, rate(t) * options.step);
    if (count > 0) {
      times.push(t);
      values.push(count);
    }
  }
  if (times.length === 0) return makeTrace('arrivals', [0], [0]);
  const trace = makeTrace('arrivals', times, values);
  return { ...trace, duration: Math.max(trace.duration, options.duration) };
}

function rateFunction(options: GenerateOptions, random: () => number): (t: number) => number {
  const { mean, duration } = options;
  switch (options.shape) {
    case 'diurnal':
      return (t) => mean * (1 + 0.8 * Math.sin(2 * Math.PI * (t / 86_400 - 0.375)));
    case 'spike': {
      const start = Math.floor(duration / 3);
      return (t) => (t >= start && t < start + 900 ? mean * 20 : mean * 0.95);
    }
    case 'bursts': {
      const bursts: { start: number; end: number }[] = [];
      for (let t = random() * 7200; t < duration; t += 600 + random() * 13_200) bursts.push({ start: t, end: t + 180 + random() * 1020 });
      return (t) => (bursts.some((b) => t >= b.start && t < b.end) ? mean * 10 : mean * 0.2);
    }
  }
}

export interface PrometheusRange {
  url: string;
  query: string;
  /** Seconds before `end`. */
  rangeSeconds: number;
  stepSeconds: number;
  /** Epoch seconds; now by default. */
  end?: number;
}

interface QueryRangeReply {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { values?: [number, string][] }[] };
}

/** A metric trace from Prometheus's query_range API: the series summed per step, times from the range start. */
export async function traceFromPrometheus(range: PrometheusRange, fetchFn: typeof fetch = fetch): Promise<Trace> {
  const end = range.end ?? Math.floor(Date.now() / 1000);
  const start = end - range.rangeSeconds;
  const url = new URL('api/v1/query_range', range.url.endsWith('/') ? range.url : `${range.url}/`);
  url.search = new URLSearchParams({ query: range.query, start: String(start), end: String(end), step: String(range.stepSeconds) }).toString();
  const response = await fetchFn(url, { signal: AbortSignal.timeout(15_000) });
  const body = (await response.json().catch(() => ({}))) as QueryRangeReply;
  if (!response.ok || body.status !== 'success')
    throw new TraceError(`Prometheus ${url.origin} answered ${response.status}: ${body.error ?? 'no error message'}`);
  if (body.data?.resultType !== 'matrix')
    throw new TraceError(`Prometheus returned a ${body.data?.resultType ?? 'missing'} result, expected a range vector (matrix)`);
  const sums = new Map<number, number>();
  for (const series of body.data.result ?? []) {
    for (const [ts, raw] of series.values ?? []) {
      const v = Number(raw);
      if (Number.isFinite(v)) sums.set(ts, (sums.get(ts) ?? 0) + Math.max(0, v));
    }
  }
  if (sums.size === 0) throw new TraceError(`the query returned no samples between ${start} and ${end}`);
  const stamps = [...sums.keys()].sort((a, b) => a - b);
  const trace = makeTrace(
    'metric',
    stamps.map((ts) => ts - start),
    stamps.map((ts) => sums.get(ts) ?? 0),
  );
  // query_range includes both ends; the trace covers the range itself, so the sample at its end adds nothing.
  return { ...trace, duration: range.rangeSeconds };
}
