import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import type { LeaseRecord, LeaseStore, StoredLease } from '../controller/leader-election.js';
import { isNotFound } from './errors.js';

export interface KubeLeaseStoreOptions {
  namespace: string;
  name: string;
}

/** The coordination.k8s.io/v1 Lease `namespace/name` as a {@link LeaseStore}, with optimistic replace. */
export function createKubeLeaseStore(config: KubeConfig, { namespace, name }: KubeLeaseStoreOptions): LeaseStore {
  const api = config.makeApiClient(CoordinationV1Api);
  const body = (record: LeaseRecord, resourceVersion?: string): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, resourceVersion },
    spec: toSpec(record),
  });
  return {
    description: `${namespace}/${name}`,
    async get() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async create(record) {
      return fromLease(await api.createNamespacedLease({ namespace, body: body(record) }));
    },
    async update(record, resourceVersion) {
      return fromLease(await api.replaceNamespacedLease({ name, namespace, body: body(record, resourceVersion) }));
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

/** client-node 1.4.0 types MicroTime fields as dates but hands back the raw RFC 3339 string. */
function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === 'string' && value !== '') return new Date(value);
  return undefined;
}
