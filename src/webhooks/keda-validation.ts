import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import type { FieldError } from '../apis/keda/v1alpha1/schema-validation.js';
import type { KedaValidator } from '../apis/keda/v1alpha1/validator.js';
import { isNotFound } from '../kube/errors.js';
import type { KubeClient } from '../kube/client.js';
import type { HpaSummary } from '../scaling/target-conflicts.js';
import { targetApiVersion, targetKind } from '../scaling/target-conflicts.js';
import type { AdmissionHandler, AdmissionRequest, AdmissionVerdict } from './admission.js';
import { onlyBookkeepingChanged, scaledObjectClusterErrors, type ContainerResources, type ScaledObjectClusterFacts } from './keda-rules.js';

/** The reads the cluster checks need; the HTTP implementation is {@link kubeClusterReader}. */
export interface KedaClusterReader {
  scaledObjects(namespace: string): Promise<ScaledObject[]>;
  hpas(namespace: string): Promise<HpaSummary[]>;
  /** Containers of a Deployment's or StatefulSet's pod template; undefined for other kinds or when it does not exist. */
  targetContainers(namespace: string, apiVersion: string, kind: string, name: string): Promise<ContainerResources[] | undefined>;
  limitRangeDefaults(namespace: string): Promise<Set<string>>;
}

export const kedaWebhookPaths = {
  scaledObject: '/validate-keda-sh-v1alpha1-scaledobject',
  scaledJob: '/validate-keda-sh-v1alpha1-scaledjob',
  triggerAuthentication: '/validate-keda-sh-v1alpha1-triggerauthentication',
  clusterTriggerAuthentication: '/validate-keda-sh-v1alpha1-clustertriggerauthentication',
} as const;

function describe(kind: string, namespace: string | undefined, name: string, errors: FieldError[]): string {
  const where = namespace ? `${namespace}/${name}` : name;
  return `${kind} ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
}

/**
 * Admission for every KEDA kind: the schema and KEDA's own rules (the same validator `swell validate` uses), then,
 * for ScaledObjects, the checks against the other objects of the namespace.
 */
export function createKedaAdmissionHandler(validator: KedaValidator, reader: KedaClusterReader): AdmissionHandler {
  return async (request: AdmissionRequest): Promise<AdmissionVerdict> => {
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return { allowed: true };
    if (request.operation === 'UPDATE' && onlyBookkeepingChanged(request.object, request.oldObject)) return { allowed: true };
    const result = validator.validate(request.object);
    if (!result) return { allowed: true };
    const warnings = result.warnings.map((w) => `${w.path}: ${w.message}`);
    if (!result.valid)
      return { allowed: false, code: 422, reason: 'Invalid', message: describe(result.kind, result.namespace, result.name, result.errors), warnings };
    if (result.object?.kind !== 'ScaledObject') return { allowed: true, warnings };
    const so = result.object;
    // The request's namespace is the one checked against; an object claiming another is not looked up at all,
    // so no caller learns what is in a namespace it did not write to.
    const namespace = request.namespace ?? so.metadata.namespace ?? '';
    if (so.metadata.namespace !== undefined && so.metadata.namespace !== namespace) {
      return { allowed: false, code: 400, reason: 'BadRequest', message: 'metadata.namespace does not match the namespace of the request', warnings };
    }
    const errors = scaledObjectClusterErrors(so, await observe(reader, so, namespace, request.dryRun === true));
    if (errors.length > 0)
      return { allowed: false, code: 403, reason: 'Forbidden', message: describe('ScaledObject', namespace, so.metadata.name ?? '', errors), warnings };
    return { allowed: true, warnings };
  };
}

async function observe(reader: KedaClusterReader, so: ScaledObject, namespace: string, dryRun: boolean): Promise<ScaledObjectClusterFacts> {
  const needsRequests = !dryRun && so.spec.triggers.some((t) => t.type === 'cpu' || t.type === 'memory');
  const [scaledObjects, hpas, targetContainers, limitRangeDefaults] = await Promise.all([
    reader.scaledObjects(namespace),
    reader.hpas(namespace),
    needsRequests ? reader.targetContainers(namespace, targetApiVersion(so), targetKind(so), so.spec.scaleTargetRef.name) : Promise.resolve(undefined),
    needsRequests ? reader.limitRangeDefaults(namespace) : Promise.resolve(new Set<string>()),
  ]);
  return { scaledObjects, hpas, ...(targetContainers ? { targetContainers } : {}), limitRangeDefaults, dryRun };
}

export interface PodTemplateOwner {
  spec?: { template?: { spec?: { containers?: { name: string; resources?: Omit<ContainerResources, 'name'> }[] } } };
}

interface LimitRangeList {
  items?: { spec?: { limits?: { type?: string; default?: Record<string, unknown>; defaultRequest?: Record<string, unknown> }[] } }[];
}

const enc = encodeURIComponent;

/** What the operator already keeps in memory, for admission to read instead of asking the apiserver. */
export interface AdmissionCaches {
  scaledObjects: { list(): ScaledObject[] };
  hpas: { list(): HpaSummary[] };
  workloads: { deployments: { get(key: string): PodTemplateOwner | undefined }; statefulsets: { get(key: string): PodTemplateOwner | undefined } };
  /** True once every cache was filled; before that the cluster checks are skipped (failing open, with a warning). */
  synced(): boolean;
  /** Whether the caches hold this namespace (an operator watching one namespace holds no other). */
  covers(namespace: string): boolean;
}

/**
 * Reads from the operator's informer caches: no LIST per admission request, so a flood of reviews costs the
 * apiserver nothing, and nothing outside the operator's namespaces is ever read. LimitRanges, read only for
 * cpu/memory triggers, still come from the apiserver.
 */
export function cachedClusterReader(caches: AdmissionCaches, client: KubeClient): KedaClusterReader {
  const inNamespace = <T extends { metadata?: { namespace?: string } }>(items: T[], namespace: string): T[] =>
    items.filter((o) => o.metadata?.namespace === namespace);
  const notReady = (namespace: string): boolean => !caches.synced() || !caches.covers(namespace);
  const direct = kubeClusterReader(client);
  return {
    scaledObjects: (namespace) => Promise.resolve(notReady(namespace) ? [] : inNamespace(caches.scaledObjects.list(), namespace)),
    hpas: (namespace) =>
      Promise.resolve(notReady(namespace) ? [] : inNamespace(caches.hpas.list() as (HpaSummary & { metadata: { namespace?: string } })[], namespace)),
    targetContainers(namespace, apiVersion, kind, name) {
      const cache = apiVersion === 'apps/v1' ? { Deployment: caches.workloads.deployments, StatefulSet: caches.workloads.statefulsets }[kind] : undefined;
      if (!cache || notReady(namespace)) return Promise.resolve(undefined);
      const owner = cache.get(`${namespace}/${name}`);
      return Promise.resolve(
        owner ? (owner.spec?.template?.spec?.containers ?? []).map(({ name: container, resources }) => ({ name: container, ...resources })) : undefined,
      );
    },
    limitRangeDefaults: (namespace) => direct.limitRangeDefaults(namespace),
  };
}

/** Reads what the checks need straight from the apiserver: for a webhook server run without an operator beside it. */
export function kubeClusterReader(client: KubeClient): KedaClusterReader {
  return {
    async scaledObjects(namespace) {
      const list = await client.request<{ items?: ScaledObject[] }>('GET', `/apis/keda.sh/v1alpha1/namespaces/${enc(namespace)}/scaledobjects`);
      return list.items ?? [];
    },
    async hpas(namespace) {
      const list = await client.request<{ items?: HpaSummary[] }>('GET', `/apis/autoscaling/v2/namespaces/${enc(namespace)}/horizontalpodautoscalers`);
      return list.items ?? [];
    },
    async targetContainers(namespace, apiVersion, kind, name) {
      const plural = apiVersion === 'apps/v1' ? { Deployment: 'deployments', StatefulSet: 'statefulsets' }[kind] : undefined;
      if (!plural) return undefined;
      try {
        const owner = await client.request<PodTemplateOwner>('GET', `/apis/apps/v1/namespaces/${enc(namespace)}/${plural}/${enc(name)}`);
        return (owner.spec?.template?.spec?.containers ?? []).map(({ name, resources }) => ({ name, ...resources }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async limitRangeDefaults(namespace) {
      const list = await client.request<LimitRangeList>('GET', `/api/v1/namespaces/${enc(namespace)}/limitranges`);
      const defaults = new Set<string>();
      for (const range of list.items ?? []) {
        for (const limit of range.spec?.limits ?? []) {
          if (limit.type !== 'Container') continue;
          for (const key of [...Object.keys(limit.default ?? {}), ...Object.keys(limit.defaultRequest ?? {})]) defaults.add(key);
        }
      }
      return defaults;
    },
  };
}
