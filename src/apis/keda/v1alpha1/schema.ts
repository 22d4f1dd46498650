import { Type, type ObjectOptions, type SchemaOptions, type TLiteral, type TProperties, type TSchema, type TUnion } from '@sinclair/typebox';

/*
 * Building blocks shared by the four KEDA kinds. Each helper produces a plain TypeBox schema that both the
 * runtime validator and the CRD serialiser understand; the serialiser (crd.ts) translates the few TypeBox
 * idioms that are not structural OpenAPI (literal unions, records, closed objects) into their CRD form.
 */

export const KedaGroup = 'keda.sh';
export const KedaVersion = 'v1alpha1';
export const KedaApiVersion = `${KedaGroup}/${KedaVersion}`;

/** A closed object: unknown fields are errors at validation time and are pruned by the apiserver. */
export function Struct<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export function Int32(options: SchemaOptions = {}) {
  return Type.Integer({ format: 'int32', ...options });
}

export function Int64(options: SchemaOptions = {}) {
  return Type.Integer({ format: 'int64', ...options });
}

/** A string drawn from a fixed set; serialised to the CRD as `type: string` plus `enum`. */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  );
}

/** map[string]string; serialised as `additionalProperties: {type: string}` like KEDA's trigger metadata. */
export function StringMap(options: ObjectOptions = {}) {
  return Type.Record(Type.String(), Type.String(), options);
}

const quantityPattern = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A Kubernetes resource.Quantity, which the apiserver accepts as an integer or a string. */
export function Quantity(options: SchemaOptions = {}) {
  return Type.Union([Type.Integer(), Type.String({ pattern: quantityPattern })], { 'x-kubernetes-int-or-string': true, ...options });
}

/** Condition as KEDA stores it: no timestamps, only type/status/reason/message. */
export const ConditionSchema = Struct(
  {
    type: Type.String({ description: 'Type of condition' }),
    status: Type.String({ description: 'Status of the condition, one of True, False, Unknown.' }),
    reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
    message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
  },
  { description: 'Condition to store the condition state' },
);

export const ConditionsSchema = Type.Array(ConditionSchema, { description: 'Conditions an array representation to store multiple Conditions' });

/**
 * Only the metadata fields swell reads. The apiserver owns the real ObjectMeta schema, so the CRD emits a bare
 * `type: object` here; extra fields (uid, resourceVersion, managedFields...) are accepted.
 */
export const ObjectMetaSchema = Type.Object({
  name: Type.Optional(Type.String()),
  generateName: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
  creationTimestamp: Type.Optional(Type.String()),
  deletionTimestamp: Type.Optional(Type.String()),
  labels: Type.Optional(StringMap()),
  annotations: Type.Optional(StringMap()),
  finalizers: Type.Optional(Type.Array(Type.String())),
});

/** Root of a KEDA object: apiVersion and kind are pinned, metadata is loose, spec and status come from the kind. */
export function KedaResource<K extends string, S extends TSchema, St extends TSchema>(kind: K, spec: S, status: St, description: string) {
  return Type.Object(
    {
      apiVersion: Type.Literal(KedaApiVersion),
      kind: Type.Literal(kind),
      metadata: ObjectMetaSchema,
      spec,
      status: Type.Optional(status),
    },
    { description },
  );
}
