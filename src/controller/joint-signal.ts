/** A caller's way to give up: its signal, which may be made only when asked for (the metrics API's are). */
export interface Abandonable {
  readonly signal?: AbortSignal | undefined;
}

/**
 * The abort signal of work several callers share: it aborts once every caller has given up, never while one
 * still waits, and never at all when a caller came without a signal. Callers' signals are looked at only once
 * the work asks for its own, so work that needs none (a value served from cache) never makes them.
 */
export class JointSignal {
  private pending: Abandonable[] = [];
  private controller: AbortController | undefined;
  private waiting = 0;
  private unbounded = false;
  private readonly detach: Array<() => void> = [];

  /** Another caller now waits on the work. */
  join(caller: Abandonable | undefined): void {
    if (caller === undefined) this.unbounded = true;
    else if (this.controller) {
      const gone = this.watch(caller.signal);
      if (gone) this.giveUp(gone.reason);
    } else this.pending.push(caller);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      const callers = this.pending;
      this.pending = [];
      let gone: AbortSignal | undefined;
      for (const caller of callers) gone = this.watch(caller.signal) ?? gone;
      if (gone) this.giveUp(gone.reason);
    }
    return this.controller.signal;
  }

  /** True once every caller has given up: a new caller must start the work afresh rather than join it. */
  get abandoned(): boolean {
    return this.controller?.signal.aborted === true;
  }

  /** Stops listening to the callers' signals; call when the work has settled. */
  dispose(): void {
    for (const off of this.detach.splice(0)) off();
    this.pending = [];
  }

  /** Counts a caller in; returns its signal when it has already given up. */
  private watch(signal: AbortSignal | undefined): AbortSignal | undefined {
    if (signal === undefined) {
      this.unbounded = true;
      return undefined;
    }
    if (signal.aborted) return signal;
    this.waiting++;
    const onAbort = (): void => {
      this.waiting--;
      this.giveUp(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.detach.push(() => signal.removeEventListener('abort', onAbort));
    return undefined;
  }

  private giveUp(reason: unknown): void {
    if (this.unbounded || this.waiting > 0) return;
    this.controller?.abort(reason);
  }
}

/** Waits for `work`, or rejects with the signal's reason as soon as this caller's signal aborts. */
export function abandonable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** The reason a signal aborted, as an Error (AbortSignal.abort() without one gives a DOMException). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : 'aborted');
}
