import { describe, expect, it } from 'vitest';
import {
  combineTriggerQueues,
  decideScaledJob,
  effectiveStrategy,
  jobsToCreate,
  scaledJobMaxReplicaCount,
  targetAverageValue,
  type JobCountInput,
  type TriggerQueue,
} from './scaledjob.js';

const q = (queueLength: number, target = 1, active = true): TriggerQueue => ({ queueLength, targetAverageValue: target, active });

describe('scaledJobMaxReplicaCount', () => {
  it.each<[number | undefined, number | undefined, number]>([
    [undefined, undefined, 100],
    [undefined, 10, 10],
    [2, undefined, 100],
    [2, 10, 8],
    [12, 10, 10],
  ])('min %s max %s → %i', (min, max, expected) => {
    expect(scaledJobMaxReplicaCount({ ...(min !== undefined ? { minReplicaCount: min } : {}), ...(max !== undefined ? { maxReplicaCount: max } : {}) })).toBe(
      expected,
    );
  });
});

describe('combineTriggerQueues', () => {
  const triggers = [q(10, 2), q(4, 1), q(30, 10, false)];
  it.each<[string, Parameters<typeof combineTriggerQueues>[1], ReturnType<typeof combineTriggerQueues>]>([
    ['max picks the longest active queue', { calculation: 'max', maxReplicaCount: 100 }, { isActive: true, scaleTo: 10, maxScale: 5 }],
    ['max is the default', { maxReplicaCount: 100 }, { isActive: true, scaleTo: 10, maxScale: 5 }],
    ['min picks the shortest active queue', { calculation: 'min', maxReplicaCount: 100 }, { isActive: true, scaleTo: 4, maxScale: 4 }],
    ['avg averages active triggers', { calculation: 'avg', maxReplicaCount: 100 }, { isActive: true, scaleTo: 7, maxScale: 5 }],
    ['sum adds active triggers', { calculation: 'sum', maxReplicaCount: 100 }, { isActive: true, scaleTo: 14, maxScale: 9 }],
    ['maxScale is capped by MaxReplicaCount', { calculation: 'sum', maxReplicaCount: 3 }, { isActive: true, scaleTo: 14, maxScale: 3 }],
  ])('%s', (_n, options, expected) => {
    expect(combineTriggerQueues(triggers, options)).toEqual(expected);
  });

  it.each<[string, TriggerQueue[], Parameters<typeof combineTriggerQueues>[1], boolean]>([
    ['no active trigger', [q(5, 1, false)], { maxReplicaCount: 10 }, false],
    ['min replicas make it active', [q(5, 1, false)], { maxReplicaCount: 10, minReplicaCount: 1 }, true],
    ['an active trigger with an empty queue does not win max', [q(0, 1, true)], { maxReplicaCount: 10 }, false],
    ['an active empty queue counts for sum', [q(0, 1, true)], { calculation: 'sum', maxReplicaCount: 10 }, true],
  ])('activity: %s', (_n, triggers2, options, expected) => {
    expect(combineTriggerQueues(triggers2, options).isActive).toBe(expected);
  });

  it('treats a zero target as no demand', () => {
    expect(combineTriggerQueues([q(9, 0)], { maxReplicaCount: 10 })).toEqual({ isActive: true, scaleTo: 9, maxScale: 0 });
  });

  it('averages targets, counting missing ones as 0', () => {
    expect(targetAverageValue([4, undefined, 2])).toBe(2);
    expect(targetAverageValue([])).toBe(0);
  });
});

describe('jobsToCreate', () => {
  const input = (overrides: Partial<JobCountInput> & { strategy?: JobCountInput['spec'] }): JobCountInput => ({
    spec: overrides.strategy ?? {},
    combined: { isActive: true, scaleTo: 10, maxScale: 10 },
    runningJobs: 0,
    pendingJobs: 0,
    ...overrides,
  });
  it.each<[string, JobCountInput, number]>([
    ['default: queue minus running', input({ runningJobs: 3 }), 7],
    ['default: nothing when enough run', input({ runningJobs: 12 }), 0],
    ['inactive creates nothing', input({ combined: { isActive: false, scaleTo: 10, maxScale: 10 } }), 0],
    ['tops up to minReplicaCount first', input({ strategy: { minReplicaCount: 3 }, runningJobs: 1 }), 2],
    ['min jobs do not count against the queue', input({ strategy: { minReplicaCount: 2, maxReplicaCount: 20 }, runningJobs: 5 }), 7],
    [
      'custom deducts queue and a share of running jobs',
      input({
        strategy: { scalingStrategy: { strategy: 'custom', customScalingQueueLengthDeduction: 1, customScalingRunningJobPercentage: '0.5' } },
        runningJobs: 4,
      }),
      7,
    ],
    [
      'custom with an unparsable percentage falls back to default',
      input({ strategy: { scalingStrategy: { strategy: 'custom', customScalingRunningJobPercentage: 'half' } }, runningJobs: 4 }),
      6,
    ],
    ['accurate subtracts pending jobs', input({ strategy: { scalingStrategy: { strategy: 'accurate' } }, runningJobs: 4, pendingJobs: 3 }), 7],
    [
      'accurate caps at max replicas',
      input({ strategy: { maxReplicaCount: 12, scalingStrategy: { strategy: 'accurate' } }, runningJobs: 4, pendingJobs: 3 }),
      8,
    ],
    [
      'eager fills up to max replicas',
      input({
        strategy: { maxReplicaCount: 20, scalingStrategy: { strategy: 'eager' } },
        combined: { isActive: true, scaleTo: 3, maxScale: 10 },
        runningJobs: 4,
        pendingJobs: 2,
      }),
      10,
    ],
    [
      'eager never exceeds free capacity',
      input({
        strategy: { maxReplicaCount: 8, scalingStrategy: { strategy: 'eager' } },
        combined: { isActive: true, scaleTo: 3, maxScale: 10 },
        runningJobs: 4,
        pendingJobs: 2,
      }),
      2,
    ],
  ])('%s', (_n, args, expected) => {
    expect(jobsToCreate(args)).toBe(expected);
  });

  it('never returns a negative count or more than MaxReplicaCount', () => {
    for (const strategy of ['default', 'accurate', 'eager'] as const) {
      for (let running = 0; running < 30; running += 3) {
        for (let pending = 0; pending <= running; pending += 2) {
          const n = jobsToCreate({
            spec: { maxReplicaCount: 15, scalingStrategy: { strategy } },
            combined: { isActive: true, scaleTo: 25, maxScale: 15 },
            runningJobs: running,
            pendingJobs: pending,
          });
          expect(n).toBeGreaterThanOrEqual(0);
          expect(n).toBeLessThanOrEqual(15);
        }
      }
    }
  });

  it('selects the strategy', () => {
    expect(effectiveStrategy({})).toBe('default');
    expect(effectiveStrategy({ scalingStrategy: { strategy: 'custom', customScalingRunningJobPercentage: '1' } })).toBe('custom');
  });
});

describe('decideScaledJob', () => {
  it('creates jobs, refreshes lastActiveTime and emits events on activation', () => {
    const decision = decideScaledJob({
      spec: {},
      combined: { isActive: true, scaleTo: 2, maxScale: 2 },
      runningJobs: 0,
      pendingJobs: 0,
      isError: false,
      previousActiveStatus: 'False',
      now: 5,
    });
    expect(decision).toEqual({
      jobsToCreate: 2,
      lastActiveTime: 5,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'ScaledJobReady', message: 'ScaledJob is defined correctly and is ready for scaling' },
        { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active' },
      ],
      events: [
        { type: 'Normal', reason: 'ScaledJobActive', message: 'Scaling is performed because triggers are active' },
        { type: 'Normal', reason: 'KEDAJobsCreated', message: 'Created 2 jobs' },
      ],
    });
  });

  it('reports trigger errors without emitting a repeat activity event', () => {
    const decision = decideScaledJob({
      spec: {},
      combined: { isActive: false, scaleTo: 0, maxScale: 0 },
      runningJobs: 0,
      pendingJobs: 0,
      isError: true,
      previousActiveStatus: 'False',
      lastActiveTime: 1,
      now: 5,
    });
    expect(decision.jobsToCreate).toBe(0);
    expect(decision.lastActiveTime).toBe(1);
    expect(decision.conditions[0]?.reason).toBe('TriggerError');
    expect(decision.events).toEqual([]);
  });
});
