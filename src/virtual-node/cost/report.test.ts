import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../controller/fake-clock.js';
import { CostMeter, fargatePricing } from './metering.js';
import { registerCostMetrics } from './metrics.js';
import { formatCostTable, parseCostMetrics } from './report.js';

describe('cost metrics and report', () => {
  it('exports the meter by namespace and workload, and reads the same figures back from the text', async () => {
    const clock = new FakeClock(0);
    const meter = new CostMeter(fargatePricing, clock);
    meter.observe({ uid: 'a', namespace: 'shop', workload: { kind: 'Deployment', name: 'web' }, resources: { vcpu: 2, memoryGiB: 8 }, start: new Date(0) });
    meter.observe({
      uid: 'b',
      namespace: 'batch',
      workload: { kind: 'Job', name: 'nightly "x"' },
      resources: { vcpu: 1, memoryGiB: 2 },
      start: new Date(0),
      end: new Date(90_000),
    });
    await clock.advance(3_600_000);
    const registry = new Registry();
    registerCostMetrics(registry, new Map([['vk-0', meter]]));

    const rows = parseCostMetrics(await registry.metrics());
    const web = rows.find((r) => r.workload === 'web');
    expect(web).toMatchObject({ node: 'vk-0', namespace: 'shop', workloadKind: 'Deployment', running: 1, pods: 1, vcpuSeconds: 7200, gibSeconds: 28800 });
    expect(web?.dollars).toBeCloseTo(0.11652, 10);
    const job = rows.find((r) => r.workloadKind === 'Job');
    expect(job).toMatchObject({ workload: 'nightly "x"', running: 0, pods: 1, vcpuSeconds: 90 });
    expect(job?.dollars).toBeCloseTo(0.00123425, 10);

    // Scraping twice gives the same totals (collect resets before it counts).
    expect(parseCostMetrics(await registry.metrics()).find((r) => r.workload === 'web')?.vcpuSeconds).toBe(7200);

    const table = formatCostTable(rows);
    const lines = table.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+NAMESPACE\s+WORKLOAD\s+RUNNING\s+PODS\s+VCPU-S\s+GIB-S\s+COST \(\$\)$/);
    expect(lines[1]).toContain('Deployment/web');
    expect(lines[1]).toContain('0.116520');
    expect(lines[3]).toMatch(/^TOTAL\s+1\s+2\s+7290\.0\s+28980\.0\s/);
    expect(lines[3]).toContain((0.11652 + 0.00123425).toFixed(6));
  });

  it('prints only the header and a zero total when nothing ran', () => {
    expect(formatCostTable(parseCostMetrics('# HELP x\nother_metric 3\n')).trimEnd().split('\n')).toHaveLength(2);
  });
});
