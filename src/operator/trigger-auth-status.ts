import type { KubernetesObject } from '@kubernetes/client-node';
import type { TriggerAuthentication, TriggerAuthenticationStatus } from '../apis/keda/v1alpha1/triggerauthentication.js';
import { TerminalError } from '../controller/controller.js';
import { apiStatusCode, describeApiError } from '../kube/errors.js';
import { resourcePath, type KubeClient } from '../kube/client.js';
import { DependencyIndex } from './dependencies.js';
import { namespacedKey, type AnyInformer, type SideQueue } from './scaling-controller.js';
import { CachedStatusWriter } from './scaledobject/status-writer.js';

/** The status field a scaling controller owns on the auth objects: its own kind's referrers. */
export type ReferrersField = keyof TriggerAuthenticationStatus;

/** A ScaledObject or ScaledJob, as far as its authentication references go. */
export interface AuthReferrer {
  metadata: { name?: string; namespace?: string; deletionTimestamp?: unknown };
  spec: { triggers: readonly { authenticationRef?: { name: string; kind?: string } }[] };
}

const CLUSTER = 'ClusterTriggerAuthentication';
const NAMESPACED = 'TriggerAuthentication';
export type AuthKind = typeof NAMESPACED | typeof CLUSTER;

/** Names an auth object in the status queue: `TriggerAuthentication/ns/name` or `ClusterTriggerAuthentication/name`. */
export function authKey(kind: AuthKind, namespace: string | undefined, name: string): string {
  return kind === CLUSTER ? `${CLUSTER}/${name}` : `${NAMESPACED}/${namespace ?? ''}/${name}`;
}

function parseAuthKey(key: string): { kind: typeof NAMESPACED; namespace: string; name: string } | { kind: typeof CLUSTER; name: string } | undefined {
  const [kind, ...rest] = key.split('/');
  if (kind === CLUSTER && rest.length === 1) return { kind, name: rest[0]! };
  if (kind === NAMESPACED && rest.length === 2) return { kind, namespace: rest[0]!, name: rest[1]! };
  return undefined;
}

/**
 * The auth objects one ScaledObject or ScaledJob refers to, as {@link authKey}s. An object being deleted
 * refers to nothing any more: KEDA drops it from the status as its finalizer runs. A reference without a
 * kind is to a TriggerAuthentication in the object's own namespace, as in KEDA.
 */
export function authKeysOf(referrer: AuthReferrer): string[] {
  if (referrer.metadata.deletionTimestamp) return [];
  const keys = new Set<string>();
  for (const trigger of referrer.spec.triggers ?? []) {
    const ref = trigger.authenticationRef;
    if (!ref?.name) continue;
    keys.add(ref.kind === CLUSTER ? authKey(CLUSTER, undefined, ref.name) : authKey(NAMESPACED, referrer.metadata.namespace, ref.name));
  }
  return [...keys];
}

/**
 * The status value of the auth object `key`: its referrers' names, sorted and comma-joined (KEDA's format),
 * or undefined when nothing refers to it. A TriggerAuthentication is only referred to from its own namespace,
 * so plain names suffice; a ClusterTriggerAuthentication lists `namespace/name`, since referrers in different
 * namespaces may share a name.
 */
export function referrerNames(key: string, referrers: Iterable<AuthReferrer>): string | undefined {
  const cluster = key.startsWith(`${CLUSTER}/`);
  const names = new Set<string>();
  for (const referrer of referrers) {
    if (!authKeysOf(referrer).includes(key)) continue;
    const { namespace, name } = referrer.metadata;
    names.add(cluster ? `${namespace ?? ''}/${name ?? ''}` : (name ?? ''));
  }
  return names.size === 0 ? undefined : [...names].sort().join(',');
}

export interface TriggerAuthStatusOptions {
  /** `scaledobjects` for the ScaledObject controller, `scaledjobs` for the ScaledJob controller. */
  field: ReferrersField;
  client: KubeClient;
  /** The controller's ScaledObjects or ScaledJobs. */
  referrers: AnyInformer;
  triggerAuths: AnyInformer;
  clusterTriggerAuths: AnyInformer;
  /** Adds an auth key to the status queue of the current leadership term (a no-op when not leading). */
  enqueue: (key: string) => void;
}

type AuthObject = TriggerAuthentication;
type FieldChange = { field: ReferrersField; value: string | undefined };

/**
 * Keeps `status.scaledobjects` (or `status.scaledjobs`) of every (Cluster)TriggerAuthentication equal to the
 * names of the objects that refer to it, computed from the informer caches. Changes only enqueue the auth
 * objects concerned (both the old and new ones when a reference moves), so a burst of changes coalesces in
 * the queue into one status patch per auth object, and a patch is sent only when the value differs.
 */
export class TriggerAuthStatus implements SideQueue {
  readonly name: string;
  readonly #options: TriggerAuthStatusOptions;
  readonly #writers: Record<AuthKind, CachedStatusWriter<AuthObject, TriggerAuthenticationStatus, FieldChange>>;
  /** Which cached referrers name which auth objects, so a reconcile reads those instead of every referrer. */
  readonly #index = new DependencyIndex();

  constructor(options: TriggerAuthStatusOptions) {
    this.#options = options;
    this.name = `triggerauthentication-${options.field}`;
    this.#writers = {
      [NAMESPACED]: new CachedStatusWriter(options.client, (a: AuthObject) => statusPath(NAMESPACED, a), fieldPatch),
      [CLUSTER]: new CachedStatusWriter(options.client, (a: AuthObject) => statusPath(CLUSTER, a), fieldPatch),
    };
    this.#watch();
  }

  /** Every cached auth object, so a new leader corrects whatever changed while nobody led. */
  keys(): string[] {
    const { triggerAuths, clusterTriggerAuths } = this.#options;
    return [...triggerAuths.list().map((a) => keyOfAuth(NAMESPACED, a)), ...clusterTriggerAuths.list().map((a) => keyOfAuth(CLUSTER, a))];
  }

  async reconcile(key: string): Promise<void> {
    const ref = parseAuthKey(key);
    if (!ref) return;
    const cached = (ref.kind === CLUSTER ? this.#options.clusterTriggerAuths.get(ref.name) : this.#options.triggerAuths.get(`${ref.namespace}/${ref.name}`)) as
      AuthObject | undefined;
    const writer = this.#writers[ref.kind];
    if (!cached) {
      writer.forget(key);
      return;
    }
    const candidates = this.#index.dependentsOf(key).map((k) => this.#options.referrers.get(k) as unknown as AuthReferrer | undefined);
    const value = referrerNames(
      key,
      candidates.filter((r) => r !== undefined),
    );
    try {
      await writer.patch(key, cached, { field: this.#options.field, value });
    } catch (err) {
      // Without RBAC for the status subresource retrying cannot help; the next resync tries again.
      if (apiStatusCode(err) === 403)
        throw new TerminalError(`status of ${key}: ${describeApiError(err)} (needs patch on ${ref.kind.toLowerCase()}s/status)`, { cause: err });
      throw err;
    }
  }

  #watch(): void {
    const { referrers, triggerAuths, clusterTriggerAuths, enqueue } = this.#options;
    const refsOf = (o: KubernetesObject): string[] => authKeysOf(o as unknown as AuthReferrer);
    const enqueueAll = (keys: Iterable<string>): void => {
      for (const key of keys) enqueue(key);
    };
    referrers.addHandler({
      add: (o) => {
        const refs = refsOf(o);
        this.#index.set(namespacedKey(o), refs);
        enqueueAll(refs);
      },
      // Both ends of a moved reference: the auth object it left and the one it joined.
      update: (old, o) => {
        const before = refsOf(old);
        const after = refsOf(o);
        this.#index.set(namespacedKey(o), after);
        if (before.length !== after.length || before.some((k) => !after.includes(k))) enqueueAll(new Set([...before, ...after]));
      },
      delete: (o) => {
        this.#index.remove(namespacedKey(o));
        enqueueAll(refsOf(o));
      },
    });
    // Auth objects are looked at when they appear (their referrers may predate them) and on every update,
    // resyncs included; an update that is this writer's own patch computes the same value and writes nothing.
    for (const [kind, informer] of [
      [NAMESPACED, triggerAuths],
      [CLUSTER, clusterTriggerAuths],
    ] as const) {
      informer.addHandler({
        add: (a) => enqueue(keyOfAuth(kind, a)),
        update: (_old, a) => enqueue(keyOfAuth(kind, a)),
        delete: (a) => enqueue(keyOfAuth(kind, a)),
      });
    }
  }
}

function keyOfAuth(kind: AuthKind, auth: KubernetesObject): string {
  return authKey(kind, auth.metadata?.namespace, auth.metadata?.name ?? '');
}

function statusPath(kind: AuthKind, auth: AuthObject): string {
  const cluster = kind === CLUSTER;
  return resourcePath({
    group: 'keda.sh',
    version: 'v1alpha1',
    resource: cluster ? 'clustertriggerauthentications' : 'triggerauthentications',
    ...(cluster ? {} : { namespace: auth.metadata.namespace ?? '' }),
    name: auth.metadata.name ?? '',
    subresource: 'status',
  });
}

/** A merge patch setting the field, or removing it when nothing refers to the object; none when it already matches. */
function fieldPatch(observed: TriggerAuthenticationStatus | undefined, change: FieldChange): Record<string, unknown> | undefined {
  const current = observed?.[change.field] || undefined;
  if (current === change.value) return undefined;
  return { [change.field]: change.value ?? null };
}
