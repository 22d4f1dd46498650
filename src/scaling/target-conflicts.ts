import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { ScaledObjectDefaults } from '../apis/keda/v1alpha1/scaledobject.js';
import { KedaAnnotations } from '../apis/keda/v1alpha1/annotations.js';

/** The fields of an HPA that decide whether it competes with a ScaledObject. */
export interface HpaSummary {
  metadata: { name?: string; annotations?: Record<string, string>; ownerReferences?: { uid: string; controller?: boolean }[] };
  spec?: { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string } };
}

export function targetApiVersion(so: ScaledObject): string {
  return so.spec.scaleTargetRef.apiVersion || ScaledObjectDefaults.scaleTargetApiVersion;
}

export function targetKind(so: ScaledObject): string {
  return so.spec.scaleTargetRef.kind || ScaledObjectDefaults.scaleTargetKind;
}

/** The informer index both conflict checks look objects up by: namespace, group, kind and name of the scaled workload. */
export const ScaleTargetIndex = 'scaleTarget';

function scaleTargetKey(namespace: string, apiVersion: string, kind: string, name: string): string {
  return `${namespace}/${groupOf(apiVersion)}/${kind}/${name}`;
}

/** A ScaledObject's value in {@link ScaleTargetIndex}; none when it names no target (the reconciler reports that). */
export function scaledObjectTargetKeys(so: ScaledObject): string[] {
  const name = so.spec?.scaleTargetRef?.name;
  return name ? [scaleTargetKey(so.metadata.namespace ?? '', targetApiVersion(so), targetKind(so), name)] : [];
}

/** An HPA's value in {@link ScaleTargetIndex}; none when its target lacks a kind or name (it competes with nothing). */
export function hpaTargetKeys(hpa: HpaSummary & { metadata: { namespace?: string } }): string[] {
  const ref = hpa.spec?.scaleTargetRef;
  return ref?.name && ref.kind ? [scaleTargetKey(hpa.metadata.namespace ?? '', ref.apiVersion ?? '', ref.kind, ref.name)] : [];
}

function sameTarget(a: ScaledObject, b: ScaledObject): boolean {
  return (
    a.spec.scaleTargetRef.name === b.spec.scaleTargetRef.name &&
    targetKind(a) === targetKind(b) &&
    groupOf(targetApiVersion(a)) === groupOf(targetApiVersion(b))
  );
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Older object first; the name breaks ties, so every replica of the operator picks the same winner. */
function olderFirst(a: ScaledObject, b: ScaledObject): number {
  const byAge = (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
  return byAge !== 0 ? byAge : (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/**
 * KEDA's webhook refuses a second ScaledObject for a workload; without a webhook both exist, so the operator
 * lets the oldest one keep the workload and refuses the others with this message.
 */
export function competingScaledObject(so: ScaledObject, sameNamespace: readonly ScaledObject[]): string | undefined {
  const rivals = sameNamespace.filter((other) => other.metadata.uid !== so.metadata.uid && !other.metadata.deletionTimestamp && sameTarget(so, other));
  const winner = [...rivals, so].sort(olderFirst)[0];
  if (!winner || winner === so) return undefined;
  return `the workload '${so.spec.scaleTargetRef.name}' of type '${targetApiVersion(so)}.${targetKind(so)}' is already managed by the ScaledObject '${winner.metadata.name ?? ''}'`;
}

export type HpaOwnership = { kind: 'free' } | { kind: 'adopt'; hpaName: string } | { kind: 'refuse'; message: string };

/**
 * Whether an HPA not owned by this ScaledObject already scales its target. KEDA skips HPAs annotated
 * `validations.keda.sh/hpa-ownership: "false"`, and adopts one only with the transfer annotation plus the
 * HPA's name in advanced.horizontalPodAutoscalerConfig.name.
 */
export function hpaOwnership(so: ScaledObject, hpas: readonly HpaSummary[]): HpaOwnership {
  const uid = so.metadata.uid;
  const foreign = hpas.find(
    (hpa) =>
      hpa.spec?.scaleTargetRef?.name === so.spec.scaleTargetRef.name &&
      hpa.spec.scaleTargetRef.kind === targetKind(so) &&
      groupOf(hpa.spec.scaleTargetRef.apiVersion ?? '') === groupOf(targetApiVersion(so)) &&
      !hpa.metadata.ownerReferences?.some((o) => o.uid === uid) &&
      hpa.metadata.annotations?.[KedaAnnotations.hpaOwnershipValidation] !== 'false',
  );
  if (!foreign) return { kind: 'free' };
  const name = foreign.metadata.name ?? '';
  const wanted = so.spec.advanced?.horizontalPodAutoscalerConfig?.name;
  if (so.metadata.annotations?.[KedaAnnotations.transferHpaOwnership] === 'true' && wanted === name) return { kind: 'adopt', hpaName: name };
  const workload = `the workload '${so.spec.scaleTargetRef.name}' of type '${targetApiVersion(so)}.${targetKind(so)}'`;
  if (so.metadata.annotations?.[KedaAnnotations.transferHpaOwnership] === 'true') {
    return {
      kind: 'refuse',
      message: `the existing hpa '${name}' for ${workload.slice(4)} must be specified by name in advanced settings to enable ownership transfer`,
    };
  }
  return { kind: 'refuse', message: `${workload} is already managed by the hpa '${name}'` };
}
