import { renderChart, type Panel, type Series } from '../demo/chart.js';
import type { StrategyResult } from './engine.js';

/*
 * The comparison chart, drawn with the demo's chart code: work waiting, Running replicas per tier (regular
 * solid, burst dashed) and cumulative cost, one colour per strategy, on one time axis.
 */

const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

export function renderSimulationChart(results: readonly StrategyResult[], title: string): string {
  const longest = results.reduce<StrategyResult | undefined>((a, r) => (!a || r.samples.t.length > a.samples.t.length ? r : a), undefined);
  const times = longest?.samples.t ?? [0];
  const padded = (values: readonly number[]) => times.map((_, i) => values[Math.min(i, values.length - 1)] ?? 0);
  const colourOf = (i: number) => colours[i % colours.length] ?? '#000000';
  const perStrategy = (pick: (r: StrategyResult) => readonly number[], extra: Partial<Series> = {}, suffix = ''): Series[] =>
    results.map((r, i) => ({ label: `${r.name}${suffix}`, colour: colourOf(i), values: padded(pick(r)), ...extra }));
  const panels: Panel[] = [
    { title: 'Work waiting (queue depth)', unit: (v) => String(Math.round(v)), series: perStrategy((r) => r.samples.backlog) },
    {
      title: 'Running replicas per tier (regular solid, burst dashed)',
      unit: (v) => String(v),
      whole: true,
      series: results.flatMap((r, i) => [
        { label: `${r.name}: regular`, colour: colourOf(i), values: padded(r.samples.regular), step: true },
        { label: `${r.name}: burst`, colour: colourOf(i), values: padded(r.samples.burst), step: true, dash: '6 4' },
      ]),
    },
    { title: 'Cumulative cost (USD)', unit: (v) => `$${v.toFixed(v < 1 ? 3 : 2)}`, series: perStrategy((r) => r.samples.cost) },
  ];
  const end = times[times.length - 1] ?? 0;
  return renderChart({ title, times, panels, timeLabel: 'time since the start of the trace', timeUnit: timeUnitFor(end) });
}

function timeUnitFor(seconds: number): { seconds: number; suffix: string } {
  if (seconds > 3 * 86_400) return { seconds: 86_400, suffix: 'd' };
  if (seconds > 3 * 3600) return { seconds: 3600, suffix: 'h' };
  if (seconds > 900) return { seconds: 60, suffix: 'min' };
  return { seconds: 1, suffix: 's' };
}
