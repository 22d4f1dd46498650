import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { ScaledJobSchema, type ScaledJob } from './scaledjob.js';
import { ScaledObjectSchema, type ScaledObject } from './scaledobject.js';
import {
  ClusterTriggerAuthenticationSchema,
  TriggerAuthenticationSchema,
  type ClusterTriggerAuthentication,
  type TriggerAuthentication,
} from './triggerauthentication.js';

/** One problem with an object, located by its field path (`spec.triggers[0].metadata`, as kubectl prints it). */
export interface FieldError {
  path: string;
  message: string;
}

export type SchemaResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export const KedaKinds = ['ScaledObject', 'ScaledJob', 'TriggerAuthentication', 'ClusterTriggerAuthentication'] as const;
export type KedaKind = (typeof KedaKinds)[number];

export interface KedaObjectsByKind {
  ScaledObject: ScaledObject;
  ScaledJob: ScaledJob;
  TriggerAuthentication: TriggerAuthentication;
  ClusterTriggerAuthentication: ClusterTriggerAuthentication;
}
export type KedaObject = KedaObjectsByKind[KedaKind];

export type KedaSchemaValidators = { [K in KedaKind]: (value: unknown) => SchemaResult<KedaObjectsByKind[K]> };

export function isKedaKind(kind: unknown): kind is KedaKind {
  return typeof kind === 'string' && (KedaKinds as readonly string[]).includes(kind);
}

// RFC 3339 as Kubernetes writes metav1.Time.
const dateTimePattern = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Compiles the four kinds' schemas once; callers keep the result for the life of the process. Registering the
 * date-time format is idempotent and has the same meaning wherever else TypeBox is used.
 */
export function compileKedaSchemas(): KedaSchemaValidators {
  if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => dateTimePattern.test(v) && !Number.isNaN(Date.parse(v)));
  return {
    ScaledObject: checker<ScaledObject>(TypeCompiler.Compile(ScaledObjectSchema)),
    ScaledJob: checker<ScaledJob>(TypeCompiler.Compile(ScaledJobSchema)),
    TriggerAuthentication: checker<TriggerAuthentication>(TypeCompiler.Compile(TriggerAuthenticationSchema)),
    ClusterTriggerAuthentication: checker<ClusterTriggerAuthentication>(TypeCompiler.Compile(ClusterTriggerAuthenticationSchema)),
  };
}

function checker<T>(compiled: TypeCheck<TSchema>): (value: unknown) => SchemaResult<T> {
  return (value) => {
    if (compiled.Check(value)) return { ok: true, value: value as T };
    return { ok: false, errors: describeErrors(value, [...compiled.Errors(value)]) };
  };
}

function describeErrors(root: unknown, errors: ValueError[]): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    // A missing field also fails its type check; report it once, as missing.
    if (error.value === undefined && error.type !== ValueErrorType.ObjectRequiredProperty) continue;
    const described = { path: fieldPath(root, error.path), message: describe(error) };
    const key = `${described.path}\u0000${described.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(described);
  }
  return out;
}

const describers: Partial<Record<ValueErrorType, (error: ValueError) => string>> = {
  [ValueErrorType.ObjectRequiredProperty]: () => 'required field is missing',
  [ValueErrorType.ObjectAdditionalProperties]: () => 'unknown field',
  [ValueErrorType.Union]: (error) => describeUnion(error.schema),
  [ValueErrorType.Literal]: (error) => `must be ${JSON.stringify((error.schema as { const?: unknown }).const)}`,
  [ValueErrorType.StringMinLength]: (error) => ((error.schema as { minLength?: number }).minLength === 1 ? 'must not be empty' : error.message),
};

function describe(error: ValueError): string {
  return describers[error.type]?.(error) ?? error.message.replace(/^Expected/, 'expected');
}

function describeUnion(schema: TSchema): string {
  const members = (schema as { anyOf?: { const?: unknown }[] }).anyOf ?? [];
  const literals = members.map((m) => m.const).filter((v) => v !== undefined);
  if (literals.length === members.length && literals.length > 0) return `must be one of: ${literals.map((v) => JSON.stringify(v)).join(', ')}`;
  if ((schema as Record<string, unknown>)['x-kubernetes-int-or-string'] === true) return 'must be an integer or a quantity string';
  return 'does not match any allowed form';
}

/**
 * A key printed in a path must look like a field name. Anything else is described, not echoed: a damaged
 * manifest can turn a value into a key (`token: s3cret` cut into one key), and a path must never carry a secret.
 */
const fieldName = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

/** JSON pointer → `a.b[0][a key of 9 characters]`, using the value itself to tell array indexes from map keys. */
export function fieldPath(root: unknown, pointer: string): string {
  if (pointer === '') return '(root)';
  let path = '';
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path += `[${segment}]`;
      node = node[Number(segment)] as unknown;
    } else {
      path += fieldName.test(segment) ? `${path === '' ? '' : '.'}${segment}` : `[a key of ${segment.length} characters]`;
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[segment] : undefined;
    }
  }
  return path;
}
