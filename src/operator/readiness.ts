import { describeApiError } from '../kube/errors.js';
import type { Clock, Timer } from '../controller/clock.js';
import type { Logger } from '../log.js';

export interface ReadinessState {
  ok: boolean;
  reason?: string;
}

/** What the last probes of the apiserver found. */
export interface ApiserverContact {
  /** Clock time of the last probe the apiserver answered. */
  lastReachedAt?: number;
  /** Why the last probe failed, when it did. */
  lastError?: string;
}

/**
 * Ready means: the apiserver answered a probe within `staleAfterMs`, and every part reports ready (caches
 * synced). A process that lost the apiserver keeps stale caches and cannot write what it decides, so it is
 * not ready, whatever its caches say.
 */
export function readiness(contact: ApiserverContact, parts: readonly ReadinessState[], now: number, staleAfterMs: number): ReadinessState {
  const reasons: string[] = [];
  if (contact.lastReachedAt === undefined) reasons.push(`apiserver not reached yet${contact.lastError ? `: ${contact.lastError}` : ''}`);
  else if (now - contact.lastReachedAt > staleAfterMs) {
    reasons.push(`apiserver unreachable for ${Math.round((now - contact.lastReachedAt) / 1000)} s${contact.lastError ? `: ${contact.lastError}` : ''}`);
  }
  for (const part of parts) if (!part.ok) reasons.push(part.reason ?? 'not ready');
  return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join('; ') };
}

export interface ApiserverProbeOptions {
  /** One request to the apiserver that resolves when it answered (e.g. GET /readyz). */
  probe: (signal: AbortSignal) => Promise<unknown>;
  clock: Clock;
  log: Logger;
  /** Default 3 s. */
  intervalMs?: number;
  /** Default 2 s. */
  timeoutMs?: number;
}

/** Probes the apiserver on a timer and remembers the outcome, for readiness; logs when contact is lost and regained. */
export class ApiserverProbe {
  readonly #options: ApiserverProbeOptions;
  readonly #contact: ApiserverContact = {};
  #timer: Timer | undefined;
  #inFlight: AbortController | undefined;
  #stopped = false;

  constructor(options: ApiserverProbeOptions) {
    this.#options = options;
  }

  get contact(): ApiserverContact {
    return { ...this.#contact };
  }

  /** How long the apiserver may stay silent before the process is not ready: two missed probes. */
  get staleAfterMs(): number {
    return 2 * (this.#options.intervalMs ?? 3_000) + (this.#options.timeoutMs ?? 2_000);
  }

  start(): void {
    void this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#inFlight?.abort();
  }

  async #tick(): Promise<void> {
    const { probe, clock, log } = this.#options;
    const abort = new AbortController();
    this.#inFlight = abort;
    const timeout = clock.setTimeout(() => abort.abort(), this.#options.timeoutMs ?? 2_000);
    try {
      await probe(abort.signal);
      if (this.#contact.lastError !== undefined) log.info('apiserver reachable again');
      this.#contact.lastReachedAt = clock.now();
      delete this.#contact.lastError;
    } catch (err) {
      const message = abort.signal.aborted && !this.#stopped ? `no answer within ${this.#options.timeoutMs ?? 2_000} ms` : describeApiError(err);
      if (this.#contact.lastError === undefined && !this.#stopped) log.warn({ err: message }, 'apiserver unreachable');
      this.#contact.lastError = message;
    } finally {
      timeout.cancel();
      this.#inFlight = undefined;
    }
    if (!this.#stopped) this.#timer = clock.setTimeout(() => void this.#tick(), this.#options.intervalMs ?? 3_000);
  }
}
