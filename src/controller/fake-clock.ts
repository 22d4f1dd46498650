import type { Clock, Timer } from './clock.js';

interface PendingTimer {
  dueAt: number;
  order: number;
  callback: () => void;
}

/** Lets queued promise callbacks run (including chains several steps long) before the test looks again. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A deterministic clock for tests: time stands still until `advance` moves it, firing due timers in order
 * and letting the promise chains they start settle between firings.
 */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Set<PendingTimer>();
  #order = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    const timer: PendingTimer = { dueAt: this.#now + Math.max(0, delayMs), order: this.#order++, callback };
    this.#timers.add(timer);
    return { cancel: () => this.#timers.delete(timer) };
  }

  /** Number of timers still waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Delay until the next timer fires, or undefined when none is pending. */
  nextTimerDelay(): number | undefined {
    const next = this.#next();
    return next === undefined ? undefined : next.dueAt - this.#now;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way at its own due time. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.#next();
      if (next === undefined || next.dueAt > target) break;
      this.#timers.delete(next);
      this.#now = Math.max(this.#now, next.dueAt);
      next.callback();
      await flushMicrotasks();
    }
    this.#now = target;
  }

  #next(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.#timers) {
      if (!best || timer.dueAt < best.dueAt || (timer.dueAt === best.dueAt && timer.order < best.order)) best = timer;
    }
    return best;
  }
}
