import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { Leadership, type LeadershipOptions } from './leadership.js';
import { MemoryLeaseStore } from './memory-lease-store.js';

const log = createLogger({ level: 'silent' });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** A part of the process: records its terms and holds each until its signal aborts. */
function part(leadership: Leadership, name: string, events: string[]) {
  const stop = new AbortController();
  const done = leadership.run(async (term) => {
    events.push(`${name} leads`);
    await new Promise<void>((resolve) => term.addEventListener('abort', () => resolve(), { once: true }));
    events.push(`${name} stops`);
  }, stop.signal);
  cleanups.push(() => (stop.abort(), done));
  return { stop: () => (stop.abort(), done) };
}

function replica(identity: string, store: MemoryLeaseStore | undefined, clock: FakeClock, overrides: Partial<LeadershipOptions> = {}) {
  return new Leadership({ ...(store ? { store } : {}), identity, log, clock, random: () => 0, ...overrides });
}

describe('Leadership', () => {
  it('without a Lease leads at once; each part stops on its own signal while the others go on', async () => {
    const clock = new FakeClock();
    const leadership = replica('solo', undefined, clock);
    const events: string[] = [];
    const objects = part(leadership, 'objects', events);
    part(leadership, 'jobs', events);
    await flushMicrotasks();
    expect(leadership.isLeader).toBe(true);
    expect(events).toEqual(['objects leads', 'jobs leads']);
    await objects.stop();
    expect(events).toEqual(['objects leads', 'jobs leads', 'objects stops']);
    expect(leadership.isLeader).toBe(true);
  });

  it('campaigns on one Lease for every part: one write a retry period however many parts lead', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const leadership = replica('a', store, clock);
    const events: string[] = [];
    for (const name of ['objects', 'jobs', 'burst']) part(leadership, name, events);
    await flushMicrotasks();
    expect(events.sort()).toEqual(['burst leads', 'jobs leads', 'objects leads']);
    const before = { ...store.calls };
    await clock.advance(20_000);
    expect(store.calls.update - before.update).toBe(10);
    expect(store.calls.get - before.get).toBe(0);
    expect(store.lease?.record.holderIdentity).toBe('a');
  });

  it('lets one process lead all parts; the other takes all of them over once the leader has stopped every part', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const first = replica('first', store, clock);
    const second = replica('second', store, clock);
    const firstEvents: string[] = [];
    const secondEvents: string[] = [];
    const firstParts = ['objects', 'jobs'].map((name) => part(first, name, firstEvents));
    await flushMicrotasks();
    for (const name of ['objects', 'jobs']) part(second, name, secondEvents);
    await clock.advance(30_000);
    expect(firstEvents).toEqual(['objects leads', 'jobs leads']);
    expect(secondEvents).toEqual([]);

    await firstParts[0]!.stop();
    // One part still runs: the Lease is kept, and nobody else leads anything.
    await clock.advance(10_000);
    expect(store.lease?.record.holderIdentity).toBe('first');
    expect(secondEvents).toEqual([]);

    await firstParts[1]!.stop();
    expect(store.lease?.record.holderIdentity).toBe('');
    expect(firstEvents).toEqual(['objects leads', 'jobs leads', 'objects stops', 'jobs stops']);
    await clock.advance(3_000);
    expect(second.isLeader).toBe(true);
    expect(secondEvents.sort()).toEqual(['jobs leads', 'objects leads']);
  });

  it('starts a part that joins mid-term at once, in the current term', async () => {
    const clock = new FakeClock();
    const leadership = replica('a', new MemoryLeaseStore(), clock);
    const events: string[] = [];
    part(leadership, 'objects', events);
    await clock.advance(5_000);
    part(leadership, 'burst', events);
    await flushMicrotasks();
    expect(events).toEqual(['objects leads', 'burst leads']);
  });

  it('on a lost Lease stops every part, then campaigns again and restarts them all', async () => {
    const clock = new FakeClock();
    const store = new MemoryLeaseStore();
    const leadership = replica('a', store, clock);
    const events: string[] = [];
    part(leadership, 'objects', events);
    part(leadership, 'jobs', events);
    await flushMicrotasks();
    store.failing = true;
    await clock.advance(12_000);
    expect(leadership.isLeader).toBe(false);
    expect(events).toEqual(['objects leads', 'jobs leads', 'objects stops', 'jobs stops']);
    store.failing = false;
    // The record still names this process: it takes it back at its next attempt once the store answers.
    await clock.advance(20_000);
    expect(leadership.isLeader).toBe(true);
    expect(events.slice(4)).toEqual(['objects leads', 'jobs leads']);
  });

  it('keeps leading the other parts when one part fails', async () => {
    const clock = new FakeClock();
    const leadership = replica('a', new MemoryLeaseStore(), clock);
    const events: string[] = [];
    const stop = new AbortController();
    const failed = leadership.run(() => Promise.reject(new Error('boom')), stop.signal);
    part(leadership, 'objects', events);
    await clock.advance(5_000);
    expect(events).toEqual(['objects leads']);
    expect(leadership.isLeader).toBe(true);
    stop.abort();
    await failed;
  });
});
