import { costMetricNames } from './metrics.js';

// `swell virtual-node cost`: reads the cost metrics a running virtual node exposes and prints them as a table.

export interface ReportRow {
  node: string;
  namespace: string;
  workloadKind: string;
  workload: string;
  running: number;
  pods: number;
  vcpuSeconds: number;
  gibSeconds: number;
  dollars: number;
}

type Field = 'running' | 'pods' | 'vcpuSeconds' | 'gibSeconds' | 'dollars';
const fieldOf: Record<string, Field> = {
  [costMetricNames.running]: 'running',
  [costMetricNames.pods]: 'pods',
  [costMetricNames.vcpuSeconds]: 'vcpuSeconds',
  [costMetricNames.gibSeconds]: 'gibSeconds',
  [costMetricNames.dollars]: 'dollars',
};

const samplePattern = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Extracts the cost rows from Prometheus text exposition; other metrics are ignored. */
export function parseCostMetrics(text: string): ReportRow[] {
  const rows = new Map<string, ReportRow>();
  for (const line of text.split('\n')) {
    const match = samplePattern.exec(line);
    const field = match?.[1] ? fieldOf[match[1]] : undefined;
    if (!match || !field) continue;
    const labels = new Map([...(match[2] ?? '').matchAll(labelPattern)].map((m) => [m[1] ?? '', unescape(m[2] ?? '')]));
    const row: ReportRow = {
      node: labels.get('node') ?? '',
      namespace: labels.get('namespace') ?? '',
      workloadKind: labels.get('workload_kind') ?? '',
      workload: labels.get('workload') ?? '',
      running: 0,
      pods: 0,
      vcpuSeconds: 0,
      gibSeconds: 0,
      dollars: 0,
    };
    const key = [row.node, row.namespace, row.workloadKind, row.workload].join('\u0000');
    const existing = rows.get(key) ?? row;
    existing[field] = Number(match[3]);
    rows.set(key, existing);
  }
  return [...rows.values()];
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** A fixed-width table with a total line; dollars to 6 decimals (one vCPU-second costs about $0.0000112). */
export function formatCostTable(rows: readonly ReportRow[]): string {
  const header = ['NODE', 'NAMESPACE', 'WORKLOAD', 'RUNNING', 'PODS', 'VCPU-S', 'GIB-S', 'COST ($)'];
  const total = rows.reduce(
    (t, r) => ({
      vcpu: t.vcpu + r.vcpuSeconds,
      gib: t.gib + r.gibSeconds,
      dollars: t.dollars + r.dollars,
      running: t.running + r.running,
      pods: t.pods + r.pods,
    }),
    {
      vcpu: 0,
      gib: 0,
      dollars: 0,
      running: 0,
      pods: 0,
    },
  );
  const body = [...rows]
    .sort((a, b) => b.dollars - a.dollars || a.namespace.localeCompare(b.namespace))
    .map((r) => [
      r.node,
      r.namespace,
      `${r.workloadKind}/${r.workload}`,
      String(r.running),
      String(r.pods),
      r.vcpuSeconds.toFixed(1),
      r.gibSeconds.toFixed(1),
      r.dollars.toFixed(6),
    ]);
  const footer = ['TOTAL', '', '', String(total.running), String(total.pods), total.vcpu.toFixed(1), total.gib.toFixed(1), total.dollars.toFixed(6)];
  const table = [header, ...body, footer];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  const numeric = (i: number) => i >= 3;
  return (
    table
      .map((row) =>
        row
          .map((cell, i) => (numeric(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
