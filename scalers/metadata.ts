import { metricTargetProblem } from '../src/kube/quantity.js';

/**
 * One declarative parser for every scaler's trigger metadata, following KEDA's typed-config rules: values are
 * trimmed, an empty value counts as absent, numbers are parsed strictly, unknown keys are ignored, and every
 * problem is collected so the user sees them all at once.
 */

/** Where a field's value may come from, named as KEDA names them in its error messages. */
export type Source = 'triggerMetadata' | 'resolvedEnv' | 'authParams';

type Presence = 'present' | 'optional';

export interface Field<V, P extends Presence = Presence> {
  /** Accepted names, first is the canonical one; undefined means the schema key. */
  readonly names: readonly string[] | undefined;
  readonly from: readonly Source[];
  readonly defaultValue: V | undefined;
  readonly optional: boolean;
  /** A secret's value is never echoed in an error. */
  readonly secret: boolean;
  /** Turns the trimmed raw text into a value; throws an Error whose message says why it cannot. */
  readonly parse: (raw: string) => V;
  /** Phantom marker carrying whether the parsed value can be undefined. */
  readonly presence?: P;
}

export interface FieldOptions<V> {
  name?: string | readonly string[];
  from?: readonly Source[];
  default?: V;
  optional?: boolean;
  secret?: boolean;
}

type PresenceOf<O> = O extends { default: unknown } ? 'present' : O extends { optional: true } ? 'optional' : 'present';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a schema holds fields of any value type
export type FieldSchema = Record<string, Field<any>>;

export type FieldValue<F> = F extends Field<infer V, infer P> ? (P extends 'optional' ? V | undefined : V) : never;

type OptionalKeys<S extends FieldSchema> = { [K in keyof S]: S[K] extends Field<unknown, 'optional'> ? K : never }[keyof S];

/** The typed result of parsing with a schema: optional fields without a default may be absent. */
export type MetadataOf<S extends FieldSchema> = {
  -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: FieldValue<S[K]>;
} & { -readonly [K in OptionalKeys<S>]?: FieldValue<S[K]> };

function makeField<V, O extends FieldOptions<V>>(options: O | undefined, parse: (raw: string) => V): Field<V, PresenceOf<O>> {
  const name = options?.name;
  return {
    names: name === undefined ? undefined : typeof name === 'string' ? [name] : name,
    from: options?.from ?? ['triggerMetadata'],
    defaultValue: options?.default,
    optional: options?.optional === true,
    secret: options?.secret === true,
    parse,
  };
}

const integerPattern = /^-?(0|[1-9]\d*)$/;
const jsonNumberPattern = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** KEDA decodes numbers as JSON, so "1.5" is not an integer and "5x" is not a number. */
export function parseInteger(raw: string): number {
  if (!integerPattern.test(raw)) throw new Error('not an integer');
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error('integer out of range');
  return value;
}

export function parseFloatStrict(raw: string): number {
  if (!jsonNumberPattern.test(raw)) throw new Error('not a number');
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error('number out of range');
  return value;
}

/** Go's strconv.ParseBool. */
export function parseBool(raw: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw new Error('not a boolean');
}

const durationUnitsMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("1m30s", "250ms") or a whole number of milliseconds; negatives are rejected. Returns ms. */
export function parseDurationMs(raw: string): number {
  if (integerPattern.test(raw)) {
    const ms = parseInteger(raw);
    if (ms < 0) throw new Error('duration must not be negative');
    return ms;
  }
  if (raw.startsWith('-')) throw new Error('duration must not be negative');
  const body = raw.startsWith('+') ? raw.slice(1) : raw;
  if (body === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(body); match; match = part.exec(body)) {
    total += Number(match[1]) * (durationUnitsMs[match[2] ?? ''] ?? Number.NaN);
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== body.length || !Number.isFinite(total)) throw new Error(`invalid duration "${raw}"`);
  return total;
}

function parseOneOf<E extends string>(values: readonly E[]) {
  return (raw: string): E => {
    const found = values.find((v) => v === raw);
    if (found === undefined) throw new EnumError(values);
    return found;
  };
}

/** Marks a value outside its enum, which KEDA reports in its own wording. */
class EnumError extends Error {
  constructor(readonly values: readonly string[]) {
    super(`must be one of [${values.join(' ')}]`);
  }
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** "k=v,k2=v2" as KEDA reads map fields. */
export function parseKeyValues(raw: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of splitList(raw)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`expected format key=value, got "${pair}"`);
    result[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return result;
}

/** Field builders: each declares where a value may come from, its type, default and whether it is required. */
export const field = {
  string: <const O extends FieldOptions<string> = object>(o?: O) => makeField<string, O>(o, (raw) => raw),
  int: <const O extends FieldOptions<number> = object>(o?: O) => makeField<number, O>(o, parseInteger),
  float: <const O extends FieldOptions<number> = object>(o?: O) => makeField<number, O>(o, parseFloatStrict),
  bool: <const O extends FieldOptions<boolean> = object>(o?: O) => makeField<boolean, O>(o, parseBool),
  /** Milliseconds. */
  duration: <const O extends FieldOptions<number> = object>(o?: O) => makeField<number, O>(o, parseDurationMs),
  oneOf: <const E extends string, const O extends FieldOptions<E> = object>(values: readonly E[], o?: O) => makeField<E, O>(o, parseOneOf(values)),
  /** Comma-separated; elements trimmed, empty elements dropped, each checked against `values` when given. */
  list: <const E extends string = string, const O extends FieldOptions<E[]> = object>(o?: O, values?: readonly E[]) =>
    makeField<E[], O>(o, (raw) => {
      const items = splitList(raw);
      return values ? items.map(parseOneOf(values)) : (items as E[]);
    }),
  keyValues: <const O extends FieldOptions<Record<string, string>> = object>(o?: O) => makeField<Record<string, string>, O>(o, parseKeyValues),
  /** A value with its own syntax; `parse` throws an Error saying what is wrong. */
  custom: <V, const O extends FieldOptions<V> = object>(parse: (raw: string) => V, o?: O) => makeField<V, O>(o, parse),
};

export interface MetadataInput {
  metadata: Readonly<Record<string, string>>;
  resolvedEnv: Readonly<Record<string, string>>;
  authParams: Readonly<Record<string, string>>;
  /**
   * Validation without the cluster: a <name>FromEnv reference, and (when the trigger has an authenticationRef)
   * any auth parameter, counts as present with a value we cannot know.
   */
  offline?: { authParamsUnknown: boolean };
}

export interface ParsedMetadata<T> {
  values: T;
  errors: string[];
  /** Fields whose value is not known: failed to parse, or only available at run time (offline). */
  unresolved: ReadonlySet<string>;
  /** Where each present field's value was found; only triggerMetadata values are the user's to see echoed. */
  origins: Readonly<Partial<Record<keyof T & string, Source>>>;
}

type Lookup = { kind: 'value'; raw: string; source: Source } | { kind: 'unknown' } | { kind: 'absent' };

function lookupIn(source: Source, name: string, input: MetadataInput): Lookup {
  const present = (v: string | undefined): Lookup => {
    const raw = v?.trim() ?? '';
    return raw === '' ? { kind: 'absent' } : { kind: 'value', raw, source };
  };
  switch (source) {
    case 'triggerMetadata':
      return present(input.metadata[name]);
    case 'resolvedEnv': {
      const envName = input.metadata[`${name}FromEnv`]?.trim() ?? '';
      if (envName === '') return { kind: 'absent' };
      return input.offline ? { kind: 'unknown' } : present(input.resolvedEnv[envName]);
    }
    case 'authParams':
      return input.offline?.authParamsUnknown ? { kind: 'unknown' } : present(input.authParams[name]);
  }
}

function lookup(names: readonly string[], from: readonly Source[], input: MetadataInput): Lookup {
  for (const source of from) {
    for (const name of names) {
      const found = lookupIn(source, name, input);
      if (found.kind !== 'absent') return found;
    }
  }
  return { kind: 'absent' };
}

export function parseMetadata<S extends FieldSchema>(schema: S, input: MetadataInput): ParsedMetadata<MetadataOf<S>> {
  const values: Record<string, unknown> = {};
  const errors: string[] = [];
  const unresolved = new Set<string>();
  const origins: Record<string, Source> = {};
  for (const [key, f] of Object.entries(schema)) {
    const names = f.names ?? [key];
    const name = names[0] ?? key;
    const found = lookup(names, f.from, input);
    values[key] = f.defaultValue;
    if (found.kind === 'unknown') {
      unresolved.add(key);
    } else if (found.kind === 'absent') {
      if (f.defaultValue === undefined && !f.optional) {
        errors.push(`missing required parameter "${name}" in [${f.from.join(' ')}]`);
        unresolved.add(key);
      }
    } else {
      origins[key] = found.source;
      try {
        values[key] = f.parse(found.raw);
      } catch (err) {
        // A value from a TriggerAuthentication or the target's env may come from a Secret: never echoed.
        const hidden = f.secret || found.source !== 'triggerMetadata';
        const shown = hidden ? '<redacted>' : found.raw;
        const why = err instanceof Error ? err.message : String(err);
        errors.push(
          err instanceof EnumError
            ? `parameter "${name}" value "${shown}" ${why}`
            : `unable to set param "${name}" value "${shown}": ${hidden ? why.split(found.raw).join('<redacted>') : why}`,
        );
        unresolved.add(key);
      }
    }
  }
  return { values: values as MetadataOf<S>, errors, unresolved, origins: origins as ParsedMetadata<MetadataOf<S>>['origins'] };
}

/** A rule that `key` holds a metric target the HPA accepts (see metricTargetProblem). */
export function positiveTarget<T>(key: keyof T & string, name: string = key): Rule<T> {
  return { fields: [key], check: (m) => metricTargetProblem(name, m[key] as number) };
}

/** A cross-field check, skipped when any field it reads has no known value. */
export interface Rule<T> {
  readonly fields: readonly (keyof T & string)[];
  readonly check: (values: T) => string | undefined;
}

export function checkRules<T>(parsed: ParsedMetadata<T>, rules: readonly Rule<T>[]): string[] {
  const errors: string[] = [];
  for (const rule of rules) {
    if (rule.fields.some((f) => parsed.unresolved.has(f))) continue;
    const problem = rule.check(parsed.values);
    if (problem !== undefined) errors.push(problem);
  }
  return errors;
}
