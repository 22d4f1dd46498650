import type { Fallback, ScaledObjectSpec } from '../apis/keda/v1alpha1/scaledobject.js';
import { isResourceTrigger, type TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import { compileExpression, describeValue, ExpressionError, type Expression } from './expression.js';
import type { MetricOutcome } from './fallback.js';

/*
 * KEDA's `advanced.scalingModifiers`: the formula (KEDA evaluates it with expr-lang, swell with ./expression.ts)
 * may name the named triggers other than cpu and memory, a trigger's further metrics as name01, name02...; its
 * result is a float, and nil (only possible with ??) means "no value", which with a fallback serves
 * fallback.replicas × target. The composite-metric replaces the triggers' external metrics when formula and
 * target are set.
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

const triggerNames = {
  subject: 'formula',
  unknownName: (name: string, known: readonly string[]) => {
    const usable = known.length > 0 ? `the triggers it can use are ${known.map((n) => `"${n}"`).join(', ')}` : 'no trigger has a name it can use';
    return `unknown name "${name}": ${usable} (named triggers other than cpu and memory)`;
  },
  missingValue: (name: string) => `no value for trigger "${name}"`,
};

/** Parses and checks a formula against the trigger names it may use. Throws FormulaError. */
export function compileFormula(source: string, variables: Iterable<string>): Formula {
  const expression = asFormulaError(() => compileExpression(source, variables, triggerNames));
  return {
    source,
    variables: expression.variables,
    evaluate(values) {
      const result = asFormulaError(() => expression.evaluate(values));
      if (result === null) {
        // KEDA keeps a nil result only for formulas with ??; otherwise float(nil) fails.
        if (expression.usesNullish) return null;
        throw new FormulaError('formula produced nil; use ?? to give a default');
      }
      if (typeof result !== 'number') throw new FormulaError(`formula must produce a number, not ${describeValue(result)}`);
      return result;
    },
  };
}

function asFormulaError<T extends Expression | ReturnType<Expression['evaluate']>>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof ExpressionError) throw new FormulaError(err.message);
    throw err;
  }
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
    metricNames.forEach((metric, i) => byMetric.set(metric, i === 0 ? (trigger.name ?? '') : `${trigger.name ?? ''}${String(i).padStart(2, '0')}`));
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
