import { parse } from 'subscript';
import 'subscript/feature/op/nullish.js';
import 'subscript/feature/op/pow.js';
import 'subscript/feature/op/ternary.js';
import 'subscript/feature/literal.js';
import 'subscript/feature/collection.js';
import 'subscript/feature/comment.js';

/*
 * A small numeric expression language in expr-lang's syntax, parsed with `subscript` and evaluated here over the
 * tree. Nothing in an expression can reach an object, a prototype or a global: identifiers are the variables it was
 * compiled against, calls are the functions below.
 *
 * Supported syntax:
 *   numbers (1, 2.5, 1e3, 1_000), true, false, nil, variable names
 *   + - * / %   ** and ^ (power)   unary - and +   == != < <= > >=   && and   || or   ! not
 *   cond ? a : b   a ?? b (a when a is not nil)   [a, b] (as function arguments)   (grouping)   comments
 *   min, max, sum, mean, median (numbers or arrays), abs, ceil, floor, round (half away from zero),
 *   float, int (truncates)
 * Operators are typed: arithmetic needs numbers, && || ! and the ternary's condition need booleans, so `a && b` on
 * two numbers is an error, not a coercion.
 */

/** An expression that does not compile or cannot be evaluated. */
export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

export type ExpressionValue = number | boolean | null | ExpressionValue[];

/** Variable values; null is nil. */
export type ExpressionVariables = Readonly<Record<string, number | null>>;

export interface Expression {
  /** The variable names it was compiled against. */
  readonly variables: readonly string[];
  /** True when it uses ??, the only way a nil can be meant as a result. */
  readonly usesNullish: boolean;
  /** Throws ExpressionError. */
  evaluate(values: ExpressionVariables): ExpressionValue;
}

export interface ExpressionOptions {
  /** What the messages call the expression ("formula"); "expression" by default. */
  readonly subject?: string;
  /** Explains a name that is not a variable, given the variables it may use. */
  readonly unknownName?: (name: string, variables: readonly string[]) => string;
  /** Explains a variable that has no value at evaluation. */
  readonly missingValue?: (name: string) => string;
}

type Value = ExpressionValue;
type Node = string | unknown[];
type Evaluator = (values: ExpressionVariables) => Value;

const functions: Readonly<Record<string, (args: Value[]) => Value>> = {
  min: (args) => Math.min(...numbersIn('min', args, 1)),
  max: (args) => Math.max(...numbersIn('max', args, 1)),
  sum: (args) => numbersIn('sum', args, 0).reduce((a, b) => a + b, 0),
  mean: (args) => mean(numbersIn('mean', args, 1)),
  median: (args) => median(numbersIn('median', args, 1)),
  abs: (args) => Math.abs(onlyNumber('abs', args)),
  ceil: (args) => Math.ceil(onlyNumber('ceil', args)),
  floor: (args) => Math.floor(onlyNumber('floor', args)),
  round: (args) => goRound(onlyNumber('round', args)),
  float: (args) => onlyNumber('float', args),
  int: (args) => Math.trunc(onlyNumber('int', args)),
};

export const expressionFunctions: readonly string[] = Object.keys(functions);

// Bounds that keep parsing and evaluation far from the stack limit, whatever a user writes.
const maxLength = 4096;
const maxDepth = 200;

/** Parses an expression and checks every name and function in it. Throws ExpressionError. */
export function compileExpression(source: string, variables: Iterable<string>, options: ExpressionOptions = {}): Expression {
  const subject = options.subject ?? 'expression';
  const names = [...new Set(variables)];
  if (source.length > maxLength) throw new ExpressionError(`${subject} is longer than ${maxLength} characters`);
  let tree: Node;
  try {
    tree = parse(toJsOperators(source)) as Node;
  } catch (err) {
    const shown = source.length > 60 ? `${source.slice(0, 57)}...` : source;
    throw new ExpressionError(`cannot parse "${shown}": ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`);
  }
  if (tree === '') throw new ExpressionError(`${subject} is empty`);
  if (depthOf(tree) > maxDepth) throw new ExpressionError(`${subject} nests more than ${maxDepth} operations deep`);
  const evaluate = compile(tree, { variables: new Set(names), options });
  return { variables: names, usesNullish: usesNullish(tree), evaluate };
}

/** expr-lang's word operators and ^ written as the JavaScript operators the parser knows, keeping columns where it can. */
function toJsOperators(source: string): string {
  const words: Record<string, string> = { and: '&& ', or: '||', not: '!  ' };
  return source.replace(/("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|\b(and|or|not)\b|\^/g, (match, quoted: string | undefined, word: string | undefined) => {
    if (quoted !== undefined) return quoted;
    if (word !== undefined) return words[word] ?? word;
    return '**';
  });
}

function depthOf(node: Node): number {
  return Array.isArray(node) ? 1 + Math.max(0, ...node.slice(1).map((child) => depthOf(child as Node))) : 0;
}

function usesNullish(node: Node): boolean {
  return Array.isArray(node) && (node[0] === '??' || node.slice(1).some((child) => usesNullish(child as Node)));
}

interface Scope {
  readonly variables: ReadonlySet<string>;
  readonly options: ExpressionOptions;
}

function compile(node: Node, scope: Scope): Evaluator {
  if (typeof node === 'string') return compileName(node, scope);
  if (node.length === 0) throw new ExpressionError('undefined is not supported; write nil for no value');
  if (node.length === 2 && node[0] === undefined) return compileLiteral(node[1]);
  const [op, ...args] = node as [unknown, ...Node[]];
  const sub = (n: Node | undefined) => compile(n ?? '', scope);
  switch (op) {
    case '()':
      return args.length === 1 ? compileGroup(args[0], scope) : compileCall(args[0], args[1], scope);
    case '[]':
      if (args.length !== 1) throw new ExpressionError('indexing ([...] after a value) is not supported');
      return compileArray(args[0], scope);
    case '?': {
      const [cond, then, otherwise] = args.map(sub) as [Evaluator, Evaluator, Evaluator];
      return (v) => (asBoolean('?:', cond(v)) ? then(v) : otherwise(v));
    }
    case '??': {
      const [left, right] = args.map(sub) as [Evaluator, Evaluator];
      return (v) => left(v) ?? right(v);
    }
    case '&&':
    case '||': {
      const [left, right] = args.map(sub) as [Evaluator, Evaluator];
      const wantTrue = op === '||';
      return (v) => (asBoolean(op, left(v)) === wantTrue ? wantTrue : asBoolean(op, right(v)));
    }
    case '!': {
      const operand = sub(args[0]);
      return (v) => !asBoolean('!', operand(v));
    }
    case '==':
    case '!=': {
      const [left, right] = args.map(sub) as [Evaluator, Evaluator];
      const equal = op === '==';
      return (v) => sameValue(left(v), right(v)) === equal;
    }
    default:
      return compileNumeric(String(op), args, scope);
  }
}

const binaryNumeric: Readonly<Record<string, (a: number, b: number) => Value>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
  '**': (a, b) => a ** b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function compileNumeric(op: string, args: Node[], scope: Scope): Evaluator {
  const apply = binaryNumeric[op];
  if ((op === '-' || op === '+') && args.length === 1) {
    const operand = compile(args[0] ?? '', scope);
    const sign = op === '-' ? -1 : 1;
    return (v) => sign * asNumber(op, operand(v));
  }
  if (!apply || args.length !== 2) throw new ExpressionError(`operator ${op} is not supported`);
  const [leftNode, rightNode] = args as [Node, Node];
  // expr-lang binds unary minus looser than power: -a ** 2 is -(a ** 2), where the parser reads (-a) ** 2.
  if (op === '**' && Array.isArray(leftNode) && leftNode.length === 2 && (leftNode[0] === '-' || leftNode[0] === '+')) {
    return compileNumeric(String(leftNode[0]), [['**', leftNode[1], rightNode]], scope);
  }
  const left = compile(leftNode, scope);
  const right = compile(rightNode, scope);
  return (v) => apply(asNumber(op, left(v)), asNumber(op, right(v)));
}

function compileName(name: string, { variables, options }: Scope): Evaluator {
  if (name === 'nil') return () => null;
  if (!variables.has(name)) {
    const known = [...variables];
    throw new ExpressionError(
      options.unknownName?.(name, known) ?? `unknown name "${name}": the names it can use are ${known.map((n) => `"${n}"`).join(', ') || 'none'}`,
    );
  }
  return (values) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (value === undefined) throw new ExpressionError(options.missingValue?.(name) ?? `no value for "${name}"`);
    return value;
  };
}

function compileLiteral(value: unknown): Evaluator {
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return () => value;
  if (value === null || typeof value === 'number') throw new ExpressionError('null, NaN and Infinity are not supported; write nil for no value');
  throw new ExpressionError(`${typeof value} literals are not supported; formulas work on numbers`);
}

function compileGroup(inner: Node | undefined, scope: Scope): Evaluator {
  if (Array.isArray(inner) && inner[0] === ',') throw new ExpressionError('a comma list is only allowed in function arguments and [...]');
  return compile(inner ?? '', scope);
}

function compileCall(callee: Node | undefined, argNode: Node | undefined | null, scope: Scope): Evaluator {
  const fn = typeof callee === 'string' && Object.hasOwn(functions, callee) ? functions[callee] : undefined;
  if (!fn)
    throw new ExpressionError(`unknown function ${typeof callee === 'string' ? `"${callee}"` : '(an expression)'}: use ${expressionFunctions.join(', ')}`);
  const args = listItems(argNode).map((n) => compile(n, scope));
  return (v) => fn(args.map((a) => a(v)));
}

function compileArray(itemsNode: Node | undefined | null, scope: Scope): Evaluator {
  const items = listItems(itemsNode).map((n) => compile(n, scope));
  return (v) => items.map((item) => item(v));
}

function listItems(node: Node | undefined | null): Node[] {
  if (node === null || node === undefined) return [];
  return Array.isArray(node) && node[0] === ',' ? (node.slice(1) as Node[]) : [node];
}

/** How a value is named in messages: nil, an array, a number (3). */
export function describeValue(value: ExpressionValue): string {
  if (value === null) return 'nil';
  return Array.isArray(value) ? 'an array' : `a ${typeof value} (${String(value)})`;
}

function asNumber(op: string, value: Value): number {
  if (typeof value !== 'number') throw new ExpressionError(`${op} needs numbers, got ${describeValue(value)}`);
  return value;
}

function asBoolean(op: string, value: Value): boolean {
  if (typeof value !== 'boolean') throw new ExpressionError(`${op} needs true or false, got ${describeValue(value)}`);
  return value;
}

function sameValue(a: Value, b: Value): boolean {
  if (Array.isArray(a) || Array.isArray(b)) throw new ExpressionError('arrays cannot be compared');
  return a === b;
}

function numbersIn(fn: string, args: Value[], atLeast: number): number[] {
  const numbers = args.flatMap((a) => (Array.isArray(a) ? a : [a])).map((a) => asNumber(`${fn}()`, a));
  if (numbers.length < atLeast) throw new ExpressionError(`${fn}() needs at least ${atLeast} number`);
  return numbers;
}

function onlyNumber(fn: string, args: Value[]): number {
  if (args.length !== 1) throw new ExpressionError(`${fn}() takes exactly one argument, got ${args.length}`);
  return asNumber(`${fn}()`, args[0] ?? null);
}

function mean(numbers: number[]): number {
  return numbers.reduce((a, b) => a + b, 0) / numbers.length;
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Go's math.Round: halves away from zero (JavaScript's Math.round sends -2.5 to -2). */
function goRound(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}
