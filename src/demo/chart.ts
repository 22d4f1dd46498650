import type { DemoSample } from './sample.js';

/*
 * The demo's chart as a self-contained SVG: three panels sharing the time axis (queue depth, replicas per tier,
 * cost). Every data point is also written as a data-* attribute on its panel's polyline, so the file can be
 * checked by a program as well as looked at. `renderChart` draws any such stack of panels (the simulator's
 * chart uses it too).
 */

export interface Series {
  readonly label: string;
  readonly colour: string;
  readonly values: readonly number[];
  /** Replica counts are whole and change in steps; the queue and cost are drawn as lines. */
  readonly step?: boolean;
  /** An SVG stroke-dasharray, to tell apart series that share a colour. */
  readonly dash?: string;
}

export interface Panel {
  readonly title: string;
  readonly unit: (v: number) => string;
  readonly series: readonly Series[];
  /** Counts get whole-number ticks, so a step drawn at 3 sits on the line labelled 3. */
  readonly whole?: boolean;
}

const WIDTH = 900;
const PANEL_HEIGHT = 170;
// The right margin holds the legend; it is sized from the longest label (at ~7 px a character at 12 px sans).
const LEGEND_CHAR_WIDTH = 7;
const LEGEND_SWATCH = 38;
const MARGIN = { left: 70, top: 40, gap: 45, bottom: 40 };

export function renderDemoChart(samples: readonly DemoSample[], title: string): string {
  const panels: Panel[] = [
    {
      title: 'Queue depth (Redis list)',
      unit: (v) => String(Math.round(v)),
      series: [{ label: 'items waiting', colour: '#1f77b4', values: samples.map((s) => s.queueDepth) }],
    },
    {
      title: 'Consumer replicas per tier',
      unit: (v) => String(v),
      whole: true,
      series: [
        { label: 'regular nodes', colour: '#2ca02c', values: samples.map((s) => s.regular), step: true },
        { label: 'virtual node (burst)', colour: '#d62728', values: samples.map((s) => s.virtual), step: true },
      ],
    },
    {
      title: 'Burst cost so far (USD)',
      unit: (v) => `$${v.toFixed(v < 0.01 ? 5 : 3)}`,
      series: [{ label: 'virtual node cost', colour: '#9467bd', values: samples.map((s) => s.cost) }],
    },
  ];
  return renderChart({ title, times: samples.map((s) => s.t), panels, timeLabel: 'time since the queue was filled' });
}

export interface ChartSpec {
  title: string;
  /** Seconds from the start, one per value of every series. */
  times: readonly number[];
  panels: readonly Panel[];
  /** Caption under the time axis. */
  timeLabel: string;
  /** Time ticks in this unit (seconds by default); the tick values stay round in it. */
  timeUnit?: { seconds: number; suffix: string };
}

/** Panels stacked on one shared time axis, each with exact value ticks and a legend. */
export function renderChart(spec: ChartSpec): string {
  const { title, times, panels } = spec;
  const height = MARGIN.top + panels.length * (PANEL_HEIGHT + MARGIN.gap) + MARGIN.bottom - MARGIN.gap;
  const tMax = Math.max(1, ...times);
  const longestLabel = Math.max(0, ...panels.flatMap((p) => p.series.map((s) => s.label.length)));
  const layout: Layout = {
    right: LEGEND_SWATCH + 12 + longestLabel * LEGEND_CHAR_WIDTH,
    tMax,
    timeLabel: spec.timeLabel,
    timeUnit: spec.timeUnit ?? { seconds: 1, suffix: 's' },
  };
  const body = panels.map((panel, i) => renderPanel(panel, times, layout, MARGIN.top + i * (PANEL_HEIGHT + MARGIN.gap), i === panels.length - 1)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

interface Layout {
  /** Width of the legend column right of the plots. */
  readonly right: number;
  readonly tMax: number;
  readonly timeLabel: string;
  readonly timeUnit: { seconds: number; suffix: string };
}

function renderPanel(panel: Panel, times: readonly number[], layout: Layout, top: number, showTimeLabel: boolean): string {
  const { tMax } = layout;
  const plotWidth = WIDTH - MARGIN.left - layout.right;
  const ticks = valueTicks(Math.max(0, ...panel.series.flatMap((s) => s.values)), panel.whole ?? false);
  const vMax = ticks[ticks.length - 1] ?? 0;
  const x = (t: number) => MARGIN.left + (t / tMax) * plotWidth;
  const y = (v: number) => top + PANEL_HEIGHT - (vMax === 0 ? 0 : (v / vMax) * PANEL_HEIGHT);
  const parts: string[] = [
    `<g class="panel" data-title="${escapeXml(panel.title)}">`,
    `<text x="${MARGIN.left}" y="${top - 8}" font-weight="bold">${escapeXml(panel.title)}</text>`,
  ];
  parts.push(`<rect x="${MARGIN.left}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`);
  for (const v of ticks) {
    parts.push(`<line class="tick" data-value="${v}" x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${fmt(y(v))}" y2="${fmt(y(v))}" stroke="#eee"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${fmt(y(v) + 4)}" text-anchor="end">${escapeXml(panel.unit(v))}</text>`);
  }
  const unit = layout.timeUnit;
  for (const t of timeTicks(tMax / unit.seconds))
    parts.push(`<text x="${fmt(x(t * unit.seconds))}" y="${top + PANEL_HEIGHT + 15}" text-anchor="middle">${t}${unit.suffix}</text>`);
  if (showTimeLabel)
    parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${top + PANEL_HEIGHT + 32}" text-anchor="middle">${escapeXml(layout.timeLabel)}</text>`);
  panel.series.forEach((series, i) => {
    const points = series.values.flatMap((v, j) => {
      const t = times[j] ?? 0;
      const previous = series.values[j - 1];
      const stepCorner = series.step && j > 0 && previous !== undefined && previous !== v ? [`${fmt(x(t))},${fmt(y(previous))}`] : [];
      return [...stepCorner, `${fmt(x(t))},${fmt(y(v))}`];
    });
    parts.push(
      `<polyline class="series" data-label="${escapeXml(series.label)}" data-values="${series.values.join(' ')}" data-times="${times.join(' ')}" fill="none" stroke="${series.colour}" stroke-width="2"${series.dash ? ` stroke-dasharray="${series.dash}"` : ''} points="${points.join(' ')}"/>`,
    );
    const legendY = top + 14 + i * 18;
    const legendX = WIDTH - layout.right;
    parts.push(
      `<line x1="${legendX + 12}" x2="${legendX + 32}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${series.colour}" stroke-width="3"${series.dash ? ` stroke-dasharray="${series.dash}"` : ''}/>`,
    );
    parts.push(`<text class="legend" x="${legendX + LEGEND_SWATCH}" y="${legendY}">${escapeXml(series.label)}</text>`);
  });
  parts.push('</g>');
  return parts.join('\n');
}

/** 1, 2 or 5 times a power of ten, at least `v`: axis tops people can read. */
export function niceCeiling(v: number): number {
  if (v <= 0) return 0;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * power >= v - 1e-12) return m * power;
  return 10 * power;
}

/**
 * Evenly spaced axis values from 0 to a top at or above `max`, at a readable step (1, 2 or 5 times a power of
 * ten; at least 1 for whole-number panels), so every label names the exact value of its line.
 */
export function valueTicks(max: number, whole: boolean): number[] {
  if (max <= 0) return [0];
  const step = Math.max(whole ? 1 : 0, niceCeiling(max / 4));
  const count = Math.ceil(max / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => roundTo(i * step, step));
}

/** Drops the binary noise of `i * step` (0.30000000000000004) at the step's own precision. */
function roundTo(v: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(decimals));
}

function timeTicks(tMax: number): number[] {
  const step = niceCeiling(tMax / 6);
  const ticks: number[] = [];
  for (let t = 0; t <= tMax + 1e-9 && step > 0; t += step) ticks.push(Math.round(t * 10) / 10);
  return ticks;
}

function fmt(n: number): string {
  return n.toFixed(1);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Reads back the series a chart was drawn from, by label (what the demo's test checks). */
export function seriesFromChart(svg: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const match of svg.matchAll(/<polyline class="series" data-label="([^"]*)" data-values="([^"]*)"/g)) {
    found.set(match[1] ?? '', (match[2] ?? '').split(' ').filter(Boolean).map(Number));
  }
  return found;
}
