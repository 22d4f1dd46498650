import { describe, expect, it } from 'vitest';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { parseQuantity } from './resource.js';
import { contextFor, testDeps } from './testing.js';

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['1.5', 1.5],
    ['128Mi', 128 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1k', 1000],
    ['1e3', 1000],
    ['100M', 1e8],
  ])('%s → %d', (raw, value) => expect(parseQuantity(raw)).toBeCloseTo(value, 9));
  it.each(['', 'abc', '5x', '1Mb', '--1'])('rejects %j', (raw) => expect(() => parseQuantity(raw)).toThrow());
});

describe('cpu and memory triggers', () => {
  it.each([
    [
      { type: 'cpu', metricType: 'Utilization' as const, metadata: { value: '60' } },
      { resource: 'cpu', targetType: 'Utilization', target: 60 },
    ],
    [
      { type: 'cpu', metadata: { type: 'Utilization', value: '75' } },
      { resource: 'cpu', targetType: 'Utilization', target: 75 },
    ],
    [
      { type: 'cpu', metricType: 'AverageValue' as const, metadata: { value: '500m' } },
      { resource: 'cpu', targetType: 'AverageValue', target: 0.5 },
    ],
    [
      { type: 'memory', metricType: 'AverageValue' as const, metadata: { value: '512Mi', containerName: 'app' } },
      { resource: 'memory', targetType: 'AverageValue', target: 512 * 2 ** 20, containerName: 'app' },
    ],
  ])('%j becomes a Resource metric', (trigger, spec) => {
    const scaler = createScaler(contextFor(trigger), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'Resource', ...spec }]);
  });

  it('reads nothing itself', async () => {
    const scaler = createScaler(contextFor({ type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } }), testDeps());
    await expect(scaler.read('cpu')).rejects.toThrow('metrics-server');
  });

  it.each([
    [{ type: 'cpu', metadata: { value: '60' } }, 'error parsing cpu metadata: no type given in neither trigger.metadata.type or trigger.metricType'],
    [
      { type: 'cpu', metricType: 'Utilization' as const, metadata: { type: 'Utilization', value: '60' } },
      'error parsing cpu metadata: only one of trigger.metadata.type or trigger.metricType should be defined',
    ],
    [
      { type: 'memory', metricType: 'Value' as const, metadata: { value: '60' } },
      "error parsing memory metadata: unsupported metric type 'Value', allowed values are 'Utilization' or 'AverageValue'",
    ],
    [
      { type: 'cpu', metricType: 'Utilization' as const, metadata: { value: '60.5' } },
      'error parsing cpu metadata: unable to parse "value" "60.5": not an integer',
    ],
    [{ type: 'cpu', metricType: 'Utilization' as const, metadata: {} }, 'error parsing cpu metadata: missing required parameter "value" in [triggerMetadata]'],
    [
      { type: 'cpu', metricType: 'Utilization' as const, useCachedMetrics: true, metadata: { value: '60' } },
      'property "useCachedMetrics" is not supported for "cpu" scaler',
    ],
  ])('rejects %j', (trigger, problem) => {
    expect(validateTriggerMetadata(trigger)).toEqual([problem]);
  });
});
