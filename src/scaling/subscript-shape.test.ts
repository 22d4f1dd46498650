import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parse } from 'subscript';
import 'subscript/feature/op/nullish.js';
import 'subscript/feature/op/pow.js';
import 'subscript/feature/op/ternary.js';
import 'subscript/feature/literal.js';
import 'subscript/feature/collection.js';
import 'subscript/feature/comment.js';
import { describe, expect, it } from 'vitest';

// The expression compiler behind the scaling-modifiers formula (src/scaling/expression.ts) walks subscript's
// parse tree itself, so the tree's shape is part of its contract with the library. subscript is pinned to one
// version in package.json; these are the shapes the compiler reads. A new version that changes one fails
// here, naming the expression.
const installed = join(dirname(createRequire(import.meta.url).resolve('subscript')), 'package.json');
const version = (JSON.parse(readFileSync(installed, 'utf8')) as { version: string }).version;
const declared = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies
  .subscript;

it('subscript is pinned to the one version these shapes were taken from', () => {
  expect(declared, 'package.json must pin subscript exactly (no range): an upgrade has to pass this file first').toBe(version);
});

describe(`subscript ${version} parse trees the expression compiler relies on`, () => {
  it.each<[string, unknown]>([
    ['a', 'a'],
    ['1.5', [undefined, 1.5]],
    ['"x"', [undefined, 'x']],
    ['true', [undefined, true]],
    ['null', [undefined, null]],
    ['a + b * 2', ['+', 'a', ['*', 'b', [undefined, 2]]]],
    ['a - b / c % d', ['-', 'a', ['%', ['/', 'b', 'c'], 'd']]],
    ['-a', ['-', 'a']],
    ['+a', ['+', 'a']],
    ['-a ** 2', ['**', ['-', 'a'], [undefined, 2]]],
    ['(a)', ['()', 'a']],
    ['(a, b)', ['()', [',', 'a', 'b']]],
    ['f()', ['()', 'f', null]],
    ['f(a)', ['()', 'f', 'a']],
    ['f(a, b)', ['()', 'f', [',', 'a', 'b']]],
    ['[]', ['[]', null]],
    ['[a, b]', ['[]', [',', 'a', 'b']]],
    ['a ? b : c', ['?', 'a', 'b', 'c']],
    ['a ?? b', ['??', 'a', 'b']],
    ['a && b || !c', ['||', ['&&', 'a', 'b'], ['!', 'c']]],
    ['a == b', ['==', 'a', 'b']],
    ['a != b', ['!=', 'a', 'b']],
    ['a < b', ['<', 'a', 'b']],
    ['a >= b', ['>=', 'a', 'b']],
    ['a // a comment\n', 'a'],
  ])('%j', (source, tree) => {
    expect(
      elementsOf(parse(source)),
      `subscript ${version} parses ${JSON.stringify(source)} into another tree than src/scaling/expression.ts compiles`,
    ).toStrictEqual(tree);
  });
});

/** The tree's elements only: subscript also hangs a source position (`loc`) on nodes, which the compiler ignores. */
function elementsOf(node: unknown): unknown {
  return Array.isArray(node) ? Array.from(node as unknown[], elementsOf) : node;
}
