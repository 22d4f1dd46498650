import type { V1JobSpec } from '@kubernetes/client-node';
import { Type, type Static } from '@sinclair/typebox';
import { ConditionsSchema, Int32, Int64, KedaResource, StringEnum, Struct } from './schema.js';
import { TriggersSchema } from './triggers.js';

/** Defaults KEDA applies in code (see ScaledObjectDefaults for why they are not CRD defaults). */
export const ScaledJobDefaults = {
  pollingInterval: 30,
  successfulJobsHistoryLimit: 100,
  failedJobsHistoryLimit: 100,
  minReplicaCount: 0,
  maxReplicaCount: 100,
  scalingStrategy: 'default',
  multipleScalersCalculation: 'max',
  rolloutStrategy: 'immediate',
  propagationPolicy: 'background',
} as const;

/*
 * The Job template is a full batch/v1 JobSpec. Only the top-level scalars are typed here; the pod template is
 * kept whole (preserve-unknown-fields) because the apiserver validates it again when swell creates each Job.
 */
const JobTargetRefObject = Type.Object(
  {
    template: Type.Object({}, { 'x-kubernetes-preserve-unknown-fields': true, description: 'Pod template of each Job' }),
    parallelism: Type.Optional(Int32({ minimum: 0 })),
    completions: Type.Optional(Int32({ minimum: 0 })),
    activeDeadlineSeconds: Type.Optional(Int64({ minimum: 1 })),
    backoffLimit: Type.Optional(Int32({ minimum: 0 })),
    ttlSecondsAfterFinished: Type.Optional(Int32({ minimum: 0 })),
    completionMode: Type.Optional(Type.String()),
    suspend: Type.Optional(Type.Boolean()),
  },
  { 'x-kubernetes-preserve-unknown-fields': true, description: 'JobSpec describes how the job execution will look like.' },
);
/** Typed as client-node's V1JobSpec so the Job creator can hand it straight to the API. */
export const JobTargetRefSchema = Type.Unsafe<V1JobSpec>(JobTargetRefObject);

export const ScaledJobStrategies = ['default', 'custom', 'accurate', 'eager'] as const;
export type ScaledJobStrategy = (typeof ScaledJobStrategies)[number];
export const MultipleScalersCalculations = ['min', 'avg', 'sum', 'max'] as const;
export type MultipleScalersCalculation = (typeof MultipleScalersCalculations)[number];
const RolloutStrategies = ['gradual', 'immediate'] as const;

export const ScalingStrategySchema = Struct({
  strategy: Type.Optional(StringEnum(ScaledJobStrategies)),
  customScalingQueueLengthDeduction: Type.Optional(Int32()),
  customScalingRunningJobPercentage: Type.Optional(Type.String({ description: 'A float, e.g. "0.5"; unparsable values select the default strategy' })),
  pendingPodConditions: Type.Optional(Type.Array(Type.String())),
  multipleScalersCalculation: Type.Optional(StringEnum(MultipleScalersCalculations)),
});

export const ScaledJobSpecSchema = Struct(
  {
    jobTargetRef: JobTargetRefSchema,
    pollingInterval: Type.Optional(Int32({ minimum: 1 })),
    successfulJobsHistoryLimit: Type.Optional(Int32({ minimum: 0 })),
    failedJobsHistoryLimit: Type.Optional(Int32({ minimum: 0 })),
    envSourceContainerName: Type.Optional(Type.String()),
    minReplicaCount: Type.Optional(Int32({ minimum: 0 })),
    maxReplicaCount: Type.Optional(Int32({ minimum: 0 })),
    rolloutStrategy: Type.Optional(StringEnum(RolloutStrategies, { description: 'Deprecated: use rollout.strategy' })),
    rollout: Type.Optional(
      Struct({
        strategy: Type.Optional(StringEnum(RolloutStrategies)),
        propagationPolicy: Type.Optional(StringEnum(['foreground', 'background'] as const)),
      }),
    ),
    scalingStrategy: Type.Optional(ScalingStrategySchema),
    triggers: TriggersSchema,
  },
  { description: 'ScaledJobSpec defines the desired state of ScaledJob' },
);

export const ScaledJobStatusSchema = Struct(
  {
    lastActiveTime: Type.Optional(Type.String({ format: 'date-time' })),
    conditions: Type.Optional(ConditionsSchema),
    // KEDA spells this key with a capital P; kept for compatibility with existing objects.
    Paused: Type.Optional(Type.String()),
    triggersTypes: Type.Optional(Type.String()),
    authenticationsTypes: Type.Optional(Type.String()),
    externalMetricNames: Type.Optional(Type.Array(Type.String())),
    triggersActivity: Type.Optional(Type.Record(Type.String(), Struct({ isActive: Type.Boolean() }))),
  },
  { description: 'ScaledJobStatus defines the observed state of ScaledJob' },
);

export const ScaledJobSchema = KedaResource('ScaledJob', ScaledJobSpecSchema, ScaledJobStatusSchema, 'ScaledJob is the Schema for the scaledjobs API');

export type ScalingStrategy = Static<typeof ScalingStrategySchema>;
export type ScaledJobSpec = Static<typeof ScaledJobSpecSchema>;
export type ScaledJobStatus = Static<typeof ScaledJobStatusSchema>;
export type ScaledJob = Static<typeof ScaledJobSchema>;
