import { TypeCompiler } from '@sinclair/typebox/compiler';
import { objectMetaErrors, type ObjectMetaRules } from './object-meta.js';
import { KedaApiVersion, KedaGroup } from './schema.js';
import { compileKedaSchemas, isKedaKind, KedaKinds, type FieldError, type KedaKind, type KedaObject } from './schema-validation.js';
import { TriggerSchema, type TriggerSpec } from './triggers.js';
import { validateScaledJob, validateScaledObject, validateTriggerAuthentication, type SemanticResult } from './validation.js';

export interface KedaValidationResult {
  /** The document's kind as written (may be a misspelt KEDA kind, which is then an error). */
  kind: string;
  name: string;
  namespace?: string;
  valid: boolean;
  errors: FieldError[];
  warnings: FieldError[];
  /** The typed object when the schema check passed (semantic errors may still be present). */
  object?: KedaObject;
}

export interface KedaValidatorOptions {
  /** Per-scaler metadata check (the scaler registry's); each returned message is an error on that trigger. */
  validateTrigger?: (trigger: TriggerSpec) => string[];
}

export interface KedaValidator {
  /** undefined when the document is not in the keda.sh group, so callers can skip it. */
  validate(document: unknown): KedaValidationResult | undefined;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const metaRules: Record<KedaKind, ObjectMetaRules> = {
  ScaledObject: { namespaced: true },
  ScaledJob: {
    namespaced: true,
    maxNameLength: { limit: 63, why: 'each Job carries it in the label scaledjob.keda.sh/name, and label values are at most 63 characters' },
  },
  TriggerAuthentication: { namespaced: true },
  ClusterTriggerAuthentication: { namespaced: false },
};

/**
 * The apiserver's ObjectMeta rules, the schema, KEDA's semantic rules and each trigger's own metadata check: one
 * call reports every problem of an object. A schema error does not hide the metadata problems of the triggers
 * that are themselves well-formed; the semantic rules need a well-formed object and wait for the schema.
 */
export function createKedaValidator(options: KedaValidatorOptions = {}): KedaValidator {
  const schemas = compileKedaSchemas();
  const triggerShape = TypeCompiler.Compile(TriggerSchema);
  return {
    validate(document) {
      const apiVersion = asString(field(document, 'apiVersion')) ?? '';
      if (apiVersion.split('/')[0] !== KedaGroup) return undefined;
      const metadata = field(document, 'metadata');
      const kind = asString(field(document, 'kind')) ?? '';
      const namespace = asString(field(metadata, 'namespace'));
      const identity = { kind, name: asString(field(metadata, 'name')) ?? '', ...(namespace !== undefined ? { namespace } : {}) };
      if (apiVersion !== KedaApiVersion) return invalid(identity, 'apiVersion', `unsupported apiVersion "${apiVersion}", expected "${KedaApiVersion}"`);
      if (!isKedaKind(kind)) return invalid(identity, 'kind', `unknown kind "${kind}", expected one of: ${KedaKinds.join(', ')}`);
      const metaErrors = objectMetaErrors(metadata, metaRules[kind]);
      const checked = schemas[kind](document);
      if (!checked.ok) {
        const wellFormed = wellFormedTriggers(field(field(document, 'spec'), 'triggers'), (t) => triggerShape.Check(t));
        const errors = [...metaErrors, ...checked.errors, ...triggerErrors(kind, wellFormed, options.validateTrigger)];
        return { ...identity, valid: false, errors: bounded(errors), warnings: [] };
      }
      const semantic = semanticCheck(kind, checked.value);
      const triggers = 'triggers' in checked.value.spec ? checked.value.spec.triggers.map((trigger, index) => ({ trigger, index })) : [];
      const errors = [...metaErrors, ...semantic.errors, ...withoutRepeats(triggerErrors(kind, triggers, options.validateTrigger), semantic.errors)];
      return { ...identity, valid: errors.length === 0, errors: bounded(errors), warnings: bounded(semantic.warnings), object: checked.value };
    },
  };
}

/** The entries of a raw `spec.triggers` that have a trigger's shape, with their positions. */
function wellFormedTriggers(triggers: unknown, isTrigger: (value: unknown) => boolean): { trigger: TriggerSpec; index: number }[] {
  if (!Array.isArray(triggers)) return [];
  return triggers.flatMap((trigger: unknown, index) => (isTrigger(trigger) ? [{ trigger: trigger as TriggerSpec, index }] : []));
}

/** Messages can quote a value from the object (an annotation, say); a long one is cut so answers stay small. */
const maxMessageLength = 1000;

function bounded(errors: readonly FieldError[]): FieldError[] {
  const cut = (text: string) => (text.length > maxMessageLength ? `${text.slice(0, maxMessageLength)}… (${text.length} characters)` : text);
  return errors.map((e) => ({ path: cut(e.path), message: cut(e.message) }));
}

function invalid(identity: Pick<KedaValidationResult, 'kind' | 'name' | 'namespace'>, path: string, message: string): KedaValidationResult {
  return { ...identity, valid: false, errors: bounded([{ path, message }]), warnings: [] };
}

function semanticCheck(kind: KedaKind, object: KedaObject): SemanticResult {
  switch (object.kind) {
    case 'ScaledObject':
      return validateScaledObject(object);
    case 'ScaledJob':
      return validateScaledJob(object);
    case 'TriggerAuthentication':
    case 'ClusterTriggerAuthentication':
      return validateTriggerAuthentication(object);
    default:
      throw new Error(`no semantic rules for ${kind}`);
  }
}

/** The scaler check repeats some KEDA-wide trigger rules; report each problem of a trigger once. */
function withoutRepeats(errors: FieldError[], already: FieldError[]): FieldError[] {
  return errors.filter((e) => !already.some((a) => a.message === e.message && (a.path === e.path || a.path.startsWith(`${e.path}.`))));
}

function triggerErrors(
  kind: KedaKind,
  triggers: readonly { trigger: TriggerSpec; index: number }[],
  validateTrigger: KedaValidatorOptions['validateTrigger'],
): FieldError[] {
  if (!validateTrigger || (kind !== 'ScaledObject' && kind !== 'ScaledJob')) return [];
  return triggers.flatMap(({ trigger, index }) => {
    const path = `spec.triggers[${index}]`;
    try {
      return validateTrigger(trigger).map((message) => ({ path, message }));
    } catch (err) {
      return [{ path, message: `metadata check failed: ${err instanceof Error ? err.message : String(err)}` }];
    }
  });
}
