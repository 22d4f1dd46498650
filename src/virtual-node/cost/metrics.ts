import { Counter, Gauge, type Registry } from 'prom-client';
import type { CostMeter, CostRow } from './metering.js';

// Prometheus view of the cost meter. Values are read from the meter at scrape time, so the metrics are always
// exactly what `CostMeter.rows()` says; counters only grow because the meter's totals only grow.

export const costMetricNames = {
  dollars: 'swell_virtual_node_cost_dollars_total',
  vcpuSeconds: 'swell_virtual_node_vcpu_seconds_total',
  gibSeconds: 'swell_virtual_node_memory_gib_seconds_total',
  pods: 'swell_virtual_node_pods_billed_total',
  running: 'swell_virtual_node_pods_running',
} as const;

const labelNames = ['node', 'namespace', 'workload_kind', 'workload'] as const;
type Labels = Record<(typeof labelNames)[number], string>;

/** Registers the cost metrics of one node's meter; several nodes can share a registry (the `node` label differs). */
export function registerCostMetrics(registry: Registry, meters: ReadonlyMap<string, CostMeter>): void {
  const rows = (): [Labels, CostRow][] =>
    [...meters].flatMap(([node, meter]) =>
      meter.rows().map((row): [Labels, CostRow] => [{ node, namespace: row.namespace, workload_kind: row.workload.kind, workload: row.workload.name }, row]),
    );
  const counter = (name: string, help: string, value: (row: CostRow) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, row] of rows()) this.inc(labels, value(row));
      },
    });
  counter(costMetricNames.dollars, 'Cost of pods run on the virtual node, in US dollars, at the configured per-second prices.', (r) => r.dollars);
  counter(costMetricNames.vcpuSeconds, 'Billed vCPU-seconds (requests times billed run time).', (r) => r.vcpuSeconds);
  counter(costMetricNames.gibSeconds, 'Billed GiB-seconds of memory (requests times billed run time).', (r) => r.gibSeconds);
  counter(costMetricNames.pods, 'Pods billed, running or ended.', (r) => r.pods);
  new Gauge({
    name: costMetricNames.running,
    help: 'Pods currently billed on the virtual node.',
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, row] of rows()) this.set(labels, row.running);
    },
  });
}
