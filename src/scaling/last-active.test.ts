import { describe, expect, it } from 'vitest';
import { effectiveLastActive, lastActiveStepMs, lastActiveToStore } from './last-active.js';

describe('lastActiveStepMs', () => {
  it.each([
    [300, 30_000],
    [3600, 30_000],
    [60, 6_000],
    [5, 500],
    [0, 0],
  ])('cooldown %i s → step %i ms', (cooldown, step) => expect(lastActiveStepMs(cooldown)).toBe(step));
});

describe('effectiveLastActive', () => {
  const now = 1_000_000;
  it.each([
    { name: 'nothing stored', stored: undefined, storedActive: true, want: undefined },
    { name: 'stored while inactive is exact', stored: now - 100_000, storedActive: false, want: now - 100_000 },
    { name: 'stored while active may trail by a step', stored: now - 100_000, storedActive: true, want: now - 70_000 },
    { name: 'never later than now', stored: now - 10_000, storedActive: true, want: now },
    { name: 'a stored time in the future stays', stored: now + 5_000, storedActive: true, want: now + 5_000 },
  ])('$name', ({ stored, storedActive, want }) => {
    expect(effectiveLastActive({ ...(stored !== undefined ? { stored } : {}), storedActive, stepMs: 30_000, now })).toBe(want);
  });
});

describe('lastActiveToStore', () => {
  const t = 1_000_000;
  it.each([
    { name: 'first activation writes', stored: undefined, decided: t, storedActive: false, active: true, want: t },
    { name: 'was inactive: writes the new time', stored: t - 5_000, decided: t, storedActive: false, active: true, want: t },
    { name: 'stays active within the step: keeps the stored time', stored: t - 29_000, decided: t, storedActive: true, active: true, want: t - 29_000 },
    { name: 'stays active a step later: writes', stored: t - 30_000, decided: t, storedActive: true, active: true, want: t },
    {
      name: 'turns inactive: writes the decided time even within the step',
      stored: t - 3_000,
      decided: t - 1_000,
      storedActive: true,
      active: false,
      want: t - 1_000,
    },
    { name: 'step 0 writes every poll', stored: t - 1_000, decided: t, storedActive: true, active: true, step: 0, want: t },
    { name: 'no decided time keeps none', stored: t, decided: undefined, storedActive: true, active: true, want: undefined },
  ])('$name', ({ stored, decided, storedActive, active, step, want }) => {
    expect(
      lastActiveToStore({
        ...(stored !== undefined ? { stored } : {}),
        ...(decided !== undefined ? { decided } : {}),
        storedActive,
        active,
        stepMs: step ?? 30_000,
      }),
    ).toBe(want);
  });

  it('over a run of active polls then a drop, cooldown never starts earlier than from the last active poll', () => {
    const stepMs = 30_000;
    let stored: number | undefined;
    let storedActive = false;
    let writes = 0;
    for (let now = 0; now <= 100_000; now += 1_000) {
      const next = lastActiveToStore({ ...(stored !== undefined ? { stored } : {}), decided: now, storedActive, active: true, stepMs });
      if (next !== stored || !storedActive) writes += 1;
      stored = next;
      storedActive = true;
    }
    expect(writes).toBeLessThanOrEqual(5);
    // A new operator that finds this status after the object went quiet at 100 s reads it as at least that late.
    expect(effectiveLastActive({ ...(stored !== undefined ? { stored } : {}), storedActive, stepMs, now: 400_000 })).toBeGreaterThanOrEqual(100_000);
  });
});
