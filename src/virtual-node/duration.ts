const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationPattern = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

/** Parses a Go-style duration ("500ms", "5s", "1m30s", "2h") into milliseconds; throws naming `what`. */
export function parseDuration(value: string, what: string): number {
  const text = value.trim();
  if (!durationPattern.test(text)) throw new Error(`${what}: "${value}" is not a duration (examples: 500ms, 5s, 1m30s)`);
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(match[1]) * (unitMs[match[2] ?? 's'] ?? 0);
  }
  return total;
}
