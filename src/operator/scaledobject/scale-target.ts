import { isNotFound } from '../../kube/errors.js';
import { resourcePath, type KubeClient } from '../../kube/client.js';

/** Group, version, kind and resource of a scale target, as KEDA records it in status.scaleTargetGVKR. */
export interface Gvkr {
  group: string;
  version: string;
  kind: string;
  resource: string;
}

export interface ScaleState {
  /** spec.replicas of the /scale subresource. */
  replicas: number;
  /** status.selector: the label selector of the target's pods, when the resource publishes one. */
  selector?: string;
}

/** The target is missing or cannot be scaled; the message is what the user sees in the Ready condition. */
export class ScaleTargetError extends Error {
  override name = 'ScaleTargetError';
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced?: boolean }[];
}

interface ScaleObject {
  spec?: { replicas?: number };
  status?: { replicas?: number; selector?: string };
}

/** "apps/v1" → {group: "apps", version: "v1"}; "v1" → core group. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** KEDA's scaleTargetKind: "apps/v1.Deployment". */
export function scaleTargetKind(gvkr: Gvkr): string {
  return `${gvkr.group ? `${gvkr.group}/` : ''}${gvkr.version}.${gvkr.kind}`;
}

const wellKnown: Record<string, string> = { 'apps/v1/Deployment': 'deployments', 'apps/v1/StatefulSet': 'statefulsets' };

/** A workload as the informer caches it: enough to know its replica count without asking the apiserver. */
export interface CachedWorkload {
  metadata?: { resourceVersion?: string };
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
}

/** Cached Deployments/StatefulSets by `namespace/name`, per resource; undefined for kinds not cached. */
export type WorkloadCache = (gvkr: Gvkr) => { get(key: string): CachedWorkload | undefined } | undefined;

/**
 * Any resource with a /scale subresource can be a target. Which resource a kind maps to, and whether it has
 * /scale, is learnt from API discovery once per group-version and kept (only successes are kept, so a CRD
 * installed later is found on the next reconcile).
 */
export class ScaleTargets {
  private readonly discovered = new Map<string, Promise<ApiResourceList>>();
  /** Replica counts this operator wrote and the resource version they produced, until the cache has caught up. */
  private readonly written = new Map<string, { resourceVersion: string; replicas: number }>();

  /**
   * `workloads` serves Deployments and StatefulSets from informer caches (as KEDA does), so a poll of such
   * a target costs no request; every other kind is read through /scale.
   */
  constructor(
    private readonly client: KubeClient,
    private readonly workloads: WorkloadCache = () => undefined,
  ) {}

  async resolve(apiVersion: string, kind: string): Promise<Gvkr> {
    const { group, version } = splitApiVersion(apiVersion);
    const known = wellKnown[`${apiVersion}/${kind}`];
    if (known) return { group, version, kind, resource: known };
    const list = await this.discover(apiVersion);
    const resource = list.resources?.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!resource) throw new ScaleTargetError(`Target resource doesn't exist: no kind ${kind} is served by ${apiVersion}`);
    if (!list.resources?.some((r) => r.name === `${resource.name}/scale`)) {
      throw new ScaleTargetError(`Target resource doesn't expose /scale subresource: ${resource.name}.${group || 'core'}`);
    }
    return { group, version, kind, resource: resource.name };
  }

  async getScale(gvkr: Gvkr, namespace: string, name: string): Promise<ScaleState> {
    const cached = this.workloads(gvkr)?.get(`${namespace}/${name}`);
    if (cached) return this.fromCache(gvkr, namespace, name, cached);
    try {
      const scale = await this.client.request<ScaleObject>('GET', resourcePath({ ...gvkr, namespace, name, subresource: 'scale' }));
      return { replicas: scale.spec?.replicas ?? 0, selector: scale.status?.selector };
    } catch (err) {
      if (isNotFound(err)) throw new ScaleTargetError(`Target resource doesn't exist: ${gvkr.kind} ${namespace}/${name} was not found`);
      throw err;
    }
  }

  async setReplicas(gvkr: Gvkr, namespace: string, name: string, replicas: number): Promise<void> {
    const scale = await this.client.request<ScaleObject & { metadata?: { resourceVersion?: string } }>(
      'PATCH',
      resourcePath({ ...gvkr, namespace, name, subresource: 'scale' }),
      {
        body: { spec: { replicas } },
        contentType: 'application/merge-patch+json',
      },
    );
    const resourceVersion = scale.metadata?.resourceVersion;
    if (resourceVersion && this.workloads(gvkr)) this.written.set(workloadKey(gvkr, namespace, name), { resourceVersion, replicas });
  }

  private fromCache(gvkr: Gvkr, namespace: string, name: string, cached: CachedWorkload): ScaleState {
    const key = workloadKey(gvkr, namespace, name);
    const mine = this.written.get(key);
    // Deployments and StatefulSets default spec.replicas to 1.
    let replicas = cached.spec?.replicas ?? 1;
    if (mine && isNewer(mine.resourceVersion, cached.metadata?.resourceVersion)) replicas = mine.replicas;
    else this.written.delete(key);
    const labels = Object.entries(cached.spec?.selector?.matchLabels ?? {});
    return { replicas, ...(labels.length > 0 ? { selector: labels.map(([k, v]) => `${k}=${v}`).join(',') } : {}) };
  }

  /** The target object itself, for reading its pod template; undefined when it does not exist. */
  async getObject(gvkr: Gvkr, namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.client.request('GET', resourcePath({ ...gvkr, namespace, name }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async discover(apiVersion: string): Promise<ApiResourceList> {
    let pending = this.discovered.get(apiVersion);
    if (!pending) {
      const { group, version } = splitApiVersion(apiVersion);
      const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
      pending = this.client.request<ApiResourceList>('GET', path);
      this.discovered.set(apiVersion, pending);
      pending.catch(() => this.discovered.delete(apiVersion));
    }
    try {
      return await pending;
    } catch (err) {
      if (isNotFound(err)) throw new ScaleTargetError(`Target resource doesn't exist: API ${apiVersion} is not served`);
      throw err;
    }
  }
}

function workloadKey(gvkr: Gvkr, namespace: string, name: string): string {
  return `${gvkr.group}/${gvkr.resource}/${namespace}/${name}`;
}

/** Resource versions are opaque but etcd-backed apiservers issue increasing integers; otherwise trust the cache. */
function isNewer(a: string, b: string | undefined): boolean {
  if (!b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
