/** How often one object may be told the same thing, and how much it may be told at all. */
export interface EventFilterSettings {
  /** The same reason and message on the same object is written once per window; repeats inside it are dropped. */
  repeatWindowMs: number;
  /** Events one object may get in a burst, whatever they say. */
  burst: number;
  /** One more event is allowed per this many ms, up to `burst`. */
  refillEveryMs: number;
  /** Objects and messages remembered; the oldest are forgotten first, so memory stays bounded. */
  maxRemembered: number;
}

/** A repeated failure is retold every 5 minutes; a flapping object gets at most 10 events, then one per 30 s. */
export const EVENT_FILTER_DEFAULTS: EventFilterSettings = { repeatWindowMs: 5 * 60_000, burst: 10, refillEveryMs: 30_000, maxRemembered: 8192 };

export type EventVerdict = 'write' | 'repeat' | 'spam';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Decides which events reach the apiserver, so a failure seen on every poll of every object is not an event
 * storm: a repeat of the same reason and message on the same object within the window is dropped ('repeat'),
 * and each object has a token bucket for everything it is told ('spam' once empty). Pure apart from the
 * times passed in.
 */
export class EventFilter {
  readonly #settings: EventFilterSettings;
  readonly #lastWritten = new Map<string, number>();
  readonly #buckets = new Map<string, Bucket>();

  constructor(settings: Partial<EventFilterSettings> = {}) {
    this.#settings = { ...EVENT_FILTER_DEFAULTS, ...settings };
  }

  /** `object` identifies the involved object, `message` what it is told (type, reason and text). */
  admit(object: string, message: string, now: number): EventVerdict {
    const key = `${object}\u0000${message}`;
    const last = this.#lastWritten.get(key);
    if (last !== undefined && now - last < this.#settings.repeatWindowMs) return 'repeat';
    const bucket = this.#refilled(object, now);
    if (bucket.tokens < 1) return 'spam';
    bucket.tokens -= 1;
    remember(this.#lastWritten, key, now, this.#settings.maxRemembered);
    return 'write';
  }

  #refilled(object: string, now: number): Bucket {
    const { burst, refillEveryMs, maxRemembered } = this.#settings;
    const bucket = this.#buckets.get(object) ?? { tokens: burst, at: now };
    const earned = Math.floor(Math.max(0, now - bucket.at) / refillEveryMs);
    if (earned > 0) {
      bucket.tokens = Math.min(burst, bucket.tokens + earned);
      bucket.at += earned * refillEveryMs;
    }
    if (bucket.tokens >= burst) bucket.at = now;
    remember(this.#buckets, object, bucket, maxRemembered);
    return bucket;
  }
}

/** Sets `key` as the newest entry, dropping the oldest past `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
