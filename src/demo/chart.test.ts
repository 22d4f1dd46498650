import { describe, expect, it } from 'vitest';
import { niceCeiling, renderDemoChart, seriesFromChart, valueTicks } from './chart.js';
import { summarize, type DemoSample } from './sample.js';

const run: DemoSample[] = [
  { t: 0, queueDepth: 40, regular: 0, virtual: 0, cost: 0 },
  { t: 2, queueDepth: 40, regular: 1, virtual: 0, cost: 0 },
  { t: 5, queueDepth: 30, regular: 2, virtual: 4, cost: 0.0012 },
  { t: 9, queueDepth: 0, regular: 1, virtual: 0, cost: 0.0031 },
  { t: 15, queueDepth: 0, regular: 0, virtual: 0, cost: 0.0031 },
];

describe('renderDemoChart', () => {
  it('draws every series and keeps its data readable', () => {
    const svg = renderDemoChart(run, 'swell demo');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const series = seriesFromChart(svg);
    expect(series.get('items waiting')).toEqual([40, 40, 30, 0, 0]);
    expect(series.get('regular nodes')).toEqual([0, 1, 2, 1, 0]);
    expect(series.get('virtual node (burst)')).toEqual([0, 0, 4, 0, 0]);
    expect(series.get('virtual node cost')).toEqual([0, 0, 0.0012, 0.0031, 0.0031]);
  });

  it('draws replica changes as steps and keeps points inside the plot', () => {
    const svg = renderDemoChart(run, 'swell demo');
    const virtualPoints = /data-label="virtual node \(burst\)"[^>]*points="([^"]*)"/.exec(svg)?.[1]?.split(' ') ?? [];
    // 5 samples plus a corner at each of the 2 changes.
    expect(virtualPoints).toHaveLength(7);
    for (const p of virtualPoints) {
      const [x, y] = p.split(',').map(Number);
      expect(x).toBeGreaterThanOrEqual(70);
      expect(x).toBeLessThanOrEqual(750);
      expect(y).toBeGreaterThan(0);
    }
  });

  it('draws a replica count exactly on the grid line labelled with it', () => {
    const steps: DemoSample[] = [1, 2, 3].map((n, i) => ({ t: i * 5, queueDepth: 0, regular: n, virtual: 0, cost: 0 }));
    const svg = renderDemoChart(steps, 'steps');
    const panel = svg.slice(svg.indexOf('data-title="Consumer replicas per tier"'));
    const gridY = new Map([...panel.matchAll(/class="tick" data-value="([^"]+)"[^>]*y1="([^"]+)"/g)].map((m) => [Number(m[1]), m[2]]));
    const points = /data-label="regular nodes"[^>]*points="([^"]*)"/.exec(panel)?.[1]?.split(' ') ?? [];
    for (const n of [1, 2, 3]) {
      expect(gridY.has(n), `a grid line at ${n}`).toBe(true);
      expect(points.some((p) => p.split(',')[1] === gridY.get(n))).toBe(true);
    }
  });

  it('keeps every legend label inside the picture', () => {
    const svg = renderDemoChart(run, 'swell demo');
    const width = Number(/width="(\d+)"/.exec(svg)?.[1]);
    for (const m of svg.matchAll(/<text class="legend" x="([^"]+)"[^>]*>([^<]*)</g)) {
      expect(Number(m[1]) + (m[2] ?? '').length * 7).toBeLessThanOrEqual(width);
    }
  });

  it('escapes the title and survives an empty run', () => {
    expect(renderDemoChart([], 'a < b & "c"')).toContain('a &lt; b &amp; &quot;c&quot;');
    expect(seriesFromChart(renderDemoChart([], 'empty')).get('items waiting')).toEqual([]);
  });
});

describe('niceCeiling', () => {
  it.each([
    [0, 0],
    [1, 1],
    [3, 5],
    [7, 10],
    [12, 20],
    [0.0031, 0.005],
    [40, 50],
  ])('%d → %d', (v, want) => {
    expect(niceCeiling(v)).toBeCloseTo(want, 10);
  });
});

describe('valueTicks', () => {
  it.each([
    [0, false, [0]],
    [3, true, [0, 1, 2, 3]],
    [4, true, [0, 1, 2, 3, 4]],
    [7, true, [0, 2, 4, 6, 8]],
    [40, false, [0, 10, 20, 30, 40]],
    [0.0031, false, [0, 0.001, 0.002, 0.003, 0.004]],
    [0.3, false, [0, 0.1, 0.2, 0.3]],
  ])('%d (whole: %s) → %j', (max, whole, want) => {
    expect(valueTicks(max, whole)).toEqual(want);
  });
});

describe('summarize', () => {
  it('reports the peaks and the final state', () => {
    expect(summarize(run)).toEqual({ peakQueue: 40, peakRegular: 2, peakVirtual: 4, final: run[4] });
    expect(summarize([])).toEqual({ peakQueue: 0, peakRegular: 0, peakVirtual: 0, final: undefined });
  });
});
