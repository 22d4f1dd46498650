import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { KedaGroup, KedaVersion } from './schema.js';
import { ScaledJobSpecSchema, ScaledJobStatusSchema } from './scaledjob.js';
import { ScaledObjectSpecSchema, ScaledObjectStatusSchema } from './scaledobject.js';
import { TriggerAuthenticationSpecSchema, TriggerAuthenticationStatusSchema } from './triggerauthentication.js';

/** A JSON value as written into a CRD's openAPIV3Schema. */
export type JsonSchemaValue = string | number | boolean | null | JsonSchemaValue[] | { [key: string]: JsonSchemaValue };
export type JsonSchemaObject = { [key: string]: JsonSchemaValue };

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  priority?: number;
}

export interface KedaCrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  description: string;
  spec: TSchema;
  status: TSchema;
  printerColumns: PrinterColumn[];
}

const conditionColumn = (type: string): PrinterColumn => ({
  name: type,
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
});
const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const authenticationColumns: PrinterColumn[] = [
  { name: 'PodIdentity', type: 'string', jsonPath: '.spec.podIdentity.provider' },
  { name: 'Secret', type: 'string', jsonPath: '.spec.secretTargetRef[*].name' },
  { name: 'Env', type: 'string', jsonPath: '.spec.env[*].name' },
  { name: 'VaultAddress', type: 'string', jsonPath: '.spec.hashiCorpVault.address' },
  { name: 'ScaledObjects', type: 'string', jsonPath: '.status.scaledobjects', priority: 1 },
  { name: 'ScaledJobs', type: 'string', jsonPath: '.status.scaledjobs', priority: 1 },
];

/** The four KEDA kinds swell serves, with KEDA's names, short names and printer columns. */
export const kedaCrdDefinitions: readonly KedaCrdDefinition[] = [
  {
    kind: 'ScaledObject',
    plural: 'scaledobjects',
    singular: 'scaledobject',
    shortNames: ['so'],
    scope: 'Namespaced',
    description: 'ScaledObject is a specification for a ScaledObject resource',
    spec: ScaledObjectSpecSchema,
    status: ScaledObjectStatusSchema,
    printerColumns: [
      { name: 'ScaleTargetKind', type: 'string', jsonPath: '.status.scaleTargetKind' },
      { name: 'ScaleTargetName', type: 'string', jsonPath: '.spec.scaleTargetRef.name' },
      { name: 'Min', type: 'integer', jsonPath: '.spec.minReplicaCount' },
      { name: 'Max', type: 'integer', jsonPath: '.spec.maxReplicaCount' },
      conditionColumn('Ready'),
      conditionColumn('Active'),
      conditionColumn('Fallback'),
      conditionColumn('Paused'),
      { name: 'Triggers', type: 'string', jsonPath: '.status.triggersTypes' },
      { name: 'Authentications', type: 'string', jsonPath: '.status.authenticationsTypes' },
      ageColumn,
    ],
  },
  {
    kind: 'ScaledJob',
    plural: 'scaledjobs',
    singular: 'scaledjob',
    shortNames: ['sj'],
    scope: 'Namespaced',
    description: 'ScaledJob is the Schema for the scaledjobs API',
    spec: ScaledJobSpecSchema,
    status: ScaledJobStatusSchema,
    printerColumns: [
      { name: 'Min', type: 'integer', jsonPath: '.spec.minReplicaCount' },
      { name: 'Max', type: 'integer', jsonPath: '.spec.maxReplicaCount' },
      conditionColumn('Ready'),
      conditionColumn('Active'),
      conditionColumn('Paused'),
      { name: 'Triggers', type: 'string', jsonPath: '.status.triggersTypes' },
      { name: 'Authentications', type: 'string', jsonPath: '.status.authenticationsTypes' },
      ageColumn,
    ],
  },
  {
    kind: 'TriggerAuthentication',
    plural: 'triggerauthentications',
    singular: 'triggerauthentication',
    shortNames: ['ta', 'triggerauth'],
    scope: 'Namespaced',
    description: 'TriggerAuthentication defines how a trigger can authenticate',
    spec: TriggerAuthenticationSpecSchema,
    status: TriggerAuthenticationStatusSchema,
    printerColumns: authenticationColumns,
  },
  {
    kind: 'ClusterTriggerAuthentication',
    plural: 'clustertriggerauthentications',
    singular: 'clustertriggerauthentication',
    shortNames: ['cta', 'clustertriggerauth'],
    scope: 'Cluster',
    description: 'ClusterTriggerAuthentication defines how a trigger can authenticate globally',
    spec: TriggerAuthenticationSpecSchema,
    status: TriggerAuthenticationStatusSchema,
    printerColumns: authenticationColumns,
  },
];

/** TypeBox emits `Record<string, X>` under this catch-all pattern. */
const anyKeyPattern = '^(.*)$';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function literalEnum(members: unknown[]): JsonSchemaObject | undefined {
  const values = members.map((m) => (isObject(m) && 'const' in m ? m.const : undefined));
  if (values.length === 0 || !values.every((v) => typeof v === 'string')) return undefined;
  return { type: 'string', enum: values };
}

/**
 * Turns a TypeBox schema into a structural OpenAPI v3 schema the apiserver accepts: string keys only (TypeBox's
 * symbol keys dropped), literal unions as `enum`, records as `additionalProperties`, no `additionalProperties:
 * false` beside `properties`, and int-or-string kept in the only `anyOf` form the apiserver allows.
 */
export function toStructuralSchema(schema: unknown): JsonSchemaObject {
  if (!isObject(schema)) throw new TypeError('schema must be an object');
  const out: JsonSchemaObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$id' || value === undefined) continue;
    if (key === 'additionalProperties' && value === false) continue;
    out[key] = convertKeyword(key, value);
  }
  return reshape(out, schema);
}

function convertKeyword(key: string, value: unknown): JsonSchemaValue {
  switch (key) {
    case 'properties':
    case 'patternProperties':
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toStructuralSchema(v)]));
    case 'items':
    case 'additionalProperties':
      return isObject(value) ? toStructuralSchema(value) : (value as JsonSchemaValue);
    case 'anyOf':
      return (value as unknown[]).map((member) => toStructuralSchema(member));
    default:
      return value as JsonSchemaValue;
  }
}

function reshape(out: JsonSchemaObject, source: Record<string, unknown>): JsonSchemaObject {
  const anyOf = source.anyOf;
  if (Array.isArray(anyOf)) {
    if (out['x-kubernetes-int-or-string'] === true) {
      const stringMember = anyOf.find((m) => isObject(m) && m.type === 'string') as Record<string, unknown> | undefined;
      const pattern = stringMember?.pattern;
      const { anyOf: _dropped, ...rest } = out;
      return { ...rest, anyOf: [{ type: 'integer' }, { type: 'string' }], ...(typeof pattern === 'string' ? { pattern } : {}) };
    }
    const asEnum = literalEnum(anyOf);
    if (asEnum) {
      const { anyOf: _dropped, ...rest } = out;
      return { ...rest, ...asEnum };
    }
    throw new Error(`union is not expressible in a structural schema: ${JSON.stringify(out)}`);
  }
  const patterns = out.patternProperties;
  if (isObject(patterns)) {
    const valueSchema = patterns[anyKeyPattern];
    if (Object.keys(patterns).length !== 1 || valueSchema === undefined) throw new Error('only catch-all records can be serialised');
    const { patternProperties: _dropped, ...rest } = out;
    return { ...rest, additionalProperties: valueSchema };
  }
  if (out['x-kubernetes-preserve-unknown-fields'] === true && isObject(out.properties) && Object.keys(out.properties).length === 0) {
    const { properties: _dropped, ...rest } = out;
    return rest;
  }
  return out;
}

function rootSchema(def: KedaCrdDefinition): JsonSchemaObject {
  return {
    description: def.description,
    type: 'object',
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      // The apiserver owns ObjectMeta; a CRD may not describe it beyond this.
      metadata: { type: 'object' },
      spec: toStructuralSchema(def.spec),
      status: toStructuralSchema(def.status),
    },
    required: ['spec'],
  };
}

/** An apiextensions.k8s.io/v1 CustomResourceDefinition for one KEDA kind. */
export function buildCustomResourceDefinition(def: KedaCrdDefinition): JsonSchemaObject {
  const printerColumns: JsonSchemaObject[] = def.printerColumns.map((c) => ({ ...c }));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${KedaGroup}`, labels: { 'app.kubernetes.io/part-of': 'swell' } },
    spec: {
      group: KedaGroup,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: ['keda'],
      },
      scope: def.scope,
      versions: [
        {
          name: KedaVersion,
          served: true,
          storage: true,
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema: rootSchema(def) },
          subresources: { status: {} },
        },
      ],
    },
  };
}

export function crdFileName(def: KedaCrdDefinition): string {
  return `${KedaGroup}_${def.plural}.yaml`;
}

/** Deterministic YAML (sorted keys, no folding) so the committed files can be compared byte for byte. */
export function renderCrdYaml(def: KedaCrdDefinition): string {
  return `---\n${stringify(buildCustomResourceDefinition(def), { sortMapEntries: true, lineWidth: 0, aliasDuplicateObjects: false })}`;
}
