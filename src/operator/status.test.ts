import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialConditions, sameJson, setCondition, setConditions, statusPatch } from './status.js';

describe('setCondition', () => {
  it('starts from KEDA initial set and replaces in place', () => {
    const next = setCondition(undefined, { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'm' });
    expect(next.map((c) => c.type)).toEqual(['Ready', 'Active', 'Fallback', 'Paused']);
    expect(next[1]).toEqual({ type: 'Active', status: 'True', reason: 'ScalerActive', message: 'm' });
  });

  it('appends types not in the list and keeps order on repeated writes', () => {
    const once = setConditions(initialConditions(), [
      { type: 'HPAActive', status: 'True' },
      { type: 'Ready', status: 'True' },
    ]);
    const twice = setConditions(once, [{ type: 'Ready', status: 'False' }]);
    expect(twice.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=False', 'Active=Unknown', 'Fallback=Unknown', 'Paused=False', 'HPAActive=True']);
  });
});

describe('statusPatch', () => {
  const cases: {
    name: string;
    observed: Parameters<typeof statusPatch>[0];
    desired: Parameters<typeof statusPatch>[1];
    patch: Record<string, unknown> | undefined;
  }[] = [
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

describe('sameJson', () => {
  it.each([
    { a: { type: 'Ready', status: 'True' }, b: { status: 'True', type: 'Ready' }, same: true },
    { a: { type: 'Ready', reason: undefined }, b: { type: 'Ready' }, same: true },
    { a: { type: 'Ready' }, b: { type: 'Ready', reason: 'X' }, same: false },
    { a: [{ x: 1 }, { y: 2 }], b: [{ y: 2 }, { x: 1 }], same: false },
    { a: [1, 2], b: { 0: 1, 1: 2 }, same: false },
    { a: { m: { isActive: false } }, b: { m: { isActive: true } }, same: false },
    { a: null, b: {}, same: false },
    { a: undefined, b: {}, same: false },
    { a: '1', b: 1, same: false },
  ])('$a vs $b → $same', ({ a, b, same }) => {
    expect(sameJson(a, b)).toBe(same);
    expect(sameJson(b, a)).toBe(same);
  });

  it('agrees with deep equality of what JSON sends', () => {
    const sent = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => sameJson(a, b) === isDeepStrictEqual(sent(a), sent(b))));
    fc.assert(fc.property(fc.jsonValue(), (a) => sameJson(a, structuredClone(a))));
  });
});
