import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from '../controller/fake-clock.js';
import { createLogger } from '../log.js';
import {
  registrationAction,
  RegistrationKeeper,
  type LocalRegistration,
  type ObservedRegistration,
  type RegistrationAction,
  type RegistrationFacts,
} from './local-registration.js';

const local = (port: number): ObservedRegistration => ({ target: { kind: 'local', port }, resourceVersion: '7' });
const foreign: ObservedRegistration = { target: { kind: 'foreign', description: 'Service swell-system/swell-metrics-apiserver' } };

describe('registrationAction', () => {
  it.each<{ name: string; facts: Omit<RegistrationFacts, 'ownPort' | 'deadAfter'>; expected: RegistrationAction }>([
    { name: 'nothing registered: claim', facts: { observed: undefined, failedProbes: 0, starting: false }, expected: 'claim' },
    { name: 'registered to this replica: keep', facts: { observed: local(1000), failedProbes: 0, starting: true }, expected: 'keep' },
    { name: 'another replica, not probed yet: probe', facts: { observed: local(2000), failedProbes: 0, starting: true }, expected: 'probe' },
    { name: 'another replica, one failed probe: probe again', facts: { observed: local(2000), failedProbes: 1, starting: false }, expected: 'probe' },
    { name: 'another replica, dead: take over', facts: { observed: local(2000), failedProbes: 2, starting: false }, expected: 'claim' },
    {
      name: 'foreign registration at start: replace it, as a local run always did',
      facts: { observed: foreign, failedProbes: 0, starting: true },
      expected: 'claim',
    },
    { name: 'foreign registration later: leave it to whoever wrote it', facts: { observed: foreign, failedProbes: 0, starting: false }, expected: 'keep' },
  ])('$name', ({ facts, expected }) => {
    expect(registrationAction({ ...facts, ownPort: 1000, deadAfter: 2 })).toBe(expected);
  });
});

/** A registration held in memory, pointing at a port; `claim` fails with 409 when it changed since read. */
class MemoryRegistration implements LocalRegistration {
  readonly description = 'test registration';
  current: ObservedRegistration | undefined;
  claims = 0;
  constructor(private readonly ownPort: number) {}
  read(): Promise<ObservedRegistration | undefined> {
    return Promise.resolve(this.current);
  }
  claim(observed: ObservedRegistration | undefined): Promise<void> {
    if (observed?.resourceVersion !== this.current?.resourceVersion) return Promise.reject(Object.assign(new Error('conflict'), { code: 409 }));
    this.claims++;
    this.current = { target: { kind: 'local', port: this.ownPort }, resourceVersion: String(Number(this.current?.resourceVersion ?? 0) + 1) };
    return Promise.resolve();
  }
  release(): Promise<void> {
    if (this.current?.target.kind === 'local' && this.current.target.port === this.ownPort) this.current = undefined;
    return Promise.resolve();
  }
}

describe('RegistrationKeeper', () => {
  const log = createLogger({ level: 'silent' });

  it('leaves a live replica registered, takes over after two failed probes, and on stop removes only its own', async () => {
    const clock = new FakeClock(0);
    const registration = new MemoryRegistration(1000);
    registration.current = local(2000);
    let otherAlive = true;
    const keeper = new RegistrationKeeper({ registration, ownPort: 1000, clock, log, probe: () => Promise.resolve(otherAlive), intervalMs: 1_000 });
    await keeper.start();
    await clock.advance(3_000);
    expect(registration.current).toEqual(local(2000));
    otherAlive = false;
    await clock.advance(1_000);
    expect(registration.current).toEqual(local(2000));
    await clock.advance(1_000);
    await flushMicrotasks();
    expect(registration.current?.target).toEqual({ kind: 'local', port: 1000 });
    await keeper.stop();
    expect(registration.current).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
  });

  it('registers at once when there is none, and re-registers when it is deleted', async () => {
    const clock = new FakeClock(0);
    const registration = new MemoryRegistration(1000);
    const keeper = new RegistrationKeeper({ registration, ownPort: 1000, clock, log, probe: () => Promise.resolve(true), intervalMs: 1_000 });
    await keeper.start();
    expect(registration.current?.target).toEqual({ kind: 'local', port: 1000 });
    registration.current = undefined;
    await clock.advance(1_000);
    await flushMicrotasks();
    expect(registration.claims).toBe(2);
    await keeper.pause();
    expect(await registration.read()).toMatchObject({ target: { kind: 'local', port: 1000 } });
  });

  it('a stopping replica does not delete a registration that points at another', async () => {
    const clock = new FakeClock(0);
    const registration = new MemoryRegistration(1000);
    registration.current = local(2000);
    const keeper = new RegistrationKeeper({ registration, ownPort: 1000, clock, log, probe: () => Promise.resolve(true), intervalMs: 1_000 });
    await keeper.start();
    await keeper.stop();
    expect(registration.current).toEqual(local(2000));
  });
});

describe('RegistrationKeeper at start', () => {
  it('takes over a registration left by a replica that is gone before start returns', async () => {
    const clock = new FakeClock(0);
    const registration = new MemoryRegistration(1000);
    registration.current = local(2000);
    const keeper = new RegistrationKeeper({
      registration,
      ownPort: 1000,
      clock,
      log: createLogger({ level: 'silent' }),
      probe: () => Promise.resolve(false),
      intervalMs: 1_000,
    });
    const started = keeper.start();
    await clock.advance(250);
    await started;
    expect(registration.current?.target).toEqual({ kind: 'local', port: 1000 });
    expect(clock.now()).toBe(250);
    await keeper.pause();
  });
});
