/** A scheduled callback that can be cancelled; cancelling twice or after it fired is harmless. */
export interface Timer {
  cancel(): void;
}

/**
 * Time as the runtime sees it. Every component takes one so that tests drive time with a fake clock
 * instead of sleeping; production code uses {@link createSystemClock}.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number, options?: TimerOptions): Timer;
}

export interface TimerOptions {
  /** The timer alone does not keep the process alive (Node's `unref`); fake clocks ignore it. */
  readonly unref?: boolean;
}

/** The largest delay Node's setTimeout honours; longer delays fire at once, so they are clamped. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

export function createSystemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimeout(callback, delayMs, options) {
      const handle = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
      if (options?.unref) handle.unref();
      return { cancel: () => clearTimeout(handle) };
    },
  };
}

/**
 * Resolves after `delayMs` on `clock`, or as soon as `signal` aborts (never rejects), so loops can sleep and
 * still stop promptly. Returns true when the full delay elapsed.
 */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
