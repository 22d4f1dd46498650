import { parse } from 'subscript';
import 'subscript/feature/op/nullish.js';
import 'subscript/feature/op/pow.js';
import 'subscript/feature/op/ternary.js';
import 'subscript/feature/literal.js';
import 'subscript/feature/collection.js';
import 'subscript/feature/comment.js';
import type { Fallback, ScaledObjectSpec } from '../apis/keda/v1alpha1/scaledobject.js';
import { isResourceTrigger, type TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import type { MetricOutcome } from './fallback.js';

/*
 * `advanced.scalingModifiers.formula`: KEDA evaluates it with expr-lang; swell parses it with `subscript` and
 * evaluates the tree here, accepting only the numeric subset scaling formulas use. Nothing in a formula can
 * reach an object, a prototype or a global: identifiers are trigger names, calls are the functions below.
 *
 * Supported syntax:
 *   numbers (1, 2.5, 1e3, 1_000), true, false, nil, trigger names (named triggers other than cpu/memory)
 *   + - * / %   ** and ^ (power)   unary - and +   == != < <= > >=   && and   || or   ! not
 *   cond ? a : b   a ?? b (a when a is not nil)   [a, b] (as function arguments)   (grouping)   comments
 *   min, max, sum, mean, median (numbers or arrays), abs, ceil, floor, round (half away from zero),
 *   float, int (truncates)
 * As in KEDA, the result is a float; nil (only possible with ??) means "no value", which with a fallback
 * serves fallback.replicas × target. Operators are typed: arithmetic needs numbers, && || ! and the ternary's
 * condition need booleans, so `a && b` on two numbers is an error, not a coercion.
 */

export const FormulaPath = 'spec.advanced.scalingModifiers.formula';
export const CompositeMetricName = 'composite-metric';

/** A formula that does not compile or cannot be evaluated; the message names the field. */
export class FormulaError extends Error {
  constructor(readonly reason: string) {
    super(`${FormulaPath}: ${reason}`);
    this.name = 'FormulaError';
  }
}

/** A trigger's value in the formula; null is expr-lang's nil (a failing trigger under `scalingModifiers` fallback). */
export type FormulaVariables = Readonly<Record<string, number | null>>;

export interface Formula {
  readonly source: string;
  /** The variable names it was compiled against. */
  readonly variables: readonly string[];
  /** The value as a float, or null for nil. Throws FormulaError. */
  evaluate(values: FormulaVariables): number | null;
}

type Value = number | boolean | null | Value[];
type Node = string | unknown[];
type Evaluator = (values: FormulaVariables) => Value;

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

export const formulaFunctions: readonly string[] = Object.keys(functions);

// Bounds that keep parsing and evaluation far from the stack limit, whatever a user writes.
const maxFormulaLength = 4096;
const maxFormulaDepth = 200;

/** Parses and checks a formula against the names it may use. Throws FormulaError. */
export function compileFormula(source: string, variables: Iterable<string>): Formula {
  const names = [...new Set(variables)];
  if (source.length > maxFormulaLength) throw new FormulaError(`formula is longer than ${maxFormulaLength} characters`);
  let tree: Node;
  try {
    tree = parse(toJsOperators(source)) as Node;
  } catch (err) {
    const shown = source.length > 60 ? `${source.slice(0, 57)}...` : source;
    throw new FormulaError(`cannot parse "${shown}": ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`);
  }
  if (tree === '') throw new FormulaError('formula is empty');
  if (depthOf(tree) > maxFormulaDepth) throw new FormulaError(`formula nests more than ${maxFormulaDepth} operations deep`);
  const evaluator = compile(tree, new Set(names));
  const nilAllowed = usesNullish(tree);
  return {
    source,
    variables: names,
    evaluate(values) {
      const result = evaluator(values);
      if (result === null) {
        // KEDA keeps a nil result only for formulas with ??; otherwise float(nil) fails.
        if (nilAllowed) return null;
        throw new FormulaError('formula produced nil; use ?? to give a default');
      }
      if (typeof result !== 'number') throw new FormulaError(`formula must produce a number, not ${describe(result)}`);
      return result;
    },
  };
}

/** Compiled formulas by source and variable names, so a poll does not parse again; least recently used go first. */
export class FormulaCache {
  private readonly entries = new Map<string, Formula | FormulaError>();

  constructor(private readonly capacity = 512) {}

  /** Throws FormulaError (remembered too, so a broken formula is not parsed on every poll). */
  compile(source: string, variables: readonly string[]): Formula {
    const key = `${source}\u0000${variables.join('\u0000')}`;
    let entry = this.entries.get(key);
    if (entry) this.entries.delete(key);
    else {
      try {
        entry = compileFormula(source, variables);
      } catch (err) {
        if (!(err instanceof FormulaError)) throw err;
        entry = err;
      }
    }
    this.entries.set(key, entry);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    if (entry instanceof FormulaError) throw entry;
    return entry;
  }
}

/** `advanced.scalingModifiers` when it turns the external metrics into composite-metric (formula and target > 0). */
export interface ActiveScalingModifiers {
  formula: string;
  target: number;
  activationTarget: number;
  metricType: 'AverageValue' | 'Value';
}

export function activeScalingModifiers(spec: Pick<ScaledObjectSpec, 'advanced'>): ActiveScalingModifiers | undefined {
  const modifiers = spec.advanced?.scalingModifiers;
  const formula = modifiers?.formula?.trim() ?? '';
  const target = Number(modifiers?.target?.trim() || Number.NaN);
  if (!modifiers || formula === '' || !(target > 0)) return undefined;
  const activation = Number(modifiers.activationTarget?.trim() || 0);
  return { formula, target, activationTarget: Number.isFinite(activation) ? activation : 0, metricType: modifiers.metricType ?? 'AverageValue' };
}

/** The names a formula may use: named triggers that are not cpu or memory (KEDA's rule). */
export function formulaVariableNames(triggers: readonly Pick<TriggerSpec, 'name' | 'type'>[]): string[] {
  return triggers.flatMap((t) => (t.name && !isResourceTrigger(t.type) ? [t.name] : []));
}

/**
 * The formula variable of each metric, by metric name: the trigger's name, and for a trigger's second, third...
 * metric the name followed by 01, 02... (KEDA's pairing). Unnamed, cpu and memory triggers have none.
 */
export function metricVariables(triggers: readonly { trigger: Pick<TriggerSpec, 'name' | 'type'>; metricNames: readonly string[] }[]): Map<string, string> {
  const byMetric = new Map<string, string>();
  for (const { trigger, metricNames } of triggers) {
    if (!trigger.name || isResourceTrigger(trigger.type)) continue;
    metricNames.forEach((metric, i) => byMetric.set(metric, i === 0 ? trigger.name ?? '' : `${trigger.name ?? ''}${String(i).padStart(2, '0')}`));
  }
  return byMetric;
}

/** One trigger metric as the composite sees it: its value or error after fallback. */
export interface CompositePart {
  metricName: string;
  /** Its formula variable; undefined for unnamed triggers, whose values the formula cannot use. */
  variable?: string;
  outcome: MetricOutcome;
  /** A synthetic fallback value replaced an error. */
  fallbackApplied: boolean;
}

export interface CompositeInput {
  formula: Formula;
  /** scalingModifiers.target. */
  target: number;
  fallback?: Pick<Fallback, 'replicas' | 'behavior'>;
  parts: readonly CompositePart[];
}

/**
 * A finite value (what both activity and the served metric use) or why there is none. `problem` says why a
 * fallback value was served for a formula that gave a non-finite number.
 */
export type CompositeResult = { value: number; fallbackApplied: boolean; problem?: string } | { error: string };

/**
 * KEDA's composite-metric value. A fallback of any behavior but `scalingModifiers` skips the formula and
 * serves the first fallback value; with `scalingModifiers`, the failing triggers enter the formula as nil and
 * a nil result serves fallback.replicas × target. An error without fallback fails the whole metric.
 */
export function compositeValue(input: CompositeInput): CompositeResult {
  const behaviorIsModifiers = input.fallback?.behavior === 'scalingModifiers';
  const fellBack = input.parts.find((p) => p.fallbackApplied && 'value' in p.outcome);
  if (fellBack && !behaviorIsModifiers && 'value' in fellBack.outcome) return { value: fellBack.outcome.value, fallbackApplied: true };
  const failed = input.parts.find((p) => !p.fallbackApplied && 'error' in p.outcome);
  if (failed && 'error' in failed.outcome) return { error: failed.outcome.error };
  const values: Record<string, number | null> = Object.create(null) as Record<string, number | null>;
  for (const part of input.parts) {
    if (part.variable === undefined) continue;
    values[part.variable] = part.fallbackApplied || !('value' in part.outcome) ? null : part.outcome.value;
  }
  let value: number | null;
  try {
    value = input.formula.evaluate(values);
  } catch (err) {
    if (err instanceof FormulaError) return { error: err.message };
    throw err;
  }
  if (value !== null && Number.isFinite(value)) return { value, fallbackApplied: fellBack !== undefined };
  // ±Infinity and NaN have no replica count: activity would read Infinity as active while the metrics API
  // serves 0, so they fail like nil does, and a configured fallback applies.
  const produced = value === null ? 'nil' : String(value);
  if (!input.fallback) return { error: `${FormulaPath}: formula produced ${produced} and there is no fallback to serve instead` };
  const fallbackValue = input.fallback.replicas * input.target;
  if (value === null) return { value: fallbackValue, fallbackApplied: true };
  return { value: fallbackValue, fallbackApplied: true, problem: `${FormulaPath}: formula produced ${produced}; serving fallback.replicas × target` };
}

export interface CompositeEvaluation {
  formulas: FormulaCache;
  modifiers: ActiveScalingModifiers;
  fallback?: Pick<Fallback, 'replicas' | 'behavior'>;
  /** Every trigger with its external metric names, in trigger order (for the variable names). */
  triggers: readonly { trigger: Pick<TriggerSpec, 'name' | 'type'>; metricNames: readonly string[] }[];
  /** Every external metric's outcome after fallback. */
  metrics: readonly Omit<CompositePart, 'variable'>[];
}

/** The composite of one poll or request: variables named, the formula compiled (cached), compositeValue applied. */
export function evaluateComposite(input: CompositeEvaluation): CompositeResult {
  const variables = metricVariables(input.triggers);
  let formula: Formula;
  try {
    formula = input.formulas.compile(input.modifiers.formula, [...new Set(variables.values())]);
  } catch (err) {
    if (err instanceof FormulaError) return { error: err.message };
    throw err;
  }
  const parts = input.metrics.map((m): CompositePart => {
    const variable = variables.get(m.metricName);
    return { ...m, ...(variable !== undefined ? { variable } : {}) };
  });
  return compositeValue({ formula, target: input.modifiers.target, ...(input.fallback ? { fallback: input.fallback } : {}), parts });
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

function compile(node: Node, variables: ReadonlySet<string>): Evaluator {
  if (typeof node === 'string') return compileName(node, variables);
  if (node.length === 0) throw new FormulaError('undefined is not supported; write nil for no value');
  if (node.length === 2 && node[0] === undefined) return compileLiteral(node[1]);
  const [op, ...args] = node as [unknown, ...Node[]];
  const sub = (n: Node | undefined) => compile(n ?? '', variables);
  switch (op) {
    case '()':
      return args.length === 1 ? compileGroup(args[0], variables) : compileCall(args[0], args[1], variables);
    case '[]':
      if (args.length !== 1) throw new FormulaError('indexing ([...] after a value) is not supported');
      return compileArray(args[0], variables);
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
      return compileNumeric(String(op), args, variables);
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

function compileNumeric(op: string, args: Node[], variables: ReadonlySet<string>): Evaluator {
  const apply = binaryNumeric[op];
  if ((op === '-' || op === '+') && args.length === 1) {
    const operand = compile(args[0] ?? '', variables);
    const sign = op === '-' ? -1 : 1;
    return (v) => sign * asNumber(op, operand(v));
  }
  if (!apply || args.length !== 2) throw new FormulaError(`operator ${op} is not supported`);
  const [leftNode, rightNode] = args as [Node, Node];
  // expr-lang binds unary minus looser than power: -a ** 2 is -(a ** 2), where the parser reads (-a) ** 2.
  if (op === '**' && Array.isArray(leftNode) && leftNode.length === 2 && (leftNode[0] === '-' || leftNode[0] === '+')) {
    return compileNumeric(String(leftNode[0]), [['**', leftNode[1], rightNode]], variables);
  }
  const left = compile(leftNode, variables);
  const right = compile(rightNode, variables);
  return (v) => apply(asNumber(op, left(v)), asNumber(op, right(v)));
}

function compileName(name: string, variables: ReadonlySet<string>): Evaluator {
  if (name === 'nil') return () => null;
  if (!variables.has(name)) {
    const known = variables.size > 0 ? `the triggers it can use are ${[...variables].map((n) => `"${n}"`).join(', ')}` : 'no trigger has a name it can use';
    throw new FormulaError(`unknown name "${name}": ${known} (named triggers other than cpu and memory)`);
  }
  return (values) => {
    const value = Object.hasOwn(values, name) ? values[name] : undefined;
    if (value === undefined) throw new FormulaError(`no value for trigger "${name}"`);
    return value;
  };
}

function compileLiteral(value: unknown): Evaluator {
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return () => value;
  if (value === null || typeof value === 'number') throw new FormulaError('null, NaN and Infinity are not supported; write nil for no value');
  throw new FormulaError(`${typeof value} literals are not supported; formulas work on numbers`);
}

function compileGroup(inner: Node | undefined, variables: ReadonlySet<string>): Evaluator {
  if (Array.isArray(inner) && inner[0] === ',') throw new FormulaError('a comma list is only allowed in function arguments and [...]');
  return compile(inner ?? '', variables);
}

function compileCall(callee: Node | undefined, argNode: Node | undefined | null, variables: ReadonlySet<string>): Evaluator {
  const fn = typeof callee === 'string' && Object.hasOwn(functions, callee) ? functions[callee] : undefined;
  if (!fn) throw new FormulaError(`unknown function ${typeof callee === 'string' ? `"${callee}"` : '(an expression)'}: use ${formulaFunctions.join(', ')}`);
  const args = listItems(argNode).map((n) => compile(n, variables));
  return (v) => fn(args.map((a) => a(v)));
}

function compileArray(itemsNode: Node | undefined | null, variables: ReadonlySet<string>): Evaluator {
  const items = listItems(itemsNode).map((n) => compile(n, variables));
  return (v) => items.map((item) => item(v));
}

function listItems(node: Node | undefined | null): Node[] {
  if (node === null || node === undefined) return [];
  return Array.isArray(node) && node[0] === ',' ? (node.slice(1) as Node[]) : [node];
}

function describe(value: Value): string {
  if (value === null) return 'nil';
  return Array.isArray(value) ? 'an array' : `a ${typeof value} (${String(value)})`;
}

function asNumber(op: string, value: Value): number {
  if (typeof value !== 'number') throw new FormulaError(`${op} needs numbers, got ${describe(value)}`);
  return value;
}

function asBoolean(op: string, value: Value): boolean {
  if (typeof value !== 'boolean') throw new FormulaError(`${op} needs true or false, got ${describe(value)}`);
  return value;
}

function sameValue(a: Value, b: Value): boolean {
  if (Array.isArray(a) || Array.isArray(b)) throw new FormulaError('arrays cannot be compared');
  return a === b;
}

function numbersIn(fn: string, args: Value[], atLeast: number): number[] {
  const numbers = args.flatMap((a) => (Array.isArray(a) ? a : [a])).map((a) => asNumber(`${fn}()`, a));
  if (numbers.length < atLeast) throw new FormulaError(`${fn}() needs at least ${atLeast} number`);
  return numbers;
}

function onlyNumber(fn: string, args: Value[]): number {
  if (args.length !== 1) throw new FormulaError(`${fn}() takes exactly one argument, got ${args.length}`);
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
