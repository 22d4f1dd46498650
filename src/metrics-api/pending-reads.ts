import type { Clock, Timer } from '../controller/clock.js';

/** How a read ended: its value, the deadline, the client going away, or the work failing. */
export type ReadOutcome<T> = { kind: 'value'; value: T } | { kind: 'timeout' } | { kind: 'client-gone' } | { kind: 'error'; error: unknown };

export interface PendingReadsOptions {
  /** How long a read may take; all reads share it, so deadlines fall in the order reads start. */
  readonly timeoutMs: number;
  /** Injected so that tests can move time. */
  readonly clock: Clock;
  /**
   * How long a read runs before it starts watching its client (default 50 ms). Answers from memory come back
   * well within it and never pay for a listener; a slow read notices a departed client within about twice this.
   */
  readonly watchClientAfterMs?: number;
}

/** What a read is given: a signal that aborts at the deadline or when the client goes, made only when asked for. */
export interface ReadContext {
  readonly signal: AbortSignal;
}

/**
 * Runs reads under a deadline and stops waiting for them when their client goes away, even if the work ignores
 * its signal. One timer serves every read in flight rather than a timer, an AbortController and an abort
 * listener per read: at a thousand requests a second those were a large share of the cost of a cached answer.
 */
export class PendingReads {
  private readonly reads = new Set<PendingRead>();
  private timer: Timer | undefined;
  private readonly watchAfterMs: number;

  constructor(private readonly options: PendingReadsOptions) {
    if (!(options.timeoutMs > 0)) throw new Error(`PendingReads timeoutMs must be positive, got ${options.timeoutMs}`);
    this.watchAfterMs = options.watchClientAfterMs ?? 50;
  }

  /** Runs `work`; `clientSignal` is read only if the work is still running after watchClientAfterMs. */
  run<T>(work: (context: ReadContext) => Promise<T>, clientSignal: () => AbortSignal): Promise<ReadOutcome<T>> {
    return new Promise<ReadOutcome<T>>((resolve) => {
      const now = this.options.clock.now();
      const read = new PendingRead(now, now + this.options.timeoutMs, clientSignal, (outcome) => {
        this.reads.delete(read);
        resolve(outcome as ReadOutcome<T>);
      });
      this.reads.add(read);
      this.arm();
      let running: Promise<T>;
      try {
        running = work(read);
      } catch (error) {
        return read.settle({ kind: 'error', error });
      }
      running.then(
        (value) => read.settle({ kind: 'value', value }),
        (error: unknown) => read.settle({ kind: 'error', error }),
      );
    });
  }

  /** Reads still waiting. */
  get size(): number {
    return this.reads.size;
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    const oldest = this.reads.values().next();
    if (oldest.done) return;
    const wait = Math.min(this.watchAfterMs, oldest.value.deadline - this.options.clock.now());
    // Unreferenced: a read nobody answers must not keep the process alive once the server has closed.
    this.timer = this.options.clock.setTimeout(() => this.sweep(), Math.max(0, wait), { unref: true });
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.options.clock.now();
    for (const read of this.reads) {
      if (now >= read.deadline) read.settle({ kind: 'timeout' });
      else if (now - read.startedAt >= this.watchAfterMs) read.watchClient();
    }
    this.arm();
  }
}

class PendingRead implements ReadContext {
  private controller: AbortController | undefined;
  private watching: { signal: AbortSignal; listener: () => void } | undefined;
  private outcome: ReadOutcome<unknown> | undefined;

  constructor(
    readonly startedAt: number,
    readonly deadline: number,
    private readonly clientSignal: () => AbortSignal,
    private readonly finish: (outcome: ReadOutcome<unknown>) => void,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      const reason = this.outcome && abortReason(this.outcome);
      if (reason) this.controller.abort(reason);
    }
    return this.controller.signal;
  }

  watchClient(): void {
    if (this.watching || this.outcome) return;
    const signal = this.clientSignal();
    const listener = () => this.settle({ kind: 'client-gone' });
    this.watching = { signal, listener };
    if (signal.aborted) listener();
    else signal.addEventListener('abort', listener, { once: true });
  }

  settle(outcome: ReadOutcome<unknown>): void {
    if (this.outcome) return;
    this.outcome = outcome;
    this.watching?.signal.removeEventListener('abort', this.watching.listener);
    const reason = abortReason(outcome);
    if (reason) this.controller?.abort(reason);
    this.finish(outcome);
  }
}

/** Why the work should stop, when it should: only when the answer is no longer wanted. */
function abortReason(outcome: ReadOutcome<unknown>): Error | undefined {
  if (outcome.kind === 'timeout') return new Error('the read timed out');
  if (outcome.kind === 'client-gone') return new Error('the client disconnected');
  return undefined;
}
