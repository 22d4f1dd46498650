import { describe, expect, it } from 'vitest';
import type { ScaledObjectSpec } from '../apis/keda/v1alpha1/scaledobject.js';
import type { MetricHealth, MetricOutcome } from '../scaling/fallback.js';
import { activeScalingModifiers, FormulaCache } from '../scaling/formula.js';
import { combinedProposal, type ExternalMetricObservation } from './hpa-model.js';
import { hpaMetrics, pollMetrics, type MetricsModel } from './metrics.js';
import { loadWorkload, ManifestError, type SimTrigger } from './workload.js';

/* Hand-computed polls and HPA reads through the operator's fallback and scalingModifiers functions. */

const trigger = (name: string, index: number): SimTrigger => ({
  type: 'redis',
  name,
  metricName: `s${index}-redis`,
  targetType: 'AverageValue',
  target: 5,
  activationThreshold: 0,
  reads: 'queue',
});
const a = trigger('a', 0);
const b = trigger('b', 1);

function model(spec: Partial<ScaledObjectSpec>, triggers: SimTrigger[] = [a]): MetricsModel {
  const full = { triggers: triggers.map((t) => ({ type: t.type, name: t.name, metadata: {} })), ...spec } as Pick<
    ScaledObjectSpec,
    'fallback' | 'advanced' | 'triggers'
  >;
  const modifiers = activeScalingModifiers(full);
  return { spec: full, triggers, ...(modifiers ? { modifiers } : {}), formulas: new FormulaCache() };
}

const failing = (n: number): Record<string, MetricHealth> => ({ 's0-redis': { numberOfFailures: n, status: n > 0 ? 'Failing' : 'Happy' } });
const down: MetricOutcome = { error: 'source down' };
const replicas = { current: 2, ready: 2 };
const rules = { scaleUp: { tolerance: 0.1 }, scaleDown: { tolerance: 0.1 } } as Parameters<typeof combinedProposal>[2];
const observed = (value: number, target = 5, targetType: ExternalMetricObservation['targetType'] = 'AverageValue') => ({
  observation: { targetType, target, value },
});

describe('pollMetrics: the scale loop on one instant', () => {
  const withFallback = model({ fallback: { failureThreshold: 2, replicas: 6 } });
  it.each([
    ['a value above activation', withFallback, [{ value: 12 }], {}, { isActive: true, isError: false }, { numberOfFailures: 0, status: 'Happy' }, false],
    ['a value at activation (0)', withFallback, [{ value: 0 }], {}, { isActive: false, isError: false }, { numberOfFailures: 0, status: 'Happy' }, false],
    [
      'the first failure: counted, an error, not active',
      withFallback,
      [down],
      {},
      { isActive: false, isError: true },
      { numberOfFailures: 1, status: 'Failing' },
      false,
    ],
    [
      'the second failure is still within the threshold (2)',
      withFallback,
      [down],
      failing(1),
      { isActive: false, isError: true },
      { numberOfFailures: 2, status: 'Failing' },
      false,
    ],
    [
      'the third failure: fallback is served and counts as active',
      withFallback,
      [down],
      failing(2),
      { isActive: true, isError: false },
      { numberOfFailures: 3, status: 'Failing' },
      true,
    ],
    [
      'a good read after failures resets the count',
      withFallback,
      [{ value: 3 }],
      failing(5),
      { isActive: true, isError: false },
      { numberOfFailures: 0, status: 'Happy' },
      false,
    ],
  ] as const)('%s', (_, m, outcomes, previous, activity, health, fallbackApplied) => {
    const result = pollMetrics(m, outcomes, previous, replicas);
    expect(result.activity).toMatchObject(activity);
    expect(result.health['s0-redis']).toEqual(health);
    expect(result.fallbackApplied).toBe(fallbackApplied);
  });

  it('keeps no health without a fallback (KEDA writes none), and a failure is an error', () => {
    const result = pollMetrics(model({}), [down], {}, replicas);
    expect(result.health).toEqual({});
    expect(result.activity).toMatchObject({ isActive: false, isError: true });
  });

  const formula = model({ advanced: { scalingModifiers: { formula: 'a + b', target: '10', activationTarget: '3' } } }, [a, b]);
  it.each([
    ['4 + 5 = 9 is above the activation target 3', [{ value: 4 }, { value: 5 }], true],
    ['1 + 1 = 2 is not', [{ value: 1 }, { value: 1 }], false],
  ] as const)('scalingModifiers: activity is the composite against activationTarget: %s', (_, outcomes, active) => {
    expect(pollMetrics(formula, outcomes, {}, replicas).activity).toMatchObject({ isActive: active, isError: false });
  });

  it('scalingModifiers: a failing trigger without fallback fails the composite', () => {
    expect(pollMetrics(formula, [{ value: 4 }, down], {}, replicas).activity).toMatchObject({ isActive: false, isError: true });
  });
});

describe('hpaMetrics: what the metrics API serves the HPA', () => {
  const withFallback = model({ fallback: { failureThreshold: 2, replicas: 6 } });
  it.each([
    ['a value is served as read', withFallback, [{ value: 12 }], {}, [observed(12)]],
    ['a negative value is served as 0', withFallback, [{ value: -3 }], {}, [observed(0)]],
    ['a failure within the threshold is an error', withFallback, [down], failing(2), [{ error: 'source down' }]],
    ['past the threshold: fallback.replicas × target = 6 × 5', withFallback, [down], failing(3), [observed(30)]],
    [
      'scalingModifiers: the composite only, against its own target',
      model({ advanced: { scalingModifiers: { formula: 'a + b', target: '10', metricType: 'Value' } } }, [a, b]),
      [{ value: 4 }, { value: 5 }],
      {},
      [observed(9, 10, 'Value')],
    ],
    [
      'scalingModifiers with a static fallback: fallback.replicas × the composite target = 4 × 10',
      model({ fallback: { failureThreshold: 0, replicas: 4 }, advanced: { scalingModifiers: { formula: 'a + b', target: '10' } } }, [a, b]),
      [down, { value: 5 }],
      failing(1),
      [observed(40, 10)],
    ],
    [
      'behavior scalingModifiers: the failing trigger enters the formula as nil, (a ?? 20) + b = 25',
      model(
        {
          fallback: { failureThreshold: 0, replicas: 4, behavior: 'scalingModifiers' },
          advanced: { scalingModifiers: { formula: '(a ?? 20) + b', target: '10' } },
        },
        [a, b],
      ),
      [down, { value: 5 }],
      failing(1),
      [observed(25, 10)],
    ],
  ] as const)('%s', (_, m, outcomes, health, expected) => {
    expect(hpaMetrics(m, outcomes, health, replicas)).toEqual(expected);
  });
});

describe('combinedProposal: the HPA over several metrics', () => {
  it.each([
    ['the largest proposal wins', [observed(30), observed(10)], 4, 6],
    ['with one metric failing it scales up on the others', [observed(50), { error: 'x' }], 4, 10],
    ['with one metric failing it does not scale down', [observed(10), { error: 'x' }], 4, 4],
    ['with every metric failing it keeps the count', [{ error: 'x' }], 4, 4],
    ['within the tolerance it keeps the count', [observed(21)], 4, 4],
  ] as const)('%s', (_, metrics, current, expected) => {
    expect(combinedProposal(metrics, { current, ready: current }, rules, current)).toBe(expected);
  });
});

describe('loadWorkload: the triggers and formula the simulator feeds', () => {
  const manifest = (triggers: string, advanced = '') => `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: worker
spec:
  scaleTargetRef:
    name: worker
${advanced}  triggers:
${triggers}`;
  const redis = (name: string) => `    - type: redis\n      name: ${name}\n      metadata:\n        address: redis:6379\n        listName: jobs\n`;
  const cron =
    '    - type: cron\n      name: office\n      metadata:\n        timezone: UTC\n        start: 0 8 * * *\n        end: 0 18 * * *\n        desiredReplicas: "2"\n';
  const formula = (f: string) => `  advanced:\n    scalingModifiers:\n      formula: "${f}"\n      target: "5"\n`;

  it('feeds every trigger it can and names the ones it leaves out', () => {
    const w = loadWorkload(manifest(redis('a') + cron + redis('b')));
    expect(w.triggers.map((t) => t.name)).toEqual(['a', 'b']);
    expect(w.notes).toEqual(['trigger 1 (cron) is not fed from the trace and is left out']);
  });

  it('takes a formula over the fed triggers', () => {
    expect(loadWorkload(manifest(redis('a') + redis('b'), formula('max(a, b)'))).modifiers).toMatchObject({
      formula: 'max(a, b)',
      target: 5,
      metricType: 'AverageValue',
    });
  });

  it('refuses a formula over a trigger it cannot feed, naming it', () => {
    expect(() => loadWorkload(manifest(redis('a') + cron, formula('a + office')))).toThrow(ManifestError);
    expect(() => loadWorkload(manifest(redis('a') + cron, formula('a + office')))).toThrow(/unknown name "office"/);
  });
});
