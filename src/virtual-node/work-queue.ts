import type { CancelTimer, Clock } from './clock.js';
import type { Logger } from '../log.js';

export interface WorkQueueOptions {
  readonly concurrency: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** First retry delay after a failure; doubles per consecutive failure of the same key. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

/**
 * Keys waiting to be reconciled. A key is queued at most once; a key added while it is being handled runs
 * again afterwards, so the last change is never lost; a failing key is retried with exponential back-off.
 */
export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; cancel: CancelTimer }>();
  private running = 0;
  private stopped = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handle: (key: string) => Promise<void>,
    private readonly options: WorkQueueOptions,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    this.pump();
  }

  /** Adds the key after `delayMs`, unless an earlier add for it is already scheduled. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    const at = this.options.clock.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.options.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, cancel });
  }

  stop(): void {
    this.stopped = true;
    for (const { cancel } of this.delayed.values()) cancel();
    this.delayed.clear();
    this.queued.clear();
  }

  /** Resolves once nothing is queued or being handled (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queued.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency) {
      const key = [...this.queued].find((k) => !this.active.has(k));
      if (key === undefined) break;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.run(key);
    }
    if (this.running === 0 && this.queued.size === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handle(key);
      this.failures.delete(key);
    } catch (error) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const delay = Math.min(this.options.retryMaxMs ?? 30_000, (this.options.retryBaseMs ?? 500) * 2 ** (failures - 1));
      this.options.log.warn({ key, err: error, retryInMs: delay }, 'reconcile failed; will retry');
      this.addAfter(key, delay);
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.queued.add(key);
      this.pump();
    }
  }
}
