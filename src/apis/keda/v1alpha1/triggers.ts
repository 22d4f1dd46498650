import { Type, type Static } from '@sinclair/typebox';
import { StringEnum, StringMap, Struct } from './schema.js';

export const AuthenticationRefKinds = ['TriggerAuthentication', 'ClusterTriggerAuthentication'] as const;

export const AuthenticationRefSchema = Struct(
  {
    name: Type.String({ minLength: 1 }),
    kind: Type.Optional(StringEnum(AuthenticationRefKinds, { description: 'Kind of the resource being referred to. Defaults to TriggerAuthentication.' })),
  },
  { description: 'Points to the TriggerAuthentication or ClusterTriggerAuthentication used to authenticate the scaler' },
);

export const MetricTargetTypes = ['AverageValue', 'Value', 'Utilization'] as const;
export type MetricTargetType = (typeof MetricTargetTypes)[number];

export const TriggerSchema = Struct(
  {
    type: Type.String({ minLength: 1 }),
    name: Type.Optional(Type.String()),
    useCachedMetrics: Type.Optional(Type.Boolean()),
    metadata: StringMap(),
    authenticationRef: Type.Optional(AuthenticationRefSchema),
    metricType: Type.Optional(StringEnum(MetricTargetTypes, { description: 'Empty means AverageValue; Utilization is only valid for cpu and memory' })),
  },
  { description: 'A scaler that feeds the scaling decision' },
);

export const TriggersSchema = Type.Array(TriggerSchema, { minItems: 1 });

export type AuthenticationRef = Static<typeof AuthenticationRefSchema>;
/** One entry of `spec.triggers` (ScaledObject and ScaledJob share it). */
export type TriggerSpec = Static<typeof TriggerSchema>;

/** Triggers served by the Kubernetes resource metrics API rather than by a swell scaler. */
export function isResourceTrigger(type: string): type is 'cpu' | 'memory' {
  return type === 'cpu' || type === 'memory';
}
