import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { cachedLookup, resolveWorkload, type OwnerLookup } from './owner.js';

const ref = (kind: string, name: string, controller = true): V1OwnerReference => ({ apiVersion: 'v1', kind, name, uid: `${kind}-${name}`, controller });
const pod = (owners?: V1OwnerReference[]): V1Pod => ({ metadata: { namespace: 'ns', name: 'p-1', ...(owners ? { ownerReferences: owners } : {}) } });

const owners: Record<string, V1OwnerReference[]> = {
  'ReplicaSet/web-abc': [ref('Deployment', 'web')],
  'ReplicaSet/orphan-rs': [],
};
const lookup: OwnerLookup = (_ns, kind, name) => Promise.resolve(owners[`${kind}/${name}`]);

describe('resolveWorkload', () => {
  it.each([
    ['a Deployment pod bills to the Deployment', pod([ref('ReplicaSet', 'web-abc')]), { kind: 'Deployment', name: 'web' }],
    ['a bare ReplicaSet pod bills to the ReplicaSet', pod([ref('ReplicaSet', 'orphan-rs')]), { kind: 'ReplicaSet', name: 'orphan-rs' }],
    ['a Job pod bills to the Job', pod([ref('Job', 'nightly')]), { kind: 'Job', name: 'nightly' }],
    ['the controller reference wins', pod([ref('ConfigMap', 'x', false), ref('StatefulSet', 'db')]), { kind: 'StatefulSet', name: 'db' }],
    ['a bare pod bills to itself', pod(), { kind: 'Pod', name: 'p-1' }],
  ])('%s', async (_name, p, expected) => {
    expect(await resolveWorkload(p, lookup)).toEqual(expected);
  });

  it('falls back to the ReplicaSet when it cannot be read', async () => {
    expect(await resolveWorkload(pod([ref('ReplicaSet', 'web-abc')]), () => Promise.reject(new Error('forbidden')))).toEqual({
      kind: 'ReplicaSet',
      name: 'web-abc',
    });
  });

  it('reads each owner once, but retries failed reads', async () => {
    let reads = 0;
    let fail = true;
    const cached = cachedLookup((ns, kind, name) => {
      reads++;
      return fail ? Promise.reject(new Error('x')) : lookup(ns, kind, name);
    });
    await expect(cached('ns', 'ReplicaSet', 'web-abc')).rejects.toThrow();
    fail = false;
    await cached('ns', 'ReplicaSet', 'web-abc');
    await cached('ns', 'ReplicaSet', 'web-abc');
    expect(reads).toBe(2);
  });
});
