import { describe, expect, it } from 'vitest';
import type { MetricSpec } from '../../scalers/scaler.js';
import type { Fallback } from '../apis/keda/v1alpha1/scaledobject.js';
import {
  applyFallback,
  fallbackCondition,
  fallbackMetricValue,
  fallbackReplicas,
  fallbackTransitionEvent,
  isFallbackEnabled,
  type FallbackInput,
  type MetricHealth,
} from './fallback.js';

const metric: MetricSpec = { kind: 'External', metricName: 's0-redis-jobs', targetType: 'AverageValue', target: 10 };
const fallback: Fallback = { failureThreshold: 2, replicas: 6 };
const failing = (n: number): MetricHealth => ({ numberOfFailures: n, status: 'Failing' });

function run(overrides: Partial<FallbackInput>) {
  return applyFallback({ spec: { fallback }, metric, previous: undefined, outcome: { error: 'connection refused' }, currentReplicas: 3, ...overrides });
}

describe('applyFallback', () => {
  it.each<[string, Partial<FallbackInput>, ReturnType<typeof applyFallback>]>([
    [
      'a success resets health',
      { previous: failing(5), outcome: { value: 4 } },
      { outcome: { value: 4 }, fallbackApplied: false, health: { numberOfFailures: 0, status: 'Happy' } },
    ],
    ['the first failure is passed through', {}, { outcome: { error: 'connection refused' }, fallbackApplied: false, health: failing(1) }],
    [
      'failures up to the threshold pass through',
      { previous: failing(1) },
      { outcome: { error: 'connection refused' }, fallbackApplied: false, health: failing(2) },
    ],
    ['past the threshold a static value is served', { previous: failing(2) }, { outcome: { value: 60 }, fallbackApplied: true, health: failing(3) }],
    [
      'currentReplicas behavior',
      { previous: failing(2), spec: { fallback: { ...fallback, behavior: 'currentReplicas' } } },
      { outcome: { value: 30 }, fallbackApplied: true, health: failing(3) },
    ],
    [
      'Value targets divide by ready replicas',
      { previous: failing(2), metric: { ...metric, targetType: 'Value' }, readyReplicas: 4 },
      { outcome: { value: 15 }, fallbackApplied: true, health: failing(3) },
    ],
    [
      'Value targets without ready replicas stay an error',
      { previous: failing(2), metric: { ...metric, targetType: 'Value' }, readyReplicas: 0 },
      { outcome: { error: expect.stringMatching(/ready replica/) as string }, fallbackApplied: false, health: failing(3) },
    ],
    [
      'with scalingModifiers the composite target scales the value',
      { previous: failing(2), spec: { fallback, advanced: { scalingModifiers: { formula: 'a', target: '4' } } } },
      { outcome: { value: 24 }, fallbackApplied: true, health: failing(3) },
    ],
    [
      'with scalingModifiers of type Value the composite type applies',
      { previous: failing(2), spec: { fallback, advanced: { scalingModifiers: { formula: 'a', target: '4', metricType: 'Value' } } }, readyReplicas: 3 },
      { outcome: { value: 8 }, fallbackApplied: true, health: failing(3) },
    ],
    [
      'no fallback: errors pass through and no health is kept',
      { spec: {}, previous: failing(9) },
      { outcome: { error: 'connection refused' }, fallbackApplied: false },
    ],
    [
      'Utilization metrics are not covered',
      { previous: failing(9), metric: { kind: 'Resource', resource: 'cpu', targetType: 'Utilization', target: 50 } },
      { outcome: { error: 'connection refused' }, fallbackApplied: false },
    ],
  ])('%s', (_name, overrides, expected) => {
    expect(run(overrides)).toEqual(expected);
  });

  it('makes the HPA settle on the fallback count (AverageValue: ceil(value/target) = replicas)', () => {
    for (const replicas of [1, 2, 7, 40]) {
      const result = run({ previous: failing(2), spec: { fallback: { failureThreshold: 2, replicas } } });
      if (!('value' in result.outcome)) throw new Error('expected a value');
      expect(Math.ceil(result.outcome.value / metric.target)).toBe(replicas);
    }
  });
});

describe('fallbackReplicas', () => {
  it.each<[Fallback['behavior'], number, number]>([
    ['static', 3, 6],
    [undefined, 3, 6],
    ['currentReplicas', 3, 3],
    ['currentReplicasIfHigher', 3, 6],
    ['currentReplicasIfHigher', 9, 9],
    ['currentReplicasIfLower', 3, 3],
    ['currentReplicasIfLower', 9, 6],
    ['scalingModifiers', 3, 6],
  ])('%s with %i current replicas → %i', (behavior, current, expected) => {
    expect(fallbackReplicas({ ...fallback, ...(behavior ? { behavior } : {}) }, current)).toBe(expected);
  });
});

describe('isFallbackEnabled', () => {
  it.each<[string, FallbackInput['spec'], boolean]>([
    ['plain fallback', { fallback }, true],
    ['no fallback', {}, false],
    ['modifiers with an integer target', { fallback, advanced: { scalingModifiers: { formula: 'a', target: '5' } } }, true],
    ['modifiers with a fractional target (KEDA quirk)', { fallback, advanced: { scalingModifiers: { formula: 'a', target: '2.5' } } }, false],
  ])('%s → %s', (_n, spec, expected) => {
    expect(isFallbackEnabled(spec, metric)).toBe(expected);
  });
});

describe('fallback condition and events', () => {
  it.each<[Record<string, MetricHealth>, string]>([
    [{}, 'False'],
    [{ a: { numberOfFailures: 0, status: 'Happy' } }, 'False'],
    [{ a: failing(2) }, 'False'],
    [{ a: { numberOfFailures: 0, status: 'Happy' }, b: failing(3) }, 'True'],
  ])('%j → Fallback=%s', (health, status) => {
    expect(fallbackCondition(health, 2).status).toBe(status);
  });

  it.each<[string | undefined, string, string | undefined]>([
    ['False', 'True', 'ScaledObjectFallbackActivated'],
    ['Unknown', 'True', 'ScaledObjectFallbackActivated'],
    ['True', 'False', 'ScaledObjectFallbackDeactivated'],
    ['True', 'True', undefined],
    ['Unknown', 'False', undefined],
  ])('%s → %s emits %s', (previous, next, reason) => {
    expect(fallbackTransitionEvent(previous, { type: 'Fallback', status: next as 'True', reason: '', message: '' })?.reason).toBe(reason);
  });

  it('values an AverageValue fallback as target × replicas', () => {
    expect(fallbackMetricValue({ targetType: 'AverageValue', target: 2.5, replicas: 4 })).toEqual({ value: 10 });
  });
});
