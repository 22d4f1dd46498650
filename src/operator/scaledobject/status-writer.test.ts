import { describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { StatusWriter } from './status-writer.js';

const path = '/apis/keda.sh/v1alpha1/namespaces/app/scaledobjects/orders';

function stored(client: FakeKubeClient): ScaledObject {
  return structuredClone(client.get(path)) as unknown as ScaledObject;
}

describe('StatusWriter', () => {
  it('prefers its own last write while the cache lags, and lets it go once the cache has caught up', async () => {
    const client = new FakeKubeClient();
    client.put(path, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'orders', namespace: 'app', uid: 'u1' },
      spec: { scaleTargetRef: { name: 'web' }, triggers: [] },
    });
    const writer = new StatusWriter(client);
    const stale = stored(client);
    const written = await writer.patch('app/orders', stale, { lastActiveTime: '2026-01-01T00:00:00Z' });
    // The informer has not seen the write yet: the writer's copy wins, so the next write is computed against it.
    expect(writer.current('app/orders', stale)).toBe(written);
    const caughtUp = stored(client);
    expect(writer.current('app/orders', caughtUp)).toBe(caughtUp);
    // From then on the cache is the only copy, even if an older cached object comes by again.
    expect(writer.current('app/orders', stale)).toBe(stale);
  });

  it('keeps its copy when handed that copy back, and takes a remembered metadata write as its own', async () => {
    const client = new FakeKubeClient();
    client.put(path, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'orders', namespace: 'app', uid: 'u1' },
      spec: { scaleTargetRef: { name: 'web' }, triggers: [] },
    });
    const writer = new StatusWriter(client);
    const stale = stored(client);
    const finalized = await client.request<ScaledObject>('PATCH', path, { body: { metadata: { finalizers: ['finalizer.keda.sh'] } } });
    writer.remember('app/orders', finalized);
    const current = writer.current('app/orders', stale);
    expect(current).toBe(finalized);
    // A reconcile passes on what current() gave it; the writer must still prefer it over the stale cache afterwards.
    await writer.patch('app/orders', current, {});
    expect(writer.current('app/orders', current)).toBe(finalized);
    expect(writer.current('app/orders', stale).metadata.finalizers).toEqual(['finalizer.keda.sh']);
  });

  it('does not take a copy of another object of the same name for its own', async () => {
    const client = new FakeKubeClient();
    client.put(path, {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'orders', namespace: 'app', uid: 'u1' },
      spec: { scaleTargetRef: { name: 'web' }, triggers: [] },
    });
    const writer = new StatusWriter(client);
    await writer.patch('app/orders', stored(client), { lastActiveTime: '2026-01-01T00:00:00Z' });
    const recreated = { ...stored(client), metadata: { ...stored(client).metadata, uid: 'u2', resourceVersion: '1' } };
    expect(writer.current('app/orders', recreated)).toBe(recreated);
  });
});
