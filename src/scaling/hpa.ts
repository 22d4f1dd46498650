import { isDeepStrictEqual } from 'node:util';
import type { V2HorizontalPodAutoscaler, V2HorizontalPodAutoscalerBehavior, V2HPAScalingRules, V2MetricSpec, V2MetricTarget } from '@kubernetes/client-node';
import type { MetricSpec } from '../../scalers/scaler.js';
import { excludedLabelKeys, KedaAnnotations, KedaLabels, readPauseState } from '../apis/keda/v1alpha1/annotations.js';
import { KedaApiVersion } from '../apis/keda/v1alpha1/schema.js';
import { ScaledObjectDefaults, type HpaBehavior, type ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { hpaNameFor } from '../apis/keda/v1alpha1/validation.js';
import { activeScalingModifiers, CompositeMetricName } from './formula.js';
import { formatQuantity, sameQuantity } from '../kube/quantity.js';

/*
 * The autoscaling/v2 HPA swell owns for a ScaledObject, built the way KEDA builds it so that dashboards,
 * label selectors and `kubectl get hpa` look the same, plus the drift check that decides when to rewrite it.
 */

export interface HpaBuildInput {
  scaledObject: Pick<ScaledObject, 'metadata' | 'spec'>;
  /** The scalers' metric specs in trigger order; External names already carry their s<index>- prefix. */
  metrics: readonly MetricSpec[];
  /** The resolved scale target (apiVersion is group/version). */
  scaleTarget: { apiVersion: string; kind: string; name: string };
  /** Written to app.kubernetes.io/version. */
  version: string;
  /** app.kubernetes.io/managed-by; KEDA's value by default so existing selectors keep matching. */
  managedBy?: string;
}

export type HpaBuildResult = { ok: true; hpa: V2HorizontalPodAutoscaler } | { ok: false; error: string };

/** KEDA's GetHPAMinReplicas: the HPA never goes below 1; zero is reached by writing /scale directly. */
export function hpaMinReplicas(minReplicaCount: number | undefined): number {
  return Math.max(minReplicaCount ?? ScaledObjectDefaults.minReplicaCount, 1);
}

export function buildHpa(input: HpaBuildInput): HpaBuildResult {
  const { scaledObject: so } = input;
  const soName = so.metadata.name ?? '';
  const metrics = hpaMetrics(input);
  if (!metrics.ok) return metrics;
  const hpaName = hpaNameFor(so);
  const behavior = hpaBehavior(so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior, so.metadata.annotations);
  const hpa: V2HorizontalPodAutoscaler = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: {
      name: hpaName,
      ...(so.metadata.namespace !== undefined ? { namespace: so.metadata.namespace } : {}),
      labels: hpaLabels(input, hpaName),
      annotations: { ...so.metadata.annotations },
      ownerReferences: [
        { apiVersion: KedaApiVersion, kind: 'ScaledObject', name: soName, uid: so.metadata.uid ?? '', controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      scaleTargetRef: { apiVersion: input.scaleTarget.apiVersion, kind: input.scaleTarget.kind, name: input.scaleTarget.name },
      minReplicas: hpaMinReplicas(so.spec.minReplicaCount),
      maxReplicas: so.spec.maxReplicaCount ?? ScaledObjectDefaults.maxReplicaCount,
      metrics: metrics.value,
      ...(behavior ? { behavior } : {}),
    },
  };
  return { ok: true, hpa };
}

function hpaLabels(input: HpaBuildInput, hpaName: string): Record<string, string> {
  const so = input.scaledObject;
  const excluded = excludedLabelKeys(so.metadata.annotations, KedaAnnotations.hpaExcludedLabels);
  const own = Object.entries(so.metadata.labels ?? {}).filter(([key]) => !excluded.has(key));
  return {
    'app.kubernetes.io/name': hpaName.slice(0, 63).replace(/[^A-Za-z0-9]+$/, ''),
    'app.kubernetes.io/version': input.version,
    'app.kubernetes.io/part-of': so.metadata.name ?? '',
    'app.kubernetes.io/managed-by': input.managedBy ?? 'keda-operator',
    ...Object.fromEntries(own),
  };
}

function metricTarget(targetType: MetricSpec['targetType'], target: number): V2MetricTarget {
  switch (targetType) {
    case 'Utilization':
      return { type: 'Utilization', averageUtilization: Math.round(target) };
    case 'AverageValue':
      return { type: 'AverageValue', averageValue: formatQuantity(target) };
    case 'Value':
      return { type: 'Value', value: formatQuantity(target) };
  }
}

function toHpaMetric(spec: MetricSpec, selector: Record<string, string>): V2MetricSpec {
  const target = metricTarget(spec.targetType, spec.target);
  if (spec.kind === 'External') return { type: 'External', external: { metric: { name: spec.metricName, selector: { matchLabels: selector } }, target } };
  if (spec.containerName) return { type: 'ContainerResource', containerResource: { name: spec.resource, container: spec.containerName, target } };
  return { type: 'Resource', resource: { name: spec.resource, target } };
}

function hpaMetrics(input: HpaBuildInput): { ok: true; value: V2MetricSpec[] } | { ok: false; error: string } {
  const soName = input.scaledObject.metadata.name ?? '';
  if (input.metrics.length === 0)
    return { ok: false, error: `no metric specs returned from scalers for ScaledObject ${soName}, the scalers may be unreachable` };
  const seen = new Set<string>();
  for (const spec of input.metrics) {
    if (spec.kind !== 'External') continue;
    if (seen.has(spec.metricName)) return { ok: false, error: `metricName ${spec.metricName} defined multiple times in ScaledObject ${soName}` };
    seen.add(spec.metricName);
  }
  const selector = { [KedaLabels.scaledObjectName]: soName };
  const composite = compositeMetric(input.scaledObject.spec);
  const specs: MetricSpec[] = composite ? [...input.metrics.filter((m) => m.kind === 'Resource'), composite] : [...input.metrics];
  // Sorted by HPA metric type (ContainerResource < External < Resource), stable within a type, to avoid churn.
  const metrics = specs.map((spec) => toHpaMetric(spec, selector));
  return { ok: true, value: metrics.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)) };
}

/** With a scalingModifiers formula and a positive target, all external metrics collapse into one. */
function compositeMetric(spec: ScaledObject['spec']): MetricSpec | undefined {
  const modifiers = activeScalingModifiers(spec);
  return modifiers && { kind: 'External', metricName: CompositeMetricName, targetType: modifiers.metricType, target: modifiers.target };
}

function copyRules(rules: HpaBehavior['scaleUp']): V2HPAScalingRules | undefined {
  if (!rules) return undefined;
  const { tolerance, policies, ...rest } = rules;
  return {
    ...rest,
    ...(policies ? { policies: policies.map((p) => ({ ...p })) } : {}),
    ...(tolerance !== undefined ? { tolerance: String(tolerance) } : {}),
  };
}

/** The user's behavior, with scale-in/out disabled by the paused-scale-in/out annotations. */
function hpaBehavior(
  behavior: HpaBehavior | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
): V2HorizontalPodAutoscalerBehavior | undefined {
  const pause = readPauseState(annotations);
  const scaleUp = copyRules(behavior?.scaleUp);
  const scaleDown = copyRules(behavior?.scaleDown);
  const result: V2HorizontalPodAutoscalerBehavior = {
    ...(scaleUp || pause.pausedScaleOut ? { scaleUp: { ...scaleUp, ...(pause.pausedScaleOut ? { selectPolicy: 'Disabled' } : {}) } } : {}),
    ...(scaleDown || pause.pausedScaleIn ? { scaleDown: { ...scaleDown, ...(pause.pausedScaleIn ? { selectPolicy: 'Disabled' } : {}) } } : {}),
  };
  return behavior || pause.pausedScaleIn || pause.pausedScaleOut ? result : undefined;
}

const quantityKeys = new Set(['averageValue', 'value', 'tolerance']);

/**
 * True when every field set in `desired` has the same value in `observed` (fields the apiserver defaulted or
 * other controllers added are ignored), comparing quantities by value because the apiserver rewrites "1000" as
 * "1k".
 */
export function isDerivative(desired: unknown, observed: unknown, key = ''): boolean {
  if (desired === undefined || desired === null) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(observed) && observed.length === desired.length && desired.every((d, i) => isDerivative(d, observed[i] as unknown, key));
  }
  if (typeof desired === 'object') {
    if (typeof observed !== 'object' || observed === null || Array.isArray(observed)) return false;
    return Object.entries(desired).every(([k, v]) => isDerivative(v, (observed as Record<string, unknown>)[k], k));
  }
  if (quantityKeys.has(key) && (typeof desired === 'string' || typeof desired === 'number') && (typeof observed === 'string' || typeof observed === 'number')) {
    return sameQuantity(desired, observed);
  }
  return isDeepStrictEqual(desired, observed);
}

/** KEDA's update check for its HPA: metric count, behavior, spec, labels and annotations. */
export function hpaNeedsUpdate(desired: V2HorizontalPodAutoscaler, observed: V2HorizontalPodAutoscaler): boolean {
  const want = desired.spec;
  const have = observed.spec;
  if (!want || !have) return want !== have;
  if ((want.metrics?.length ?? 0) !== (have.metrics?.length ?? 0)) return true;
  if (want.behavior === undefined ? have.behavior !== undefined && !isEmptyBehavior(have.behavior) : !isDerivative(want.behavior, have.behavior)) return true;
  if (!isDerivative({ ...want, behavior: undefined }, have)) return true;
  return (
    !isDerivative(desired.metadata?.labels, observed.metadata?.labels ?? {}) ||
    !isDerivative(desired.metadata?.annotations, observed.metadata?.annotations ?? {})
  );
}

function isEmptyBehavior(behavior: V2HorizontalPodAutoscalerBehavior): boolean {
  return behavior.scaleUp === undefined && behavior.scaleDown === undefined;
}
