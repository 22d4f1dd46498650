import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from '../controller/fake-clock.js';
import { createLogger } from '../log.js';
import { ApiserverProbe, readiness, type ApiserverContact, type ReadinessState } from './readiness.js';

const synced: ReadinessState = { ok: true };
const unsynced: ReadinessState = { ok: false, reason: '2 scaledobject informer(s) not synced yet' };

describe('readiness', () => {
  it.each<{ name: string; contact: ApiserverContact; parts: ReadinessState[]; now: number; expected: ReadinessState }>([
    { name: 'reached recently, caches synced', contact: { lastReachedAt: 1_000 }, parts: [synced], now: 5_000, expected: { ok: true } },
    { name: 'never reached', contact: {}, parts: [synced], now: 5_000, expected: { ok: false, reason: 'apiserver not reached yet' } },
    {
      name: 'never reached, with the error',
      contact: { lastError: 'connect ECONNREFUSED 127.0.0.1:6443' },
      parts: [synced],
      now: 0,
      expected: { ok: false, reason: 'apiserver not reached yet: connect ECONNREFUSED 127.0.0.1:6443' },
    },
    {
      name: 'reached, then silent past the limit',
      contact: { lastReachedAt: 1_000, lastError: 'no answer within 2000 ms' },
      parts: [synced],
      now: 12_001,
      expected: { ok: false, reason: 'apiserver unreachable for 11 s: no answer within 2000 ms' },
    },
    {
      name: 'a failed probe within the limit is tolerated',
      contact: { lastReachedAt: 1_000, lastError: 'reset' },
      parts: [synced],
      now: 11_000,
      expected: { ok: true },
    },
    {
      name: 'reached but caches not synced',
      contact: { lastReachedAt: 1_000 },
      parts: [synced, unsynced],
      now: 2_000,
      expected: { ok: false, reason: unsynced.reason },
    },
    { name: 'both wrong: both said', contact: {}, parts: [unsynced], now: 0, expected: { ok: false, reason: `apiserver not reached yet; ${unsynced.reason}` } },
  ])('$name', ({ contact, parts, now, expected }) => {
    expect(readiness(contact, parts, now, 10_000)).toEqual(expected);
  });
});

describe('ApiserverProbe', () => {
  it('records when the apiserver answered and why it did not, and stops probing when stopped', async () => {
    const clock = new FakeClock(0);
    let up = true;
    let calls = 0;
    const probe = new ApiserverProbe({
      probe: () => {
        calls++;
        return up ? Promise.resolve() : Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
      },
      clock,
      log: createLogger({ level: 'silent' }),
      intervalMs: 1_000,
      timeoutMs: 500,
    });
    probe.start();
    await flushMicrotasks();
    expect(probe.contact).toEqual({ lastReachedAt: 0 });
    up = false;
    await clock.advance(1_000);
    expect(probe.contact).toEqual({ lastReachedAt: 0, lastError: 'connect ECONNREFUSED 127.0.0.1:6443' });
    expect(readiness(probe.contact, [], clock.now() + probe.staleAfterMs, probe.staleAfterMs).ok).toBe(false);
    up = true;
    await clock.advance(1_000);
    expect(probe.contact).toEqual({ lastReachedAt: 2_000 });
    probe.stop();
    const before = calls;
    await clock.advance(5_000);
    expect(calls).toBe(before);
    expect(clock.pendingTimers).toBe(0);
  });

  it('counts a probe that hangs past its timeout as a failure', async () => {
    const clock = new FakeClock(0);
    const probe = new ApiserverProbe({
      probe: (signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
      clock,
      log: createLogger({ level: 'silent' }),
      intervalMs: 1_000,
      timeoutMs: 500,
    });
    probe.start();
    await clock.advance(500);
    expect(probe.contact).toEqual({ lastError: 'no answer within 500 ms' });
    probe.stop();
  });
});
