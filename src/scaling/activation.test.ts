import { describe, expect, it } from 'vitest';
import { ActivationAnnotation, activationReplicas, type ActivationInput } from './activation.js';

const demand = { [ActivationAnnotation]: 'demand' };
const list = (value: number | undefined, target = 10): ActivationInput['metrics'][number] => ({
  targetType: 'AverageValue',
  target,
  ...(value !== undefined ? { value } : {}),
});

describe('activationReplicas', () => {
  it.each<[string, ActivationInput, { replicas: number; basis: string }]>([
    ['a backlog of 1,000 at 10 per replica asks for 100', { metrics: [list(1_000)] }, { replicas: 100, basis: 'demand' }],
    ['a single item asks for one replica', { metrics: [list(1)] }, { replicas: 1, basis: 'minimum' }],
    ['a value just over a multiple rounds up', { metrics: [list(101)] }, { replicas: 11, basis: 'demand' }],
    ['float noise does not add a replica', { metrics: [list(0.3, 0.1)] }, { replicas: 3, basis: 'demand' }],
    ['never above maxReplicaCount', { maxReplicaCount: 30, metrics: [list(1_000)] }, { replicas: 30, basis: 'maxReplicaCount' }],
    ['the default maxReplicaCount is 100', { metrics: [list(5_000)] }, { replicas: 100, basis: 'maxReplicaCount' }],
    ['never below minReplicaCount', { minReplicaCount: 5, metrics: [list(20)] }, { replicas: 5, basis: 'minimum' }],
    ['the largest metric wins, as in the HPA', { metrics: [list(30), list(500, 50), list(70)] }, { replicas: 10, basis: 'demand' }],
    [
      'a Value target has no current count to scale from: minimum',
      { metrics: [{ targetType: 'Value', target: 10, value: 1_000 }] },
      { replicas: 1, basis: 'minimum' },
    ],
    [
      'a utilization metric asks for nothing from zero',
      { metrics: [{ targetType: 'Utilization', target: 50, value: 400 }] },
      { replicas: 1, basis: 'minimum' },
    ],
    ['a failed read (no value) asks for nothing', { metrics: [list(undefined)] }, { replicas: 1, basis: 'minimum' }],
    [
      'negative, NaN and infinite values ask for nothing',
      { metrics: [list(-50), list(Number.NaN), list(Number.POSITIVE_INFINITY)] },
      { replicas: 1, basis: 'minimum' },
    ],
    ['a zero target asks for nothing', { metrics: [list(100, 0)] }, { replicas: 1, basis: 'minimum' }],
    [
      "a Pods scale-up policy holds the first step to KEDA's count plus that many",
      { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 10, periodSeconds: 60 }] } }, metrics: [list(1_000)] },
      { replicas: 11, basis: 'scaleUp policy' },
    ],
    [
      'Percent from min 4: 4 × (1 + 300%) = 16',
      { minReplicaCount: 4, behavior: { scaleUp: { policies: [{ type: 'Percent', value: 300, periodSeconds: 60 }] } }, metrics: [list(1_000)] },
      { replicas: 16, basis: 'scaleUp policy' },
    ],
    [
      'selectPolicy Min takes the smaller policy',
      {
        behavior: {
          scaleUp: {
            selectPolicy: 'Min',
            policies: [
              { type: 'Pods', value: 10, periodSeconds: 60 },
              { type: 'Pods', value: 3, periodSeconds: 60 },
            ],
          },
        },
        metrics: [list(1_000)],
      },
      { replicas: 4, basis: 'scaleUp policy' },
    ],
    [
      'selectPolicy Max (the default) takes the larger policy',
      {
        behavior: {
          scaleUp: {
            policies: [
              { type: 'Pods', value: 10, periodSeconds: 60 },
              { type: 'Percent', value: 5_000, periodSeconds: 60 },
            ],
          },
        },
        metrics: [list(1_000)],
      },
      { replicas: 51, basis: 'scaleUp policy' },
    ],
    [
      "selectPolicy Disabled keeps KEDA's count",
      { behavior: { scaleUp: { selectPolicy: 'Disabled' } }, metrics: [list(1_000)] },
      { replicas: 1, basis: 'scaleUp policy' },
    ],
    [
      'a scale-up rule without policies gets the HPA defaults (4 pods or 100%)',
      { behavior: { scaleUp: { stabilizationWindowSeconds: 0 } }, metrics: [list(1_000)] },
      { replicas: 5, basis: 'scaleUp policy' },
    ],
    [
      'a policy looser than the demand does not hold it',
      { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 500, periodSeconds: 15 }] } }, metrics: [list(1_000)] },
      { replicas: 100, basis: 'demand' },
    ],
    [
      'only a scale-down rule leaves the first step free',
      { behavior: { scaleDown: { stabilizationWindowSeconds: 0 } }, metrics: [list(1_000)] },
      { replicas: 100, basis: 'demand' },
    ],
    ['maxReplicaCount below the minimum: the minimum', { minReplicaCount: 3, maxReplicaCount: 2, metrics: [list(1_000)] }, { replicas: 3, basis: 'minimum' }],
  ])('with "demand": %s', (_name, input, expected) => {
    expect(activationReplicas({ ...input, annotations: demand })).toEqual(expected);
  });

  it.each<[string, Record<string, string> | undefined]>([
    ['without the annotation', undefined],
    ['with "min"', { [ActivationAnnotation]: 'min' }],
  ])("keeps KEDA's count %s, whatever the backlog", (_name, annotations) => {
    const input = { minReplicaCount: 2, metrics: [list(1_000)], ...(annotations ? { annotations } : {}) };
    expect(activationReplicas(input)).toEqual({ replicas: 2, basis: 'minimum' });
  });

  it('names an annotation value it does not know and falls back to the minimum', () => {
    expect(activationReplicas({ annotations: { [ActivationAnnotation]: 'all' }, metrics: [list(1_000)] })).toEqual({
      replicas: 1,
      basis: 'minimum',
      problem: `annotation ${ActivationAnnotation}: "all" is neither "demand" nor "min"; activating to the minimum`,
    });
  });
});
