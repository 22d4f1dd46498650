import { pino } from 'pino';
import { ConnectionPool } from './connection-pool.js';
import type { Clock, ScalerContext, ScalerDeps, TriggerSpec } from './scaler.js';
import { SharedReads } from './shared-reads.js';

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private current: Date = new Date('2026-01-05T12:00:00Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  set(date: Date | string): void {
    this.current = new Date(date);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** Real pools and coalescer around a manual clock, with a silent logger. */
export function testDeps(clock: Clock = new ManualClock(), overrides: Partial<ScalerDeps> = {}): ScalerDeps {
  return {
    clock,
    log: pino({ level: 'silent' }),
    reads: new SharedReads(clock),
    connections: new ConnectionPool(),
    ...overrides,
  };
}

export function contextFor(trigger: Partial<TriggerSpec> & { type: string }, extra: Partial<ScalerContext> = {}): ScalerContext {
  return {
    triggerIndex: 0,
    trigger: { metadata: {}, ...trigger },
    authParams: {},
    resolvedEnv: {},
    namespace: 'default',
    ...extra,
  };
}
