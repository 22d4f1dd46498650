import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import type { FieldError } from '../apis/keda/v1alpha1/schema-validation.js';
import { isResourceTrigger } from '../apis/keda/v1alpha1/triggers.js';
import { hpaNameFor } from '../apis/keda/v1alpha1/validation.js';
import { hpaOwnership, targetApiVersion, targetKind, type HpaSummary } from '../scaling/target-conflicts.js';

/*
 * The checks KEDA's admission webhook makes against the rest of the cluster, as pure functions of the objects
 * observed: another ScaledObject or a foreign HPA on the same workload, and cpu/memory triggers on containers
 * without requests. Reading the objects is the caller's job.
 */

export interface ContainerResources {
  name: string;
  requests?: Record<string, string | number>;
  limits?: Record<string, string | number>;
}

export interface ScaledObjectClusterFacts {
  /** The other ScaledObjects of the namespace (the one under review may be among them; it is skipped). */
  scaledObjects: readonly ScaledObject[];
  hpas: readonly HpaSummary[];
  /** The target's pod template containers; undefined when the target is not a Deployment/StatefulSet or not found. */
  targetContainers?: readonly ContainerResources[];
  /** Resources that a LimitRange in the namespace gives a default request or limit. */
  limitRangeDefaults: ReadonlySet<string>;
  /** Dry-run requests skip the resource check, as KEDA does. */
  dryRun: boolean;
}

function workload(so: ScaledObject): string {
  return `the workload '${so.spec.scaleTargetRef.name}' of type '${targetApiVersion(so)}.${targetKind(so)}'`;
}

function sameWorkload(a: ScaledObject, b: ScaledObject): boolean {
  const group = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
  return (
    a.spec.scaleTargetRef.name === b.spec.scaleTargetRef.name && targetKind(a) === targetKind(b) && group(targetApiVersion(a)) === group(targetApiVersion(b))
  );
}

/** Everything the cluster says against admitting `so`; empty when it may be admitted. */
export function scaledObjectClusterErrors(so: ScaledObject, facts: ScaledObjectClusterFacts): FieldError[] {
  const others = facts.scaledObjects.filter((other) => other.metadata.name !== so.metadata.name && !other.metadata.deletionTimestamp);
  const errors: FieldError[] = [];
  const rival = others.find((other) => sameWorkload(so, other));
  if (rival) errors.push({ path: 'spec.scaleTargetRef', message: `${workload(so)} is already managed by the ScaledObject '${rival.metadata.name ?? ''}'` });
  const hpaName = hpaNameFor(so);
  const hpaRival = others.find((other) => hpaNameFor(other) === hpaName);
  if (hpaRival)
    errors.push({
      path: 'spec.advanced.horizontalPodAutoscalerConfig.name',
      message: `the HPA '${hpaName}' is already managed by the ScaledObject '${hpaRival.metadata.name ?? ''}'`,
    });
  const ownership = hpaOwnership(
    so,
    facts.hpas.filter((hpa) => !ownedByScaledObjectNamed(hpa, so.metadata.name)),
  );
  if (ownership.kind === 'refuse') errors.push({ path: 'spec.scaleTargetRef', message: ownership.message });
  if (!facts.dryRun) errors.push(...missingRequests(so, facts));
  return errors;
}

/** On CREATE the object has no uid the HPA could point at yet; an HPA already owned by a ScaledObject of this name is ours. */
function ownedByScaledObjectNamed(hpa: HpaSummary, name: string | undefined): boolean {
  const owners = (hpa.metadata.ownerReferences ?? []) as { uid: string; kind?: string; name?: string }[];
  return owners.some((o) => o.kind === 'ScaledObject' && o.name === name);
}

function hasAmount(resources: Record<string, string | number> | undefined, resource: string): boolean {
  const value = resources?.[resource];
  if (value === undefined) return false;
  return Number.parseFloat(String(value)) > 0;
}

function missingRequests(so: ScaledObject, facts: ScaledObjectClusterFacts): FieldError[] {
  const containers = facts.targetContainers;
  if (!containers) return [];
  const errors: FieldError[] = [];
  so.spec.triggers.forEach((trigger, index) => {
    if (!isResourceTrigger(trigger.type) || facts.limitRangeDefaults.has(trigger.type)) return;
    const only = trigger.metadata.containerName;
    const checked = only ? containers.filter((c) => c.name === only) : containers;
    for (const container of checked) {
      if (hasAmount(container.requests, trigger.type) || hasAmount(container.limits, trigger.type)) continue;
      errors.push({
        path: `spec.triggers[${index}]`,
        message: `the scaledobject has a ${trigger.type} trigger but the container ${container.name} doesn't have the ${trigger.type} request defined`,
      });
    }
  });
  return errors;
}

/**
 * An UPDATE that changes nothing KEDA validates (e.g. only removes a finalizer) is not checked again. An object
 * too deep to compare is checked, never waved through.
 */
export function onlyBookkeepingChanged(object: unknown, oldObject: unknown): boolean {
  if (typeof object !== 'object' || object === null || typeof oldObject !== 'object' || oldObject === null) return false;
  const pick = (o: object) => {
    const doc = o as { spec?: unknown; metadata?: { annotations?: unknown; labels?: unknown } };
    return JSON.stringify([doc.spec, doc.metadata?.annotations ?? {}, doc.metadata?.labels ?? {}]);
  };
  try {
    return pick(object) === pick(oldObject);
  } catch {
    return false;
  }
}
