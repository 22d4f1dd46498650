import { describe, expect, it } from 'vitest';
import { combineTriggerQueues, jobsToCreate } from '../../scaling/scaledjob.js';
import { triggerQueues, type MetricRead } from './readings.js';
import { scaledJobStatusPatch } from './status.js';

const read = (triggerIndex: number, value: number | undefined, extra: Partial<MetricRead> = {}): MetricRead => ({
  triggerIndex,
  metricName: `s${triggerIndex}-m`,
  targetType: 'AverageValue',
  target: 1,
  ...(value !== undefined ? { value } : {}),
  active: (value ?? 0) > 0,
  ...extra,
});

describe('triggerQueues', () => {
  it.each([
    { what: 'one trigger', reads: [read(0, 20)], queues: [{ queueLength: 20, targetAverageValue: 1, active: true }], isError: false },
    {
      what: 'two metrics of one trigger sum, targets average',
      reads: [read(0, 3, { target: 2 }), read(0, 4, { target: 4, metricName: 's0-other' })],
      queues: [{ queueLength: 7, targetAverageValue: 3, active: true }],
      isError: false,
    },
    {
      what: 'a Value target counts as 0',
      reads: [read(0, 5, { targetType: 'Value', target: 5 })],
      queues: [{ queueLength: 5, targetAverageValue: 0, active: true }],
      isError: false,
    },
    { what: 'an empty queue is inactive', reads: [read(0, 0)], queues: [{ queueLength: 0, targetAverageValue: 1, active: false }], isError: false },
    {
      what: 'a failed trigger is skipped and flagged',
      reads: [read(1, 4), read(0, undefined, { error: 'connection refused' })],
      queues: [{ queueLength: 4, targetAverageValue: 1, active: true }],
      isError: true,
    },
  ])('$what', ({ reads, queues, isError }) => {
    expect(triggerQueues(reads)).toEqual({ queues, isError });
  });

  it('feeds the strategy arithmetic: 20 messages at one per Job with 5 running asks for 15 more (default strategy)', () => {
    const { queues } = triggerQueues([read(0, 20)]);
    const combined = combineTriggerQueues(queues, { maxReplicaCount: 100 });
    expect(jobsToCreate({ spec: {}, combined, runningJobs: 5, pendingJobs: 0 })).toBe(15);
  });
});

describe('scaledJobStatusPatch', () => {
  it.each([
    { what: 'nothing changes', observed: { triggersTypes: 'redis' }, changes: { triggersTypes: 'redis' }, patch: undefined },
    { what: 'a changed field', observed: { triggersTypes: 'redis' }, changes: { triggersTypes: 'redis,cron' }, patch: { triggersTypes: 'redis,cron' } },
    { what: 'null removes a present field', observed: { Paused: 'true' }, changes: { Paused: null }, patch: { Paused: null } },
    { what: 'null on an absent field is no change', observed: {}, changes: { Paused: null }, patch: undefined },
    {
      what: 'triggersActivity keys that went away are nulled',
      observed: { triggersActivity: { 's0-a': { isActive: true }, 's1-b': { isActive: false } } },
      changes: { triggersActivity: { 's0-a': { isActive: false } } },
      patch: { triggersActivity: { 's0-a': { isActive: false }, 's1-b': null } },
    },
  ])('$what', ({ observed, changes, patch }) => {
    expect(scaledJobStatusPatch(observed, changes)).toEqual(patch);
  });
});
