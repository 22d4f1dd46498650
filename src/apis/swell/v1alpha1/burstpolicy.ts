import { Type, type Static } from '@sinclair/typebox';
import { ConditionsSchema, Int32, ObjectMetaSchema, StringEnum, StringMap, Struct } from '../../keda/v1alpha1/schema.js';

export const SwellGroup = 'swell.dev';
export const SwellVersion = 'v1alpha1';
export const SwellApiVersion = `${SwellGroup}/${SwellVersion}`;

/** Go-style durations ("90s", "1m30s", "500ms"); the apiserver checks the form, {@link parseDurationMs} the value. */
export const durationPattern = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

/**
 * Defaults applied in code, not in the CRD, so `kubectl get bp -o yaml` shows what the user wrote. The virtual
 * node defaults match swell's own virtual node (and virtual-kubelet's conventions).
 */
export const BurstPolicyDefaults = {
  pendingTimeout: '60s',
  rebalanceInterval: '30s',
  virtualNodeSelector: { type: 'virtual-kubelet' } as Record<string, string>,
  virtualNodeTolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' }] as Toleration[],
} as const;

export const TolerationSchema = Struct({
  key: Type.Optional(Type.String()),
  operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const)),
  value: Type.Optional(Type.String()),
  effect: Type.Optional(StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
  tolerationSeconds: Type.Optional(Type.Integer({ format: 'int64' })),
});

export const BurstTargetRefSchema = Struct({
  apiVersion: Type.Optional(Type.String({ description: 'apps/v1 (default)' })),
  kind: Type.Optional(StringEnum(['Deployment', 'StatefulSet'] as const, { description: 'Deployment (default) or StatefulSet' })),
  name: Type.String({ minLength: 1 }),
});

export const VirtualNodeSchema = Struct(
  {
    nodeSelector: Type.Optional(StringMap({ description: 'Labels of the virtual node; default type=virtual-kubelet' })),
    tolerations: Type.Optional(Type.Array(TolerationSchema, { description: 'Default: tolerate virtual-kubelet.io/provider' })),
  },
  { description: 'How burst pods are steered onto the virtual node' },
);

export const RebalanceSchema = Struct(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Move burst pods back to regular nodes when they have room (default true)' })),
    interval: Type.Optional(Type.String({ pattern: durationPattern, description: 'Least time between two moves (default 30s)' })),
  },
  { description: 'Moving burst pods back to regular nodes, one at a time' },
);

export const BurstPolicySpecSchema = Struct(
  {
    scaleTargetRef: BurstTargetRefSchema,
    baseReplicas: Type.Optional(Int32({ minimum: 0, description: 'Pods allowed on regular nodes; unset means as many as fit' })),
    maxBurstReplicas: Type.Optional(Int32({ minimum: 0, description: 'Most pods on the virtual node at once; unset means no limit' })),
    virtualNode: Type.Optional(VirtualNodeSchema),
    pendingTimeout: Type.Optional(Type.String({ pattern: durationPattern, description: 'A regular pod unschedulable this long bursts instead (default 60s)' })),
    rebalance: Type.Optional(RebalanceSchema),
  },
  { description: 'BurstPolicySpec says where the replicas of one workload run: base on regular nodes, burst on the virtual node' },
);

export const BurstPolicyStatusSchema = Struct(
  {
    observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
    desiredReplicas: Type.Optional(Int32()),
    baseReplicas: Type.Optional(Int32({ description: 'Pods of the workload on (or bound for) regular nodes' })),
    burstReplicas: Type.Optional(Int32({ description: 'Pods of the workload on (or bound for) the virtual node' })),
    waitingReplicas: Type.Optional(Int32({ description: 'Regular pods unschedulable, waiting for pendingTimeout to burst' })),
    cost: Type.Optional(Type.String({ description: 'Virtual node cost of this workload so far, US dollars' })),
    lastRebalanceTime: Type.Optional(Type.String({ format: 'date-time' })),
    conditions: Type.Optional(ConditionsSchema),
  },
  { description: 'BurstPolicyStatus reports where the replicas run and what the burst has cost' },
);

export const BurstPolicySchema = Type.Object(
  {
    apiVersion: Type.Literal(SwellApiVersion),
    kind: Type.Literal('BurstPolicy'),
    metadata: ObjectMetaSchema,
    spec: BurstPolicySpecSchema,
    status: Type.Optional(BurstPolicyStatusSchema),
  },
  { description: 'BurstPolicy decides where the replicas of a workload run: regular nodes first, the virtual node for the burst' },
);

export type Toleration = Static<typeof TolerationSchema>;
export type BurstTargetRef = Static<typeof BurstTargetRefSchema>;
export type BurstPolicySpec = Static<typeof BurstPolicySpecSchema>;
export type BurstPolicyStatus = Static<typeof BurstPolicyStatusSchema>;
export type BurstPolicy = Static<typeof BurstPolicySchema>;
