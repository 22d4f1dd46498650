import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  activeScalingModifiers,
  compileFormula,
  compositeValue,
  FormulaCache,
  FormulaError,
  metricVariables,
  type CompositePart,
  type FormulaVariables,
} from './formula.js';

const run = (source: string, values: FormulaVariables = {}) => compileFormula(source, Object.keys(values)).evaluate(values);

describe('compileFormula / evaluate', () => {
  it.each<[string, FormulaVariables, RegExp]>([
    ['(a +', { a: 1 }, /cannot parse "\(a \+": Unclosed/],
    ['sqrt(a)', { a: 1 }, /unknown function "sqrt": use min, max/],
    ['a + 1', { a: null }, /\+ needs numbers, got nil/],
    [`a${' + 1'.repeat(1250)}`, { a: 1 }, /formula is longer than 4096 characters/],
    ['a + c', { a: 1 }, /unknown name "c": the triggers it can use are "a"/],
    ['c', {}, /unknown name "c": no trigger has a name it can use/],
    ['a > 1', { a: 2 }, /must produce a number, not a boolean \(true\)/],
    ['[a]', { a: 2 }, /must produce a number, not an array/],
    ['a', { a: null }, /formula produced nil; use \?\? to give a default/],
  ])('%s with %j fails: %s', (source, values, message) => {
    let error: unknown;
    try {
      run(source, values);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FormulaError);
    expect((error as Error).message).toMatch(/^spec\.advanced\.scalingModifiers\.formula: /);
    expect((error as Error).message).toMatch(message);
  });

  it.each<[string, FormulaVariables, number | null]>([
    ['(a + b) / 2', { a: 3, b: 8 }, 5.5],
    ['a ?? nil', { a: null }, null],
    ['a ?? 4', { a: null }, 4],
  ])('%s with %j = %s', (source, values, expected) => {
    expect(run(source, values)).toBe(expected);
  });

  it('reports a trigger without a value at evaluation', () => {
    expect(() => compileFormula('a + 1', ['a']).evaluate({})).toThrow(/no value for trigger "a"/);
  });
});

describe('FormulaCache', () => {
  it('returns the same compiled formula for the same source and names, and a new one for other names', () => {
    const cache = new FormulaCache(2);
    const first = cache.compile('a + 1', ['a']);
    expect(cache.compile('a + 1', ['a'])).toBe(first);
    expect(cache.compile('a + 1', ['a', 'b'])).not.toBe(first);
  });

  it('evicts the least recently used beyond its capacity', () => {
    const cache = new FormulaCache(2);
    const a = cache.compile('a', ['a']);
    const b = cache.compile('b', ['b']);
    cache.compile('a', ['a']);
    cache.compile('c', ['c']);
    expect(cache.compile('a', ['a'])).toBe(a);
    expect(cache.compile('b', ['b'])).not.toBe(b);
  });

  it('remembers a compile error', () => {
    const cache = new FormulaCache();
    expect(() => cache.compile('a +', ['a'])).toThrow(FormulaError);
    expect(() => cache.compile('a +', ['a'])).toThrow(/cannot parse/);
  });
});

describe('activeScalingModifiers', () => {
  it.each<[string, Record<string, string> | undefined, ReturnType<typeof activeScalingModifiers>]>([
    ['none', undefined, undefined],
    ['formula and target', { formula: ' a + b ', target: '5' }, { formula: 'a + b', target: 5, activationTarget: 0, metricType: 'AverageValue' }],
    [
      'with activation target and Value',
      { formula: 'a', target: '2.5', activationTarget: '1.5', metricType: 'Value' },
      { formula: 'a', target: 2.5, activationTarget: 1.5, metricType: 'Value' },
    ],
    ['no target', { formula: 'a' }, undefined],
    ['zero target', { formula: 'a', target: '0' }, undefined],
    ['no formula', { target: '2' }, undefined],
  ])('%s', (_name, modifiers, expected) => {
    expect(activeScalingModifiers({ advanced: modifiers ? { scalingModifiers: modifiers } : {} })).toEqual(expected);
  });
});

describe('metricVariables', () => {
  it('names each metric after its trigger, numbering further metrics, skipping unnamed and cpu/memory triggers', () => {
    const variables = metricVariables([
      { trigger: { type: 'redis', name: 'queue' }, metricNames: ['s0-redis-jobs'] },
      { trigger: { type: 'kafka', name: 'lag' }, metricNames: ['s1-kafka-a', 's1-kafka-b', 's1-kafka-c'] },
      { trigger: { type: 'redis' }, metricNames: ['s2-redis-other'] },
      { trigger: { type: 'cpu', name: 'load' }, metricNames: ['cpu'] },
    ]);
    expect(Object.fromEntries(variables)).toEqual({ 's0-redis-jobs': 'queue', 's1-kafka-a': 'lag', 's1-kafka-b': 'lag01', 's1-kafka-c': 'lag02' });
  });
});

describe('compositeValue', () => {
  const formula = compileFormula('(a ?? 0) + (b ?? 0) > 0 ? (a ?? 0) + (b ?? 0) : nil', ['a', 'b']);
  const value = (metricName: string, variable: string | undefined, v: number): CompositePart => ({
    metricName,
    ...(variable ? { variable } : {}),
    outcome: { value: v },
    fallbackApplied: false,
  });
  const failed = (metricName: string, variable: string): CompositePart => ({
    metricName,
    variable,
    outcome: { error: `${metricName} down` },
    fallbackApplied: false,
  });
  const fellBack = (metricName: string, variable: string, v: number): CompositePart => ({ metricName, variable, outcome: { value: v }, fallbackApplied: true });

  it.each<[string, Parameters<typeof compositeValue>[0]['fallback'], CompositePart[], ReturnType<typeof compositeValue>]>([
    ['the formula over the values', undefined, [value('s0', 'a', 3), value('s1', 'b', 4)], { value: 7, fallbackApplied: false }],
    [
      'an unnamed trigger is not in the formula',
      undefined,
      [value('s0', 'a', 3), value('s1', 'b', 4), value('s2', undefined, 100)],
      { value: 7, fallbackApplied: false },
    ],
    ['an error without fallback fails the composite', undefined, [value('s0', 'a', 3), failed('s1', 'b')], { error: 's1 down' }],
    ['an error below the fallback threshold fails too', { replicas: 4, behavior: 'static' }, [value('s0', 'a', 3), failed('s1', 'b')], { error: 's1 down' }],
    [
      'static fallback serves the first fallback value, skipping the formula',
      { replicas: 4, behavior: 'static' },
      [value('s0', 'a', 3), fellBack('s1', 'b', 20), fellBack('s2', 'a', 30)],
      { value: 20, fallbackApplied: true },
    ],
    [
      'currentReplicas fallback too',
      { replicas: 4, behavior: 'currentReplicas' },
      [fellBack('s0', 'a', 10), value('s1', 'b', 4)],
      { value: 10, fallbackApplied: true },
    ],
    [
      'scalingModifiers fallback passes the failing trigger as nil',
      { replicas: 4, behavior: 'scalingModifiers' },
      [value('s0', 'a', 3), fellBack('s1', 'b', 20)],
      { value: 3, fallbackApplied: true },
    ],
    [
      'scalingModifiers fallback with a nil result serves replicas x target',
      { replicas: 4, behavior: 'scalingModifiers' },
      [fellBack('s0', 'a', 20), fellBack('s1', 'b', 20)],
      { value: 20, fallbackApplied: true },
    ],
    [
      'a nil result without fallback is an error',
      undefined,
      [value('s0', 'a', 0), value('s1', 'b', 0)],
      { error: 'spec.advanced.scalingModifiers.formula: formula produced nil and there is no fallback to serve instead' },
    ],
    [
      'a nil result with fallback configured but not active serves replicas x target',
      { replicas: 2, behavior: 'static' },
      [value('s0', 'a', 0), value('s1', 'b', 0)],
      { value: 10, fallbackApplied: true },
    ],
  ])('%s', (_name, fallback, parts, expected) => {
    expect(compositeValue({ formula, target: 5, ...(fallback ? { fallback } : {}), parts })).toEqual(expected);
  });

  // Activity (the scale loop) and the served metric (the metrics API) both take this one result, so a value
  // they would read differently (Infinity: active, but served as 0) must never come out of it.
  describe('a non-finite result', () => {
    const ratio = compileFormula('a / b', ['a', 'b']);
    const parts = (a: number, b: number) => [value('s0', 'a', a), value('s1', 'b', b)];
    it.each<[string, number, number, Parameters<typeof compositeValue>[0]['fallback'], ReturnType<typeof compositeValue>]>([
      [
        '+Infinity without fallback is an error',
        1,
        0,
        undefined,
        { error: 'spec.advanced.scalingModifiers.formula: formula produced Infinity and there is no fallback to serve instead' },
      ],
      [
        '-Infinity without fallback is an error',
        -1,
        0,
        undefined,
        { error: 'spec.advanced.scalingModifiers.formula: formula produced -Infinity and there is no fallback to serve instead' },
      ],
      [
        'NaN without fallback is an error',
        0,
        0,
        undefined,
        { error: 'spec.advanced.scalingModifiers.formula: formula produced NaN and there is no fallback to serve instead' },
      ],
      [
        '+Infinity with fallback serves replicas x target',
        1,
        0,
        { replicas: 3, behavior: 'static' },
        { value: 15, fallbackApplied: true, problem: 'spec.advanced.scalingModifiers.formula: formula produced Infinity; serving fallback.replicas × target' },
      ],
      [
        'NaN with scalingModifiers fallback serves replicas x target',
        0,
        0,
        { replicas: 2, behavior: 'scalingModifiers' },
        { value: 10, fallbackApplied: true, problem: 'spec.advanced.scalingModifiers.formula: formula produced NaN; serving fallback.replicas × target' },
      ],
      ['a finite result is served as is', 6, 3, undefined, { value: 2, fallbackApplied: false }],
    ])('%s', (_name, a, b, fallback, expected) => {
      expect(compositeValue({ formula: ratio, target: 5, ...(fallback ? { fallback } : {}), parts: parts(a, b) })).toEqual(expected);
    });

    it('never yields a value that is not finite, whatever the inputs', () => {
      const formulas = ['a / b', 'a ** b', 'a * 1e308 * b', '(a - a) / (b - b)', 'max(a, b) / min(a, b)'].map((f) => compileFormula(f, ['a', 'b']));
      const numbers = fc.oneof(fc.double(), fc.constantFrom(0, -0, 1e308, -1e308, Number.MIN_VALUE));
      fc.assert(
        fc.property(fc.constantFrom(...formulas), numbers, numbers, fc.boolean(), (f, a, b, withFallback) => {
          const result = compositeValue({
            formula: f,
            target: 5,
            ...(withFallback ? { fallback: { replicas: 2, behavior: 'static' as const } } : {}),
            parts: parts(a, b),
          });
          if ('value' in result) expect(Number.isFinite(result.value)).toBe(true);
          else expect(withFallback).toBe(false);
        }),
      );
    });
  });

  it('reports a formula that fails on the values, naming the field', () => {
    const strict = compileFormula('a + b', ['a', 'b']);
    expect(
      compositeValue({
        formula: strict,
        target: 5,
        fallback: { replicas: 1, behavior: 'scalingModifiers' },
        parts: [value('s0', 'a', 1), fellBack('s1', 'b', 5)],
      }),
    ).toEqual({
      error: 'spec.advanced.scalingModifiers.formula: + needs numbers, got nil',
    });
  });
});
