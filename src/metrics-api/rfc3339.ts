/**
 * Formats epoch milliseconds as Kubernetes writes metav1.Time: RFC 3339, UTC, whole seconds (rounded down).
 * Every metric response carries one, and Date#toISOString costs several microseconds, so the calendar date is
 * computed here with integer arithmetic (days to civil date, proleptic Gregorian). NaN and infinities, which
 * no Date can hold, become the epoch.
 */
export function rfc3339Seconds(epochMs: number): string {
  if (!Number.isFinite(epochMs)) return '1970-01-01T00:00:00Z';
  const seconds = Math.floor(epochMs / 1000);
  const days = Math.floor(seconds / 86_400);
  const ofDay = seconds - days * 86_400;
  const { year, month, day } = civilDate(days);
  // Years outside 0000-9999 need the expanded ISO form; Date writes that, and nobody will notice its cost.
  if (year < 0 || year > 9999) return `${new Date(seconds * 1000).toISOString().slice(0, -5)}Z`;
  const hh = Math.floor(ofDay / 3600);
  const mm = Math.floor((ofDay % 3600) / 60);
  return `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}T${two(hh)}:${two(mm)}:${two(ofDay % 60)}Z`;
}

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** Days since 1970-01-01 to year, month (1-12) and day (1-31), by eras of 400 years (146,097 days). */
function civilDate(daysSinceEpoch: number): { year: number; month: number; day: number } {
  const z = daysSinceEpoch + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}
