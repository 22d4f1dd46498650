import { createHash } from 'node:crypto';
import { abandonable, JointSignal } from '../src/controller/joint-signal.js';
import type { Clock } from '../src/controller/clock.js';

interface Flight {
  readonly promise: Promise<unknown>;
  readonly joint: JointSignal;
}

interface Entry {
  inFlight?: Flight;
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

  /**
   * `fetch` gets a signal that aborts only once every caller waiting on it has given up; a caller whose own
   * `signal` aborts stops waiting at once with the signal's reason, and a later caller starts a fresh fetch
   * rather than join an abandoned one.
   */
  read<T>(key: string, maxAgeMs: number, fetch: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.sweepOccasionally();
    const now = this.clock.now();
    const entry = this.entries.get(key) ?? { keepMs: 0 };
    entry.keepMs = Math.max(entry.keepMs, maxAgeMs);
    this.entries.set(key, entry);
    if (entry.value && now - entry.value.readAt <= maxAgeMs) return Promise.resolve(entry.value.data as T);
    const joining = entry.inFlight && !entry.inFlight.joint.abandoned ? entry.inFlight : undefined;
    if (joining) {
      joining.joint.join(signal ? { signal } : undefined);
      return abandonable(joining.promise as Promise<T>, signal);
    }
    const joint = new JointSignal();
    joint.join(signal ? { signal } : undefined);
    const flight: Flight = { joint, promise: this.start(entry, now, joint, fetch) };
    entry.inFlight = flight;
    return abandonable(flight.promise as Promise<T>, signal);
  }

  private start<T>(entry: Entry, startedAt: number, joint: JointSignal, fetch: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const settled = (): void => {
      joint.dispose();
      if (entry.inFlight?.joint === joint) entry.inFlight = undefined;
    };
    return fetch(joint.signal).then(
      (data) => {
        settled();
        // An abandoned fetch that finishes late must not replace what a newer one read.
        if (!entry.value || entry.value.readAt <= startedAt) entry.value = { data, readAt: startedAt };
        return data;
      },
      (err: unknown) => {
        settled();
        throw err;
      },
    );
  }

  /** Number of sources currently remembered (for tests and the operator's own metrics). */
  get size(): number {
    return this.entries.size;
  }

  private sweepOccasionally(): void {
    if (++this.readsSinceSweep < this.sweepEvery) return;
    this.readsSinceSweep = 0;
    const now = this.clock.now();
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
