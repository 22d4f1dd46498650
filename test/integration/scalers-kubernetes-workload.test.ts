// @sandbox kube
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { Scaler, ScalerContext, TriggerSpec } from '../../scalers/scaler.js';
import { FakeClock } from '../../src/controller/fake-clock.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';
import type { ListWatchSource } from '../../src/controller/list-watch-source.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createLogger } from '../../src/log.js';
import { NamespacePodInformers } from '../../src/operator/namespace-pods.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, sandboxClient, waitFor } from './operator-support.js';

/*
 * The kubernetes-workload scaler against the sandbox's apiserver: pods are created and finished for real, and
 * the pod informers' list and watch calls are counted to show that polling never lists pods.
 */

function context(trigger: TriggerSpec, namespace: string, extra: Partial<ScalerContext> = {}): ScalerContext {
  return { triggerIndex: 0, trigger, authParams: {}, resolvedEnv: {}, namespace, ...extra };
}

function metricOf(scaler: Scaler): string {
  const spec = scaler.metricSpecs[0];
  if (spec?.kind !== 'External') throw new Error('expected an external metric');
  return spec.metricName;
}

describe('kubernetes-workload scaler on the sandbox apiserver', () => {
  const namespace = `workload-${randomBytes(3).toString('hex')}`;
  let client: KubeClient;
  let source: (path: string) => ListWatchSource<V1Pod>;
  const calls = { lists: 0, watches: 0 };

  const createPod = (name: string, labels: Record<string, string>): Promise<unknown> =>
    client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'pods', namespace }), {
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [{ name: 'c', image: 'registry.invalid/app:1' }] } },
    });

  const setPhase = async (name: string, phase: string): Promise<void> => {
    const path = resourcePath({ group: '', version: 'v1', resource: 'pods', namespace, name, subresource: 'status' });
    const pod = await client.request<V1Pod>('GET', path);
    await client.request('PUT', path, { body: { ...pod, status: { ...pod.status, phase } } });
  };

  beforeAll(async () => {
    const sandbox = sandboxClient();
    client = sandbox.client;
    source = (path) => {
      const real = createKubeListWatchSource<V1Pod>(sandbox.client, path);
      return {
        list: (query, signal) => {
          calls.lists++;
          return real.list(query, signal);
        },
        watch: (query, onEvent, onClose) => {
          calls.watches++;
          return real.watch(query, onEvent, onClose);
        },
      };
    };
    await createNamespace(client, namespace);
    for (let i = 0; i < 3; i++) await createPod(`backend-${i}`, { app: 'backend', deploy: 'stable' });
    await createPod('backend-critical', { app: 'backend', deploy: 'critical' });
    await createPod('frontend-0', { app: 'frontend' });
  }, 60_000);
  afterAll(() => deleteNamespace(client, namespace));

  it('counts matching, unfinished pods as they come and go, from one informer for the namespace', async () => {
    const pods = new NamespacePodInformers({ listWatch: source, log: createLogger({ name: 'test', level: 'silent' }) });
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock, { pods });
    const trigger: TriggerSpec = {
      type: 'kubernetes-workload',
      metadata: { podSelector: 'app=backend, deploy notin (critical, monolith)', value: '2', activationValue: '3' },
    };
    const scaler = createScaler(context(trigger, namespace), deps);
    expect(metricOf(scaler)).toBe(`s0-workload-${namespace}`);
    const read = async (): Promise<{ value: number; active: boolean }> => {
      await clock.advance(1000);
      return scaler.read(metricOf(scaler));
    };
    await expect(read()).resolves.toEqual({ value: 3, active: false });
    await createPod('backend-3', { app: 'backend', deploy: 'stable' });
    await waitFor('the new pod counted', 10_000, async () => ((await read()).value === 4 ? true : undefined));
    await expect(read()).resolves.toEqual({ value: 4, active: true });
    await setPhase('backend-0', 'Succeeded');
    await setPhase('backend-1', 'Failed');
    await waitFor('finished pods left out', 10_000, async () => ((await read()).value === 2 ? true : undefined));
    expect(pods.size).toBe(1);
    await scaler.close();
    expect(pods.size).toBe(0);
  });

  it('100 scalers in one namespace share one informer: one list and one watch however many polls', async () => {
    const pods = new NamespacePodInformers({ listWatch: source, log: createLogger({ name: 'test', level: 'silent' }) });
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock, { pods });
    const before = { ...calls };
    const scalers = Array.from({ length: 100 }, (_, i) =>
      createScaler(
        context({ type: 'kubernetes-workload', metadata: { podSelector: i % 2 === 0 ? 'app=frontend' : 'app in (frontend)', value: '1' } }, namespace, {
          triggerIndex: i % 3,
        }),
        deps,
      ),
    );
    const intervalMs = 30_000;
    for (let interval = 0; interval < 3; interval++) {
      for (let step = 0; step < 4; step++) {
        const readings = await Promise.all(scalers.map((s) => s.read(metricOf(s), { maxAgeMs: intervalMs })));
        expect(new Set(readings.map((r) => r.value))).toEqual(new Set([1]));
        await clock.advance(intervalMs / 5);
      }
      await clock.advance(intervalMs);
    }
    const lists = calls.lists - before.lists;
    const watches = calls.watches - before.watches;
    process.stdout.write(
      `[kubernetes-workload] 100 ScaledObjects, 12 polls each: ${lists} pod list, ${watches} watch, ${pods.size} informer; 0 apiserver requests per polling interval\n`,
    );
    expect(lists).toBe(1);
    expect(watches).toBe(1);
    expect(pods.size).toBe(1);
    await Promise.all(scalers.map((s) => s.close()));
    expect(pods.size).toBe(0);
  });
});
