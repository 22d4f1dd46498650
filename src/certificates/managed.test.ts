import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../controller/clock.js';
import { FakeClock } from '../controller/fake-clock.js';
import { assessServingBundle, generateServingBundle, type ServingBundle, type ServingIdentity } from './bundle.js';
import { ManagedServingCertificate, type BundleStore } from './managed.js';
import { memoryBundleStore } from './memory-store.js';

const silent = pino({ level: 'silent' });
const day = 86_400_000;
const issuedAt = new Date('2030-01-01T00:00:00Z');
const identity: ServingIdentity = { serviceName: 'swell-metrics', namespace: 'swell-system' };

let bundle: ServingBundle;
beforeAll(async () => {
  bundle = await generateServingBundle(identity, issuedAt);
});

/** The in-memory store, counting the writes that land and able to let another replica write first, once. */
function memoryStore(initial?: ServingBundle) {
  const inner = memoryBundleStore(initial);
  let writes = 0;
  let interfere: (() => Promise<void>) | undefined;
  const counted = async (write: () => Promise<boolean>) => {
    const other = interfere;
    interfere = undefined;
    await other?.();
    const landed = await write();
    if (landed) writes += 1;
    return landed;
  };
  const store: BundleStore = {
    read: () => inner.read(),
    create: (b) => counted(() => inner.create(b)),
    replace: (b, version) => counted(() => inner.replace(b, version)),
  };
  return {
    store,
    writes: () => writes,
    current: async () => (await inner.read())?.bundle,
    raceOnce(other: ServingBundle) {
      interfere = async () => {
        const stored = await inner.read();
        await (stored ? inner.replace(other, stored.version) : inner.create(other));
      };
    },
  };
}

describe('memoryBundleStore', () => {
  it('creates only once and replaces only from the version read', async () => {
    const store = memoryBundleStore();
    expect(await store.read()).toBeUndefined();
    expect(await store.create(bundle)).toBe(true);
    expect(await store.create(bundle)).toBe(false);
    const read = await store.read();
    expect(read?.bundle).toBe(bundle);
    expect(await store.replace(bundle, read?.version ?? '')).toBe(true);
    expect(await store.replace(bundle, read?.version ?? '')).toBe(false);
  });
});

describe('ManagedServingCertificate', () => {
  function manager(store: BundleStore, clock: Clock = new FakeClock(issuedAt.getTime())) {
    const applied: ServingBundle[] = [];
    const managed = new ManagedServingCertificate({ store, identity, clock, apply: (b) => void applied.push(b), log: silent });
    return { managed, applied };
  }

  it('creates a bundle when none is stored, and reuses it afterwards without rewriting', async () => {
    const memory = memoryStore();
    const { managed, applied } = manager(memory.store);
    const first = await managed.ensure();
    const second = await managed.ensure();
    expect(second).toEqual(first);
    expect(await memory.current()).toEqual(first);
    expect(memory.writes()).toBe(1);
    expect(applied).toHaveLength(1);
  });

  it('reuses a valid stored bundle as is', async () => {
    const memory = memoryStore(bundle);
    const { managed, applied } = manager(memory.store);
    expect(await managed.ensure()).toEqual(bundle);
    expect(memory.writes()).toBe(0);
    expect(applied).toEqual([bundle]);
  });

  it('renews from the same CA when the clock reaches the renewal point, and applies the new bundle', async () => {
    const memory = memoryStore(bundle);
    const clock = new FakeClock(issuedAt.getTime());
    const { managed, applied } = manager(memory.store, clock);
    await managed.ensure();
    await clock.advance(250 * day);
    const now = new Date(clock.now());
    const renewed = await managed.ensure();
    expect(renewed.certificatePem).not.toBe(bundle.certificatePem);
    expect(memory.writes()).toBe(1);
    expect(applied.map((b) => b.certificatePem)).toEqual([bundle.certificatePem, renewed.certificatePem]);
    expect(renewed.caPem).toBe(bundle.caPem);
    expect(assessServingBundle(renewed, identity, now).action).toBe('keep');
  });

  it('syncs (publishes the CA) on every check, and survives a failing sync', async () => {
    const memory = memoryStore(bundle);
    const synced: string[] = [];
    let fail = true;
    const managed = new ManagedServingCertificate({
      store: memory.store,
      identity,
      clock: new FakeClock(issuedAt.getTime()),
      apply: () => {},
      sync: (b) => {
        synced.push(b.caPem);
        if (fail) return Promise.reject(new Error('apiservices is forbidden'));
        return Promise.resolve();
      },
      log: silent,
    });
    await expect(managed.ensure()).resolves.toEqual(bundle);
    fail = false;
    await managed.ensure();
    expect(synced).toEqual([bundle.caPem, bundle.caPem]);
  });

  it('adopts the bundle of a replica that wrote first instead of overwriting it', async () => {
    const memory = memoryStore();
    const theirs = await generateServingBundle(identity, issuedAt);
    memory.raceOnce(theirs);
    const { managed } = manager(memory.store);
    expect(await managed.ensure()).toEqual(theirs);
    expect(memory.writes()).toBe(0);
  });

  it.each([2, 5])('converges %i replicas starting at once on an empty store on one CA, written once', async (replicas) => {
    const memory = memoryStore();
    const managers = Array.from({ length: replicas }, () => manager(memory.store));
    const served = await Promise.all(managers.map(({ managed }) => managed.ensure()));
    const stored = await memory.current();
    expect(memory.writes()).toBe(1);
    for (const [i, b] of served.entries()) {
      expect(b).toEqual(stored);
      expect(managers[i]?.applied).toEqual([stored]);
    }
  });

  it('converges replicas renewing at once on one new certificate from the unchanged CA', async () => {
    const memory = memoryStore(bundle);
    const served = await Promise.all([1, 2, 3].map(() => manager(memory.store, new FakeClock(issuedAt.getTime() + 250 * day)).managed.ensure()));
    const stored = await memory.current();
    expect(memory.writes()).toBe(1);
    expect(stored?.certificatePem).not.toBe(bundle.certificatePem);
    expect(stored?.caPem).toBe(bundle.caPem);
    expect(new Set(served.map((b) => b.certificatePem))).toEqual(new Set([stored?.certificatePem]));
  });

  it('gives up after losing three races in a row, naming the cause', async () => {
    const store: BundleStore = { read: () => Promise.resolve(undefined), create: () => Promise.resolve(false), replace: () => Promise.resolve(false) };
    await expect(manager(store).managed.ensure()).rejects.toThrow(/lost the race to write the store 3 times/);
  });

  it('re-checks the store on its interval of the clock, not before, and stops once stopped', async () => {
    const store = memoryBundleStore(bundle);
    const clock = new FakeClock(issuedAt.getTime());
    const applied: ServingBundle[] = [];
    const managed = new ManagedServingCertificate({ store, identity, clock, apply: (b) => void applied.push(b), log: silent, checkIntervalMs: 60_000 });
    await managed.start();
    // Another replica rotates the stored bundle.
    const theirs = await generateServingBundle(identity, issuedAt);
    await store.replace(theirs, (await store.read())?.version ?? '');
    await clock.advance(59_999);
    expect(applied).toEqual([bundle]);
    await clock.advance(1);
    expect(applied).toEqual([bundle, theirs]);
    managed.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
