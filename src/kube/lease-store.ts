import { V1MicroTime, type V1Lease, type V1LeaseList, type V1LeaseSpec } from '@kubernetes/client-node';
import type { LeaseRecord, LeaseStore, StoredLease } from '../controller/leader-election.js';
import type { LeaseCollection } from '../controller/shard-claims.js';
import { readOrUndefined, resourcePath, type KubeClient } from './client.js';

export interface KubeLeaseStoreOptions {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
}

/** The coordination.k8s.io/v1 Lease `namespace/name` as a {@link LeaseStore}, with optimistic replace. */
export function createKubeLeaseStore(client: KubeClient, { namespace, name, labels }: KubeLeaseStoreOptions): LeaseStore {
  const collection = resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace });
  const path = `${collection}/${encodeURIComponent(name)}`;
  const body = (record: LeaseRecord, resourceVersion?: string): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, resourceVersion, ...(labels ? { labels } : {}) },
    spec: toSpec(record),
  });
  return {
    description: `${namespace}/${name}`,
    async get() {
      const lease = await readOrUndefined<V1Lease>(client, path);
      return lease && fromLease(lease);
    },
    async create(record) {
      return fromLease(await client.request<V1Lease>('POST', collection, { body: body(record) }));
    },
    async update(record, resourceVersion) {
      return fromLease(await client.request<V1Lease>('PUT', path, { body: body(record, resourceVersion) }));
    },
  };
}

/** Marks the shard and membership Leases, so one filtered LIST returns them all. */
const SHARD_LEASE_LABELS = { 'app.kubernetes.io/managed-by': 'swell', 'swell.sh/lease': 'shard' };

/** The sharding Leases of `namespace` as a {@link LeaseCollection}: listed by label, deleted with a version precondition. */
export function createKubeLeaseCollection(client: KubeClient, namespace: string): LeaseCollection {
  const collection = resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace });
  const labelSelector = Object.entries(SHARD_LEASE_LABELS)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  return {
    description: namespace,
    async list() {
      const list = await client.request<V1LeaseList>('GET', collection, { query: { labelSelector } });
      return new Map(list.items.map((lease) => [lease.metadata?.name ?? '', fromLease(lease)]));
    },
    store: (name) => createKubeLeaseStore(client, { namespace, name, labels: SHARD_LEASE_LABELS }),
    async delete(name, resourceVersion) {
      await client.request('DELETE', `${collection}/${encodeURIComponent(name)}`, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } },
      });
    },
  };
}

function toSpec(record: LeaseRecord): V1LeaseSpec {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
    // MicroTime serializes with microsecond precision, as the Lease schema expects.
    acquireTime: record.acquireTime && new V1MicroTime(record.acquireTime.getTime()),
    renewTime: record.renewTime && new V1MicroTime(record.renewTime.getTime()),
  };
}

function fromLease(lease: V1Lease): StoredLease {
  const spec = lease.spec ?? {};
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    record: {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      leaseTransitions: spec.leaseTransitions ?? 0,
      acquireTime: toDate(spec.acquireTime),
      renewTime: toDate(spec.renewTime),
    },
  };
}

/** MicroTime fields arrive as RFC 3339 strings. */
function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === 'string' && value !== '') return new Date(value);
  return undefined;
}
