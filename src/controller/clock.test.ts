import { describe, expect, it } from 'vitest';
import { createSystemClock } from './clock.js';

/** Timers that keep the process alive (Node lists unreferenced ones no more). */
const referencedTimers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

describe('the system clock', () => {
  it('keeps the process alive for an ordinary timer, not for one asked to be unreferenced', () => {
    const clock = createSystemClock();
    const before = referencedTimers();
    const kept = clock.setTimeout(() => {}, 60_000);
    expect(referencedTimers()).toBe(before + 1);
    const background = clock.setTimeout(() => {}, 60_000, { unref: true });
    expect(referencedTimers()).toBe(before + 1);
    kept.cancel();
    background.cancel();
    expect(referencedTimers()).toBe(before);
  });

  it('fires a timer after its delay, and never once cancelled', async () => {
    const clock = createSystemClock();
    const fired: string[] = [];
    // The cancelled timer is due first: had it not been cancelled, it would have fired before the kept one.
    clock.setTimeout(() => fired.push('cancelled'), 1).cancel();
    await new Promise<void>((resolve) => clock.setTimeout(() => resolve(void fired.push('kept')), 5));
    expect(fired).toEqual(['kept']);
  });
});
