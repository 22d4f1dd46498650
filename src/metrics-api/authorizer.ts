import type { Clock } from '../controller/clock.js';
import { TtlCache } from './ttl-cache.js';
import type { UserInfo } from './user.js';

/** What is being accessed, in SubjectAccessReview terms. */
export interface ResourceAttributes {
  readonly namespace: string;
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

export interface AccessDecision {
  readonly allowed: boolean;
  readonly reason: string;
}

/** Asks Kubernetes whether a user may do something (a SubjectAccessReview). Rejects when it cannot tell. */
export type AccessReviewer = (user: UserInfo, attributes: ResourceAttributes) => Promise<AccessDecision>;

export interface CachingAuthorizerOptions {
  readonly reviewer: AccessReviewer;
  readonly clock: Clock;
  /** Default 10 s for both, as kube's delegated authorization caches webhook answers. */
  readonly allowedTtlMs?: number;
  readonly deniedTtlMs?: number;
  readonly maxEntries?: number;
}

/**
 * Answers access questions from a short-lived, bounded cache, asking the reviewer only on a miss; concurrent
 * misses for the same question share one review. Failed reviews are not cached, so an outage heals at once.
 */
export class CachingAuthorizer {
  private readonly decisions: TtlCache<AccessDecision>;
  private readonly inFlight = new Map<string, Promise<AccessDecision>>();

  constructor(private readonly options: CachingAuthorizerOptions) {
    this.decisions = new TtlCache(options.maxEntries ?? 10_000, options.clock);
  }

  authorize(user: UserInfo, attributes: ResourceAttributes): Promise<AccessDecision> {
    const key = decisionKey(user, attributes);
    const cached = this.decisions.get(key);
    if (cached) return Promise.resolve(cached);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const review = this.options.reviewer(user, attributes).then(
      (decision) => {
        this.inFlight.delete(key);
        this.decisions.set(key, decision, decision.allowed ? (this.options.allowedTtlMs ?? 10_000) : (this.options.deniedTtlMs ?? 10_000));
        return decision;
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, review);
    return review;
  }
}

/** Every field that can change a decision; group order and extra key order cannot, so they are sorted. */
function decisionKey(user: UserInfo, a: ResourceAttributes): string {
  const extraKeys = Object.keys(user.extra);
  const extra = extraKeys.length === 0 ? [] : extraKeys.sort().map((k) => [k, user.extra[k]]);
  return JSON.stringify([user.username, user.uid ?? '', sorted(user.groups), extra, a.namespace, a.verb, a.group, a.version, a.resource]);
}

// Groups usually arrive sorted or single; copying and sorting them on every request would be wasted.
function sorted(values: readonly string[]): readonly string[] {
  for (let i = 1; i < values.length; i += 1) {
    if ((values[i - 1] ?? '') > (values[i] ?? '')) return [...values].sort();
  }
  return values;
}
