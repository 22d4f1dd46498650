import type { Tier } from './placement.js';

interface Entry {
  workload: string;
  tier: Tier;
  atMs: number;
}

/**
 * Tiers decided at admission that the pod cache does not show yet. A ReplicaSet creates a batch of pods at once,
 * faster than the watch delivers them; without this, every pod of the batch would be counted against the same
 * stale numbers. An entry ends when its pod appears in the cache, or after `ttlMs` (the create failed later on).
 */
export class PlacementLedger {
  readonly #entries = new Map<string, Entry>();
  #sequence = 0;

  constructor(
    private readonly ttlMs = 30_000,
    private readonly idPrefix = Math.random().toString(36).slice(2, 8),
  ) {}

  /** Records a decision and returns the token the pod carries (in the placement annotation). */
  record(workload: string, tier: Tier, nowMs: number): string {
    const token = `${this.idPrefix}-${++this.#sequence}`;
    this.#entries.set(token, { workload, tier, atMs: nowMs });
    return token;
  }

  /** Decisions for `workload` whose pods are not among `seenTokens`, by tier. */
  unseen(workload: string, seenTokens: ReadonlySet<string>, nowMs: number): Record<Tier, number> {
    const counts: Record<Tier, number> = { regular: 0, burst: 0 };
    for (const [token, entry] of this.#entries) {
      if (seenTokens.has(token) || nowMs - entry.atMs > this.ttlMs) {
        this.#entries.delete(token);
        continue;
      }
      if (entry.workload === workload) counts[entry.tier] += 1;
    }
    return counts;
  }
}
