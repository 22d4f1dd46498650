import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileExpression, ExpressionError, type ExpressionValue, type ExpressionVariables } from './expression.js';

const run = (source: string, values: ExpressionVariables = {}) => compileExpression(source, Object.keys(values)).evaluate(values);

describe('compileExpression / evaluate', () => {
  it.each<[string, ExpressionVariables, ExpressionValue]>([
    ['(a + b) / 2', { a: 3, b: 8 }, 5.5],
    ['a - b * 2', { a: 10, b: 3 }, 4],
    ['a % 4', { a: 10 }, 2],
    ['a ** 2 + 1', { a: 3 }, 10],
    ['a ^ 2 + 1', { a: 3 }, 10],
    ['2 ^ 3 ^ 2', {}, 512],
    ['-a ** 2', { a: 3 }, -9],
    ['(-a) ** 2', { a: 3 }, 9],
    ['a > 5 ? a : b', { a: 6, b: 1 }, 6],
    ['a > 5 ? a : b', { a: 5, b: 1 }, 1],
    ['a > 1 && b > 1 ? 10 : 0', { a: 2, b: 2 }, 10],
    ['a > 1 and b > 1 ? 10 : 0', { a: 2, b: 0 }, 0],
    ['a > 1 || b > 1 ? 10 : 0', { a: 0, b: 2 }, 10],
    ['a > 1 or b > 1 ? 10 : 0', { a: 0, b: 0 }, 0],
    ['!(a > 1) ? 1 : 2', { a: 0 }, 1],
    ['not (a > 1) ? 1 : 2', { a: 5 }, 2],
    ['a == b ? 1 : 0', { a: 2, b: 2 }, 1],
    ['a != nil ? a : 7', { a: null }, 7],
    ['a ?? 4', { a: null }, 4],
    ['a ?? 4', { a: 9 }, 9],
    ['a ?? nil', { a: null }, null],
    ['min(a, b, 3)', { a: 5, b: 4 }, 3],
    ['max([a, b], 1)', { a: 5, b: 4 }, 5],
    ['sum([a, b, 1])', { a: 5, b: 4 }, 10],
    ['mean([a, b])', { a: 5, b: 4 }, 4.5],
    ['median([a, b, 10])', { a: 5, b: 4 }, 5],
    ['abs(a)', { a: -2.5 }, 2.5],
    ['ceil(a / 3)', { a: 10 }, 4],
    ['floor(a / 3)', { a: 10 }, 3],
    ['round(a)', { a: 2.5 }, 3],
    ['round(a)', { a: -2.5 }, -3],
    ['int(a)', { a: -2.7 }, -2],
    ['float(a) / 2', { a: 3 }, 1.5],
    ['a / 0', { a: 1 }, Infinity],
    ['1_000 + 1e3 + .5', {}, 2000.5],
    ['/* weighted */ a * 0.3 + b * 0.7', { a: 10, b: 20 }, 17],
    ['a_b1 + 1', { a_b1: 1 }, 2],
  ])('%s with %j = %s', (source, values, expected) => {
    expect(run(source, values)).toBe(expected);
  });

  it.each<[string, ExpressionVariables, RegExp]>([
    ['(a +', { a: 1 }, /cannot parse "\(a \+": Unclosed/],
    ['a b', { a: 1, b: 1 }, /cannot parse "a b": Unexpected token/],
    ['sqrt(a)', { a: 1 }, /unknown function "sqrt": use min, max/],
    ['min()', {}, /min\(\) needs at least 1 number/],
    ['abs(a, a)', { a: 1 }, /abs\(\) takes exactly one argument, got 2/],
    ['a.b', { a: 1 }, /operator \. is not supported/],
    ['a[0]', { a: 1 }, /indexing/],
    ['a + c', { a: 1 }, /unknown name "c": the names it can use are "a"/],
    ['c', {}, /unknown name "c": the names it can use are none/],
    ['constructor', {}, /unknown name "constructor"/],
    ['toString()', {}, /unknown function "toString"/],
    ['__proto__', {}, /unknown name "__proto__"/],
    ['a = 5', { a: 1 }, /operator = is not supported/],
    ['"text"', {}, /string literals are not supported/],
    ['Infinity', {}, /write nil/],
    ['NaN', {}, /write nil/],
    ['undefined', {}, /write nil/],
    ['null', {}, /write nil/],
    ['(a, a)', { a: 1 }, /comma list/],
    ['a && 1 ? 1 : 0', { a: 1 }, /&& needs true or false, got a number \(1\)/],
    ['a ? 1 : 0', { a: 1 }, /\?: needs true or false/],
    ['a + 1', { a: null }, /\+ needs numbers, got nil/],
    ['[a] == [a] ? 1 : 0', { a: 1 }, /arrays cannot be compared/],
  ])('%s with %j fails: %s', (source, values, message) => {
    expect(() => run(source, values)).toThrow(ExpressionError);
    expect(() => run(source, values)).toThrow(message);
  });

  it.each<[string, string, RegExp]>([
    ['a chain of 1000 additions', `a${' + a'.repeat(1000)}`, /nests more than 200 operations deep/],
    ['150 nested parentheses around 100 negations', `${'('.repeat(150)}${'!'.repeat(100)}a${')'.repeat(150)}`, /nests more than 200 operations deep/],
    ['a formula of 5000 characters', `a${' + 1'.repeat(1250)}`, /expression is longer than 4096 characters/],
    ['2000 unclosed parentheses', '('.repeat(2000), /cannot parse "\({57}\.\.\."/],
  ])('refuses %s with an ExpressionError, not a stack overflow', (_name, source, message) => {
    expect(() => compileExpression(source, ['a'])).toThrow(ExpressionError);
    expect(() => compileExpression(source, ['a'])).toThrow(message);
  });

  it('accepts a long but shallow-enough expression', () => {
    expect(compileExpression(`a${' + a'.repeat(150)}`, ['a']).evaluate({ a: 2 })).toBe(302);
  });

  it('keeps word operators inside string literals for the error message', () => {
    expect(() => run('a + "x and y"', { a: 1 })).toThrow(/string literals are not supported/);
  });

  it('reports a value missing at evaluation', () => {
    expect(() => compileExpression('a + 1', ['a']).evaluate({})).toThrow(/no value for "a"/);
  });

  it('tells whether a nil result can be meant: only an expression with ?? can', () => {
    expect(compileExpression('a ?? nil', ['a']).usesNullish).toBe(true);
    expect(compileExpression('a == nil ? 1 : 0', ['a']).usesNullish).toBe(false);
  });

  it('lets the caller word unknown names and missing values', () => {
    const options = {
      subject: 'rule',
      unknownName: (name: string, known: readonly string[]) => `${name} is not one of ${known.join('/')}`,
      missingValue: (name: string) => `${name} unset`,
    };
    expect(() => compileExpression('x', ['a', 'b'], options)).toThrow('x is not one of a/b');
    expect(() => compileExpression('a', ['a'], options).evaluate({})).toThrow('a unset');
    expect(() => compileExpression('', [], options)).toThrow('rule is empty');
  });

  it('agrees with JavaScript arithmetic on any values', () => {
    const formula = compileExpression('(a + b) * 2 - max(a, b) / 4', ['a', 'b']);
    fc.assert(
      fc.property(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), fc.double({ noNaN: true, min: -1e6, max: 1e6 }), (a, b) => {
        expect(formula.evaluate({ a, b })).toBe((a + b) * 2 - Math.max(a, b) / 4);
      }),
    );
  });
});
