import { describe, expect, it } from 'vitest';
import { initialConditions, setCondition, setConditions, statusPatch } from './status.js';

describe('setCondition', () => {
  it('starts from KEDA initial set and replaces in place', () => {
    const next = setCondition(undefined, { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'm' });
    expect(next.map((c) => c.type)).toEqual(['Ready', 'Active', 'Fallback', 'Paused']);
    expect(next[1]).toEqual({ type: 'Active', status: 'True', reason: 'ScalerActive', message: 'm' });
  });

  it('appends types not in the list and keeps order on repeated writes', () => {
    const once = setConditions(initialConditions(), [{ type: 'HPAActive', status: 'True' }, { type: 'Ready', status: 'True' }]);
    const twice = setConditions(once, [{ type: 'Ready', status: 'False' }]);
    expect(twice.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=False', 'Active=Unknown', 'Fallback=Unknown', 'Paused=False', 'HPAActive=True']);
  });
});

describe('statusPatch', () => {
  const cases: { name: string; observed: Parameters<typeof statusPatch>[0]; desired: Parameters<typeof statusPatch>[1]; patch: Record<string, unknown> | undefined }[] = [
    { name: 'nothing changed', observed: { hpaName: 'h', originalReplicaCount: 2 }, desired: { hpaName: 'h' }, patch: undefined },
    { name: 'scalar changed', observed: { hpaName: 'h' }, desired: { hpaName: 'g' }, patch: { hpaName: 'g' } },
    { name: 'null removes a present field', observed: { pausedReplicaCount: 3 }, desired: { pausedReplicaCount: null }, patch: { pausedReplicaCount: null } },
    { name: 'null on an absent field is no change', observed: {}, desired: { pausedReplicaCount: null }, patch: undefined },
    { name: 'undefined fields are ignored', observed: { hpaName: 'h' }, desired: { hpaName: undefined }, patch: undefined },
    {
      name: 'map fields patched per key with removed keys nulled',
      observed: { health: { a: { numberOfFailures: 1, status: 'Failing' }, b: { numberOfFailures: 0, status: 'Happy' } } },
      desired: { health: { a: { numberOfFailures: 2, status: 'Failing' } } },
      patch: { health: { a: { numberOfFailures: 2, status: 'Failing' }, b: null } },
    },
    {
      name: 'arrays replaced whole when any element differs',
      observed: { conditions: [{ type: 'Ready', status: 'True' }] },
      desired: { conditions: [{ type: 'Ready', status: 'False', reason: 'X' }] },
      patch: { conditions: [{ type: 'Ready', status: 'False', reason: 'X' }] },
    },
  ];
  it.each(cases)('$name', ({ observed, desired, patch }) => {
    expect(statusPatch(observed, desired)).toEqual(patch);
  });
});
