import { describe, expect, it } from 'vitest';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { ScaleTargetError, ScaleTargets, scaleTargetKind, type CachedWorkload, type Gvkr } from './scale-target.js';

const deployments: Gvkr = { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' };
const path = '/apis/apps/v1/namespaces/app/deployments/web';

function setup(cached: CachedWorkload | undefined) {
  const client = new FakeKubeClient();
  client.put(path, { metadata: { name: 'web' }, spec: { replicas: 3 } });
  client.put('/apis/example.com/v1', {
    resources: [
      { name: 'widgets', kind: 'Widget' },
      { name: 'widgets/scale', kind: 'Scale' },
      { name: 'gadgets', kind: 'Gadget' },
    ],
  });
  const cache = new Map<string, CachedWorkload>(cached ? [['app/web', cached]] : []);
  const targets = new ScaleTargets(client, (gvkr) => (gvkr.resource === 'deployments' ? { get: (key) => cache.get(key) } : undefined));
  return { client, targets, cache };
}

describe('ScaleTargets', () => {
  it('resolves kinds through discovery and refuses kinds without /scale', async () => {
    const { targets } = setup(undefined);
    const widget = await targets.resolve('example.com/v1', 'Widget');
    expect(widget).toEqual({ group: 'example.com', version: 'v1', kind: 'Widget', resource: 'widgets' });
    expect(scaleTargetKind(widget)).toBe('example.com/v1.Widget');
    await expect(targets.resolve('example.com/v1', 'Gadget')).rejects.toThrow(/doesn't expose \/scale/);
    await expect(targets.resolve('example.com/v1', 'Nope')).rejects.toBeInstanceOf(ScaleTargetError);
  });

  it('reads a cached Deployment without a request and falls back to /scale when not cached', async () => {
    const cached = setup({ metadata: { resourceVersion: '50' }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } } } });
    expect(await cached.targets.getScale(deployments, 'app', 'web')).toEqual({ replicas: 2, selector: 'app=web' });
    expect(cached.client.calls).toEqual([]);
    const uncached = setup(undefined);
    expect((await uncached.targets.getScale(deployments, 'app', 'web')).replicas).toBe(3);
    expect(uncached.client.calls.map((c) => c.path)).toEqual([`${path}/scale`]);
  });

  it('prefers its own write over a cache that has not caught up yet, then the cache again', async () => {
    const { targets, cache, client } = setup({ metadata: { resourceVersion: '1' }, spec: { replicas: 0 } });
    await targets.setReplicas(deployments, 'app', 'web', 4);
    expect((await targets.getScale(deployments, 'app', 'web')).replicas).toBe(4);
    const stored = client.get(path) as { metadata: { resourceVersion: string } };
    cache.set('app/web', { metadata: { resourceVersion: stored.metadata.resourceVersion }, spec: { replicas: 7 } });
    expect((await targets.getScale(deployments, 'app', 'web')).replicas).toBe(7);
  });
});
