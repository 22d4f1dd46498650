import { createHash } from 'node:crypto';
import type { Clock } from './scaler.js';

interface Entry {
  inFlight?: Promise<unknown>;
  value?: { data: unknown; readAt: number };
  /** The longest max age any caller asked for; past it nobody can reuse the value and it is dropped. */
  keepMs: number;
}

/**
 * Coalesces reads of one source across every scaler that watches it: concurrent callers share one request,
 * and a value read no longer ago than the caller's max age is returned without asking the server again.
 * Failures are shared by the callers that were waiting but never remembered.
 */
export class SharedReads {
  private readonly entries = new Map<string, Entry>();
  private readsSinceSweep = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sweepEvery = 256,
  ) {}

  read<T>(key: string, maxAgeMs: number, fetch: () => Promise<T>): Promise<T> {
    this.sweepOccasionally();
    const now = this.clock.now().getTime();
    const entry = this.entries.get(key) ?? { keepMs: 0 };
    entry.keepMs = Math.max(entry.keepMs, maxAgeMs);
    this.entries.set(key, entry);
    if (entry.value && now - entry.value.readAt <= maxAgeMs) return Promise.resolve(entry.value.data as T);
    if (entry.inFlight) return entry.inFlight as Promise<T>;
    const startedAt = now;
    const request = fetch().then(
      (data) => {
        entry.value = { data, readAt: startedAt };
        entry.inFlight = undefined;
        return data;
      },
      (err: unknown) => {
        entry.inFlight = undefined;
        throw err;
      },
    );
    entry.inFlight = request;
    return request;
  }

  /** Number of sources currently remembered (for tests and the operator's own metrics). */
  get size(): number {
    return this.entries.size;
  }

  private sweepOccasionally(): void {
    if (++this.readsSinceSweep < this.sweepEvery) return;
    this.readsSinceSweep = 0;
    const now = this.clock.now().getTime();
    for (const [key, entry] of this.entries) {
      const expired = !entry.value || now - entry.value.readAt > entry.keepMs;
      if (!entry.inFlight && expired) this.entries.delete(key);
    }
  }
}

/**
 * A coalescing key for one source. Credentials are part of the identity (two users may see different data)
 * but are hashed, so keys can be logged without leaking them.
 */
export function sourceKey(kind: string, parts: Readonly<Record<string, unknown>>, secrets: Readonly<Record<string, unknown>> = {}): string {
  const secretDigest = createHash('sha256').update(stableJson(secrets)).digest('hex').slice(0, 16);
  return `${kind}:${stableJson(parts)}#${secretDigest}`;
}

/** JSON with object keys sorted, so equal sources give equal keys whatever order their fields were built in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
