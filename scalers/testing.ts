import { pino } from 'pino';
import type { Clock } from '../src/controller/clock.js';
import { FakeClock } from '../src/controller/fake-clock.js';
import { ConnectionPool } from './connection-pool.js';
import type { ScalerContext, ScalerDeps, TriggerSpec } from './scaler.js';
import { SharedReads } from './shared-reads.js';

/** The instant scaler tests start at unless they say otherwise: a Monday, 12:00 UTC. */
export const testEpochMs = Date.parse('2026-01-05T12:00:00Z');

/** Real pools and coalescer around the runtime's fake clock, with a silent logger. */
export function testDeps(clock: Clock = new FakeClock(testEpochMs), overrides: Partial<ScalerDeps> = {}): ScalerDeps {
  return {
    clock,
    log: pino({ level: 'silent' }),
    reads: new SharedReads(clock),
    connections: new ConnectionPool({ clock }),
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
