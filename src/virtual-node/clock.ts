/** Cancels a timer started by a Clock. */
export type CancelTimer = () => void;

/**
 * Time as the virtual node sees it. Everything that decides on elapsed time (start latency, run duration,
 * billing, grace periods, backoff) reads it from here so that tests can drive it by hand.
 */
export interface Clock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): CancelTimer;
}

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimer(callback, delayMs) {
      const timer = setTimeout(callback, Math.max(0, delayMs));
      timer.unref();
      return () => clearTimeout(timer);
    },
  };
}

/** A clock that moves only when told to; due timers fire, in order, inside `advance`. */
export class ManualClock implements Clock {
  private timers: { at: number; seq: number; callback: () => void }[] = [];
  private seq = 0;

  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  setTimer(callback: () => void, delayMs: number): CancelTimer {
    const timer = { at: this.current + Math.max(0, delayMs), seq: this.seq++, callback };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = due.at;
      due.callback();
    }
    this.current = target;
  }
}
