import { describe, expect, it } from 'vitest';
import { EventFilter, type EventVerdict } from './event-filter.js';

type Step = [at: number, object: string, message: string, expected: EventVerdict];

const settings = { repeatWindowMs: 60_000, burst: 3, refillEveryMs: 10_000, maxRemembered: 100 };

describe('EventFilter', () => {
  it.each<{ name: string; steps: Step[] }>([
    {
      name: 'the same message on the same object is written once per window',
      steps: [
        [0, 'so-a', 'HPA invalid', 'write'],
        [1_000, 'so-a', 'HPA invalid', 'repeat'],
        [59_999, 'so-a', 'HPA invalid', 'repeat'],
        [60_000, 'so-a', 'HPA invalid', 'write'],
      ],
    },
    {
      name: 'another object, or another message, is not a repeat',
      steps: [
        [0, 'so-a', 'HPA invalid', 'write'],
        [0, 'so-b', 'HPA invalid', 'write'],
        [0, 'so-a', 'source down', 'write'],
      ],
    },
    {
      name: 'a flapping object is cut off after its burst and gets one more per refill period',
      steps: [
        [0, 'so-a', 'm1', 'write'],
        [0, 'so-a', 'm2', 'write'],
        [0, 'so-a', 'm3', 'write'],
        [0, 'so-a', 'm4', 'spam'],
        [9_999, 'so-a', 'm4', 'spam'],
        [10_000, 'so-a', 'm4', 'write'],
        [10_001, 'so-a', 'm5', 'spam'],
        [0, 'so-b', 'm1', 'write'],
      ],
    },
    {
      name: 'a quiet object earns its whole burst back, never more',
      steps: [
        [0, 'so-a', 'm1', 'write'],
        [0, 'so-a', 'm2', 'write'],
        [0, 'so-a', 'm3', 'write'],
        [1_000_000, 'so-a', 'm4', 'write'],
        [1_000_000, 'so-a', 'm5', 'write'],
        [1_000_000, 'so-a', 'm6', 'write'],
        [1_000_000, 'so-a', 'm7', 'spam'],
      ],
    },
    {
      name: 'a dropped message does not restart its window',
      steps: [
        [0, 'so-a', 'm1', 'write'],
        [30_000, 'so-a', 'm1', 'repeat'],
        [60_000, 'so-a', 'm1', 'write'],
      ],
    },
  ])('$name', ({ steps }) => {
    const filter = new EventFilter(settings);
    expect(steps.map(([at, object, message]) => filter.admit(object, message, at))).toEqual(steps.map((s) => s[3]));
  });

  it('forgets the oldest objects beyond its memory bound, so their messages count as new', () => {
    const filter = new EventFilter({ ...settings, maxRemembered: 2 });
    expect(filter.admit('a', 'm', 0)).toBe('write');
    expect(filter.admit('b', 'm', 0)).toBe('write');
    expect(filter.admit('c', 'm', 0)).toBe('write');
    expect(filter.admit('a', 'm', 1)).toBe('write');
    expect(filter.admit('c', 'm', 1)).toBe('repeat');
  });
});
