import https from 'node:https';
import { sleep, type Clock, type Timer } from '../controller/clock.js';
import { describeApiError, isConflict } from './errors.js';
import type { Logger } from '../log.js';

/*
 * Local runs (--local) register their servers with loopback addresses: the APIService behind an ExternalName
 * Service with this replica's port, the webhook configurations with https://127.0.0.1:<port>. Several replicas
 * share one registration, and it must always point at one that is alive, whichever replica dies or stops:
 *
 * - a replica claims the registration when there is none, or when the one there points at a local endpoint
 *   that has not answered for `deadAfter` probes in a row; it never takes one from a live replica;
 * - every replica keeps watching, so when the registered replica is killed another takes over within seconds;
 * - a replica that stops deletes the registration only while it still points at itself.
 *
 * Leader election is not used for this: a killed leader's Lease stays valid for its full duration, while a dead
 * loopback port is known at the first probe.
 */

/** Where a registration points, as far as takeover is concerned. */
export type RegisteredTarget =
  /** Another replica of a local run, at this loopback port. */
  | { kind: 'local'; port: number }
  /** Something that is not a local run (e.g. the chart's Service): replaced once at start, as before. */
  | { kind: 'foreign'; description: string };

export interface ObservedRegistration {
  target: RegisteredTarget;
  /** Precondition for replacing it, so that of two replicas taking over at once only one wins. */
  resourceVersion?: string;
}

export type RegistrationAction = 'claim' | 'keep' | 'probe';

export interface RegistrationFacts {
  observed: ObservedRegistration | undefined;
  ownPort: number;
  /** Failed probes in a row of the local endpoint registered now. */
  failedProbes: number;
  deadAfter: number;
  /** The first look after start replaces a foreign registration; later looks leave it alone. */
  starting: boolean;
}

/** What to do about the registration after one look at it. Pure. */
export function registrationAction(facts: RegistrationFacts): RegistrationAction {
  const { observed } = facts;
  if (!observed) return 'claim';
  if (observed.target.kind === 'foreign') return facts.starting ? 'claim' : 'keep';
  if (observed.target.port === facts.ownPort) return 'keep';
  return facts.failedProbes >= facts.deadAfter ? 'claim' : 'probe';
}

/** One registration (the APIService, or the webhook configurations) as the keeper reads and writes it. */
export interface LocalRegistration {
  /** Names it in logs, e.g. `APIService v1beta1.external.metrics.k8s.io`. */
  readonly description: string;
  read(): Promise<ObservedRegistration | undefined>;
  /** Creates it, or replaces the observed one (with its resourceVersion), pointing at this replica. */
  claim(observed: ObservedRegistration | undefined): Promise<void>;
  /** Deletes it if it still points at this replica. */
  release(): Promise<void>;
}

export interface RegistrationKeeperOptions {
  registration: LocalRegistration;
  ownPort: number;
  clock: Clock;
  log: Logger;
  /** Whether something answers on this loopback port; default an HTTPS GET /healthz to 127.0.0.1. */
  probe?: (port: number) => Promise<boolean>;
  /** Default 1 s. */
  intervalMs?: number;
  /** Default 2 failed probes in a row. */
  deadAfter?: number;
}

/** Between the probes of a registered endpoint while starting. */
const STARTUP_PROBE_SPACING_MS = 250;

/** Keeps one local registration pointing at a live replica (see the comment at the top of this file). */
export class RegistrationKeeper {
  readonly #options: RegistrationKeeperOptions;
  #failedProbes = 0;
  #probedPort: number | undefined;
  #timer: Timer | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(options: RegistrationKeeperOptions) {
    this.#options = options;
  }

  /**
   * Looks (claiming if it must, errors thrown), then keeps looking on a timer. A registration left behind by a
   * replica that is gone is taken over before this returns: its endpoint is probed again at short intervals
   * until it counts as dead, so a started replica is registered unless a live one is.
   */
  async start(): Promise<void> {
    const deadAfter = this.#options.deadAfter ?? 2;
    for (let attempt = 1; (await this.#look(true)) === 'probe' && this.#failedProbes > 0 && attempt < deadAfter; attempt++) {
      await sleep(this.#options.clock, STARTUP_PROBE_SPACING_MS);
    }
    this.#schedule();
  }

  /** Stops watching, then deletes the registration if it still points at this replica. */
  async stop(): Promise<void> {
    await this.pause();
    await this.#options.registration.release();
  }

  /** Stops watching and leaves the registration as it is. */
  async pause(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#running = this.#look(false)
        .then(() => undefined)
        .catch((err: unknown) =>
          this.#options.log.warn({ err: describeApiError(err), registration: this.#options.registration.description }, 'could not check the registration'),
        )
        .finally(() => this.#schedule());
    }, this.#options.intervalMs ?? 1_000);
  }

  /** One look; returns what it decided (after probing, when it had to). */
  async #look(starting: boolean): Promise<RegistrationAction> {
    const { registration, ownPort, log } = this.#options;
    const observed = await registration.read();
    const target = observed?.target;
    if (target?.kind !== 'local' || target.port !== this.#probedPort) {
      this.#failedProbes = 0;
      this.#probedPort = target?.kind === 'local' ? target.port : undefined;
    }
    const facts = { observed, ownPort, failedProbes: this.#failedProbes, deadAfter: this.#options.deadAfter ?? 2, starting };
    let action = registrationAction(facts);
    if (action === 'probe' && target?.kind === 'local') {
      this.#failedProbes = (await (this.#options.probe ?? answersOnLoopback)(target.port)) ? 0 : this.#failedProbes + 1;
      action = registrationAction({ ...facts, failedProbes: this.#failedProbes });
    }
    if (action !== 'claim' || this.#stopped) return action;
    try {
      await registration.claim(observed);
    } catch (err) {
      // Another replica took it over first: fine, it is alive; the next look sees it.
      if (isConflict(err)) return 'keep';
      throw err;
    }
    const from = !target ? 'none' : target.kind === 'local' ? `127.0.0.1:${target.port} (not answering)` : target.description;
    log.info({ registration: registration.description, port: ownPort, previous: from }, 'registered this replica');
    this.#failedProbes = 0;
    return action;
  }
}

/** Whether an HTTPS server answers GET /healthz on 127.0.0.1:port within a second (any status counts). */
export function answersOnLoopback(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: timeoutMs, agent: false }, (response) => {
      response.resume();
      resolve(true);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
  });
}
