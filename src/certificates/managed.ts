import type { Clock, Timer } from '../controller/clock.js';
import type { Logger } from '../log.js';
import {
  assessServingBundle,
  generateServingBundle,
  reissueServingCertificate,
  sameBundle,
  type RenewalPolicy,
  type ServingBundle,
  type ServingIdentity,
} from './bundle.js';

/** Where generated bundles are kept so that every replica (and every restart) serves the same CA. */
export interface BundleStore {
  read(): Promise<{ bundle: ServingBundle | undefined; version: string } | undefined>;
  /** Creates the store's object; false when another writer created it first. */
  create(bundle: ServingBundle): Promise<boolean>;
  /** Replaces the bundle if it is still at `version`; false when another writer changed it first. */
  replace(bundle: ServingBundle, version: string): Promise<boolean>;
}

/** What every source of a serving certificate offers the server that uses it. */
export interface ServingCertificate {
  /** Loads (or creates) the bundle once, applies it, and keeps watching; resolves with the bundle in use. */
  start(): Promise<ServingBundle>;
  stop(): void;
}

export interface ManagedCertificateOptions {
  readonly store: BundleStore;
  readonly identity: ServingIdentity;
  readonly policy?: RenewalPolicy;
  readonly clock: Clock;
  /** Called with a bundle that differs from the last one applied: reload the server. */
  readonly apply: (bundle: ServingBundle) => Promise<void> | void;
  /**
   * Called after every check with the bundle in use, e.g. to publish the CA as a caBundle; idempotent by
   * contract. A failure is logged and retried at the next check rather than stopping the server.
   */
  readonly sync?: (bundle: ServingBundle) => Promise<void>;
  readonly log: Logger;
  /** How often to re-check the store; default 10 minutes (also picks up rotations by other replicas). */
  readonly checkIntervalMs?: number;
}

/** Writers that lose this many races in one check give up until the next one. */
const maxWriteAttempts = 3;

/**
 * Keeps a generated serving certificate in the store (a Secret) valid. Every replica, and every server in a
 * replica, runs one of these on the same store: each check reads it, reuses a good bundle, and otherwise writes
 * a new one guarded by the object's version (create-if-absent for the first), so writers racing to create or
 * renew converge on whichever write won: the losers read the winner's bundle and serve that.
 */
export class ManagedServingCertificate implements ServingCertificate {
  private applied: ServingBundle | undefined;
  private timer: Timer | undefined;
  private stopped = false;

  constructor(private readonly options: ManagedCertificateOptions) {}

  async start(): Promise<ServingBundle> {
    this.stopped = false;
    const bundle = await this.ensure();
    this.schedule();
    return bundle;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** One level-triggered pass: read, judge, write if needed, apply if changed, then sync. */
  async ensure(): Promise<ServingBundle> {
    const bundle = await this.ensureStored();
    await this.options
      .sync?.(bundle)
      .catch((error: unknown) => this.options.log.error({ err: error }, 'could not publish the serving CA; will retry at the next check'));
    return bundle;
  }

  private async ensureStored(): Promise<ServingBundle> {
    for (let attempt = 1; ; attempt += 1) {
      const stored = await this.options.store.read();
      const now = new Date(this.options.clock.now());
      const verdict = assessServingBundle(stored?.bundle, this.options.identity, now, this.options.policy);
      if (verdict.action === 'keep' && stored?.bundle) {
        await this.applyIfChanged(stored.bundle);
        return stored.bundle;
      }
      const fresh =
        verdict.action === 'reissue' && stored?.bundle
          ? await reissueServingCertificate(stored.bundle, this.options.identity, now, this.options.policy)
          : await generateServingBundle(this.options.identity, now, this.options.policy, stored?.bundle?.caPem);
      const reason = verdict.action === 'keep' ? 'stored bundle unusable' : verdict.reason;
      const written = stored ? await this.options.store.replace(fresh, stored.version) : await this.options.store.create(fresh);
      if (written) {
        this.options.log.info({ reason, newCa: verdict.action !== 'reissue' }, 'issued a new serving certificate');
        await this.applyIfChanged(fresh);
        return fresh;
      }
      this.options.log.debug({ attempt }, 'another replica wrote the serving certificate first; reading theirs');
      if (attempt >= maxWriteAttempts) throw new Error(`serving certificate: lost the race to write the store ${attempt} times; giving up for now`);
    }
  }

  private async applyIfChanged(bundle: ServingBundle): Promise<void> {
    if (sameBundle(this.applied, bundle)) return;
    await this.options.apply(bundle);
    this.applied = bundle;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(
      () => {
        this.ensure()
          .catch((error: unknown) => this.options.log.error({ err: error }, 'serving certificate check failed; will retry'))
          .finally(() => this.schedule());
      },
      this.options.checkIntervalMs ?? 600_000,
      { unref: true },
    );
  }
}
