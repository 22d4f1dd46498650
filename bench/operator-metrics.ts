/*
 * Figures read from the operator's /metrics text (Prometheus text format), shared by the benches that run it.
 */

export function samples(text: string, name: string, labelFragment = ''): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name || !(match[2] ?? '').includes(labelFragment)) continue;
    out.push({ labels: match[2] ?? '', value: Number(match[3]) });
  }
  return out;
}

export const pollRuns = (text: string) => samples(text, 'swell_poll_runs_total', 'scheduler="scaledobject"').reduce((sum, s) => sum + s.value, 0);
export const scheduledKeys = (text: string) => samples(text, 'swell_poll_scheduled_keys', 'scheduler="scaledobject"').reduce((sum, s) => sum + s.value, 0);

/** Cumulative lateness histogram buckets: upper bound (s) → count. */
export function latenessBuckets(text: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const s of samples(text, 'swell_poll_lateness_seconds_bucket', 'scheduler="scaledobject"')) {
    const le = /le="([^"]+)"/.exec(s.labels)?.[1];
    if (le) buckets.set(le === '+Inf' ? Infinity : Number(le), (buckets.get(le === '+Inf' ? Infinity : Number(le)) ?? 0) + s.value);
  }
  return buckets;
}

/** The bucket bound (ms) under which `p`% of the window's polls fell: an upper bound on the percentile. */
export function latenessPercentileMs(before: Map<number, number>, after: Map<number, number>, p: number): number | string {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return 'no polls';
  for (const le of bounds) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= (p / 100) * total) return le === Infinity ? `> ${bounds.at(-2) ?? 0} s` : le * 1000;
  }
  return 'unknown';
}
