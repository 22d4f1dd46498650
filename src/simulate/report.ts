import type { StrategyResult } from './engine.js';
import type { SimulationReport } from './simulation.js';

/* The report as a table for people and as JSON for programs (JSON leaves the chart samples out). */

export function formatTable(report: SimulationReport): string {
  const header = [
    'strategy',
    'cost $',
    'nodes $',
    'burst $',
    'wait p50',
    'p95',
    'p99',
    'peak backlog',
    `over ${formatSeconds(report.slo.waitSeconds)} SLO`,
    'peak pods reg/burst',
    'peak nodes',
  ];
  const rows = report.results.map((r) => [
    r.name,
    money(r.cost.total),
    money(r.cost.nodes),
    money(r.cost.burst),
    formatSeconds(r.wait.p50),
    formatSeconds(r.wait.p95),
    formatSeconds(r.wait.p99),
    String(Math.round(r.peakBacklog)),
    formatSeconds(r.secondsOverSlo),
    `${r.peakReplicas.regular}/${r.peakReplicas.burst}`,
    String(r.peakNodes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const t = report.trace;
  const w = report.workload;
  const lines = [
    `trace: ${formatSeconds(t.seconds)}, ${t.rows} rows, ${t.kind === 'arrivals' ? `${Math.round(t.work)} items` : 'metric values'}; ScaledObject ${w.scaledObject} (${w.trigger}, target ${w.target}); ${w.ratePerReplica} items/s per replica; pod ${w.pod.vcpu} vCPU ${w.pod.memoryGiB} GiB (burst billed as ${w.burstBilledAs.vcpu} vCPU ${w.burstBilledAs.memoryGiB} GiB)`,
    '',
    line(header),
    ...rows.map(line),
    '',
  ];
  for (const r of report.results.filter((x) => x.unserved >= 1)) lines.push(`${r.name}: ${Math.round(r.unserved)} items still waiting when the run stopped`);
  const outage = outageLine(report);
  if (outage) lines.push(outage);
  for (const note of report.notes) lines.push(`note: ${note}`);
  const slo = `p${report.slo.percentile} wait ≤ ${formatSeconds(report.slo.waitSeconds)}`;
  if (report.recommendation) {
    const best = report.recommendation.result;
    lines.push(
      `cheapest that meets ${slo}: ${best.name} at ${money(best.cost.total)}${cheaperThan(best, report.results)}; apply:`,
      '',
      report.recommendation.burstPolicyYaml.trimEnd(),
    );
  } else lines.push(`no base + burst strategy meets ${slo}; try a larger base sweep (--bases) or more work per replica`);
  return `${lines.join('\n')}\n`;
}

/** What the trace's source outage did: fallback served on how many polls, or nothing scaled while it lasted. */
function outageLine(report: SimulationReport): string | undefined {
  const down = report.trace.sourceDownSeconds;
  if (down <= 0) return undefined;
  if (!report.fallback) return `source down for ${formatSeconds(down)} of the trace; no fallback, so swell and the HPA held the replica count meanwhile`;
  const polls = report.results.map((r) => r.fallbackPolls);
  const low = Math.min(...polls);
  const high = Math.max(...polls);
  return `source down for ${formatSeconds(down)} of the trace; fallback served on ${low === high ? low : `${low}-${high}`} polls per strategy`;
}

function cheaperThan(best: StrategyResult, all: readonly StrategyResult[]): string {
  const nodes = all.find((r) => r.kind === 'nodes');
  if (!nodes || nodes.cost.total <= 0) return '';
  const saving = 1 - best.cost.total / nodes.cost.total;
  return saving >= 0 ? ` (${Math.round(saving * 100)}% less than nodes only)` : ` (${Math.round(-saving * 100)}% more than nodes only)`;
}

export function formatJson(report: SimulationReport): string {
  const results = report.results.map(({ samples: _samples, ...rest }) => rest);
  return `${JSON.stringify({ ...report, results }, null, 2)}\n`;
}

function money(v: number): string {
  return v < 10 ? v.toFixed(4) : v.toFixed(2);
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Number(s.toFixed(1))}s`;
  if (s < 3600) return `${Number((s / 60).toFixed(1))}m`;
  if (s < 86_400) return `${Number((s / 3600).toFixed(1))}h`;
  return `${Number((s / 86_400).toFixed(1))}d`;
}
