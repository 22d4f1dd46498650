import { Type, type Static } from '@sinclair/typebox';
import { ConditionsSchema, Int32, KedaResource, Quantity, StringEnum, Struct } from './schema.js';
import { TriggersSchema } from './triggers.js';

/**
 * Defaults KEDA applies in code rather than in its CRD. They stay out of the schema on purpose: a CRD default
 * would be persisted by the apiserver, changing what users see (`kubectl get so` Min/Max columns) and making
 * "field set by the user" checks (the pollingInterval/cooldownPeriod warnings) fire for everyone.
 */
export const ScaledObjectDefaults = {
  pollingInterval: 30,
  cooldownPeriod: 300,
  initialCooldownPeriod: 0,
  minReplicaCount: 0,
  maxReplicaCount: 100,
  scaleTargetApiVersion: 'apps/v1',
  scaleTargetKind: 'Deployment',
} as const;

const ScalingPolicySchema = Struct({
  type: StringEnum(['Pods', 'Percent'] as const),
  value: Int32({ minimum: 1 }),
  periodSeconds: Int32({ minimum: 1, maximum: 1800 }),
});

const ScalingRulesSchema = Struct({
  stabilizationWindowSeconds: Type.Optional(Int32({ minimum: 0, maximum: 3600 })),
  selectPolicy: Type.Optional(StringEnum(['Max', 'Min', 'Disabled'] as const)),
  policies: Type.Optional(Type.Array(ScalingPolicySchema, { 'x-kubernetes-list-type': 'atomic' })),
  tolerance: Type.Optional(Quantity()),
});

export const HpaBehaviorSchema = Struct(
  { scaleUp: Type.Optional(ScalingRulesSchema), scaleDown: Type.Optional(ScalingRulesSchema) },
  { description: 'autoscaling/v2 HorizontalPodAutoscalerBehavior, copied verbatim into the generated HPA' },
);

export const ScalingModifiersMetricTypes = ['AverageValue', 'Value'] as const;

export const ScalingModifiersSchema = Struct({
  formula: Type.Optional(Type.String()),
  target: Type.Optional(Type.String()),
  activationTarget: Type.Optional(Type.String()),
  metricType: Type.Optional(StringEnum(ScalingModifiersMetricTypes)),
});

export const AdvancedSchema = Struct({
  horizontalPodAutoscalerConfig: Type.Optional(
    Struct({
      name: Type.Optional(Type.String()),
      behavior: Type.Optional(HpaBehaviorSchema),
    }),
  ),
  restoreToOriginalReplicaCount: Type.Optional(Type.Boolean()),
  scalingModifiers: Type.Optional(ScalingModifiersSchema),
});

export const FallbackBehaviors = ['static', 'currentReplicas', 'currentReplicasIfHigher', 'currentReplicasIfLower', 'scalingModifiers'] as const;
export type FallbackBehavior = (typeof FallbackBehaviors)[number];

export const FallbackSchema = Struct({
  failureThreshold: Int32({ minimum: 0 }),
  replicas: Int32({ minimum: 0 }),
  behavior: Type.Optional(StringEnum(FallbackBehaviors, { default: 'static' })),
});

export const ScaleTargetRefSchema = Struct({
  name: Type.String({ minLength: 1 }),
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  envSourceContainerName: Type.Optional(Type.String()),
});

/** Mirrors the CEL rule KEDA puts on the spec; the semantic validator repeats it for clients without an apiserver. */
const minNotAboveMax = {
  rule: '(has(self.minReplicaCount) ? self.minReplicaCount : 0) <= (has(self.maxReplicaCount) ? self.maxReplicaCount : 100)',
  message: 'minReplicaCount must be less than or equal to maxReplicaCount',
};

export const ScaledObjectSpecSchema = Struct(
  {
    scaleTargetRef: ScaleTargetRefSchema,
    pollingInterval: Type.Optional(Int32({ minimum: 1 })),
    initialCooldownPeriod: Type.Optional(Int32({ minimum: 0 })),
    cooldownPeriod: Type.Optional(Int32({ minimum: 0 })),
    idleReplicaCount: Type.Optional(Int32({ minimum: 0 })),
    minReplicaCount: Type.Optional(Int32({ minimum: 0 })),
    maxReplicaCount: Type.Optional(Int32({ minimum: 1 })),
    advanced: Type.Optional(AdvancedSchema),
    triggers: TriggersSchema,
    fallback: Type.Optional(FallbackSchema),
  },
  { description: 'ScaledObjectSpec is the spec for a ScaledObject resource', 'x-kubernetes-validations': [minNotAboveMax] },
);

export const HealthStatusSchema = Struct({
  numberOfFailures: Type.Optional(Int32()),
  status: Type.Optional(StringEnum(['Happy', 'Failing'] as const)),
});

export const ScaledObjectStatusSchema = Struct(
  {
    scaleTargetKind: Type.Optional(Type.String()),
    scaleTargetGVKR: Type.Optional(Struct({ group: Type.String(), version: Type.String(), kind: Type.String(), resource: Type.String() })),
    originalReplicaCount: Type.Optional(Int32()),
    lastActiveTime: Type.Optional(Type.String({ format: 'date-time' })),
    externalMetricNames: Type.Optional(Type.Array(Type.String())),
    resourceMetricNames: Type.Optional(Type.Array(Type.String())),
    compositeScalerName: Type.Optional(Type.String()),
    conditions: Type.Optional(ConditionsSchema),
    health: Type.Optional(Type.Record(Type.String(), HealthStatusSchema)),
    triggersActivity: Type.Optional(Type.Record(Type.String(), Struct({ isActive: Type.Boolean() }))),
    pausedReplicaCount: Type.Optional(Int32()),
    hpaName: Type.Optional(Type.String()),
    triggersTypes: Type.Optional(Type.String()),
    authenticationsTypes: Type.Optional(Type.String()),
  },
  { description: 'ScaledObjectStatus is the status for a ScaledObject resource' },
);

export const ScaledObjectSchema = KedaResource(
  'ScaledObject',
  ScaledObjectSpecSchema,
  ScaledObjectStatusSchema,
  'ScaledObject is a specification for a ScaledObject resource',
);

export type HpaBehavior = Static<typeof HpaBehaviorSchema>;
export type ScalingModifiers = Static<typeof ScalingModifiersSchema>;
export type Fallback = Static<typeof FallbackSchema>;
export type ScaleTargetRef = Static<typeof ScaleTargetRefSchema>;
export type ScaledObjectSpec = Static<typeof ScaledObjectSpecSchema>;
export type HealthStatus = Static<typeof HealthStatusSchema>;
export type ScaledObjectStatus = Static<typeof ScaledObjectStatusSchema>;
export type ScaledObject = Static<typeof ScaledObjectSchema>;

/** True when `advanced.scalingModifiers` is set to anything (KEDA compares it with the empty struct). */
export function usesScalingModifiers(modifiers: ScalingModifiers | undefined): modifiers is ScalingModifiers {
  return modifiers !== undefined && Object.values(modifiers).some((v) => v !== undefined && v !== '');
}
