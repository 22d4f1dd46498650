import type { KubernetesObject } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScalerContext } from '../../../scalers/scaler.js';
import { FakeClock } from '../../controller/fake-clock.js';
import type { ListResult, ListWatchSource, WatchEvent } from '../../controller/list-watch-source.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { createKeyCaches, type KeyCaches } from '../key-caches.js';
import { startScaledJobController, type ScaledJobController } from './controller.js';
import { scaledJobPath } from './status.js';

/** A collection that lists what the test put in it, then changes only through the test's watch events. */
class ScriptedSource implements ListWatchSource<KubernetesObject> {
  #send: ((event: WatchEvent<KubernetesObject>) => void) | undefined;
  #version = 1;
  constructor(private readonly items: KubernetesObject[] = []) {}

  list(): Promise<ListResult<KubernetesObject>> {
    return Promise.resolve({ items: structuredClone(this.items), resourceVersion: '1' });
  }

  watch(_query: unknown, onEvent: (event: WatchEvent<KubernetesObject>) => void): Promise<() => void> {
    this.#send = onEvent;
    return Promise.resolve(() => undefined);
  }

  send(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubernetesObject): void {
    this.#send?.({ type, object: { ...structuredClone(object), metadata: { ...object.metadata, resourceVersion: String(++this.#version) } } });
  }
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');
const secret = (name: string, password: string): KubernetesObject & { data: Record<string, string> } => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { namespace: 'app', name },
  data: { password: base64(password) },
});

const scaledJob = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledJob',
  metadata: { namespace: 'app', name: 'worker', uid: 'u1', generation: 1, finalizers: ['finalizer.keda.sh'] },
  spec: {
    pollingInterval: 5,
    jobTargetRef: { template: { spec: { containers: [{ name: 'worker', image: 'worker:1' }] } } },
    triggers: [{ type: 'redis', metadata: { address: '127.0.0.1:6379', listName: 'q' }, authenticationRef: { name: 'redis-auth' } }],
  },
};
const triggerAuth = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'TriggerAuthentication',
  metadata: { namespace: 'app', name: 'redis-auth' },
  spec: { secretTargetRef: [{ parameter: 'password', name: 'redis-pass', key: 'password' }] },
};

const running: { controller: ScaledJobController; keys: KeyCaches }[] = [];
afterEach(async () => {
  for (const { controller, keys } of running.splice(0)) {
    await controller.stop();
    await keys.stop();
  }
});

async function setup() {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.put(scaledJobPath(scaledJob), structuredClone(scaledJob));
  const sources = new Map<string, ScriptedSource>([
    ['/apis/keda.sh/v1alpha1/namespaces/app/scaledjobs', new ScriptedSource([scaledJob])],
    ['/apis/keda.sh/v1alpha1/namespaces/app/triggerauthentications', new ScriptedSource([triggerAuth])],
    ['/api/v1/namespaces/app/secrets', new ScriptedSource([secret('redis-pass', 'old-pass'), secret('unrelated', 'other-pass')])],
  ]);
  const listWatch = <T extends KubernetesObject>(path: string): ListWatchSource<T> => {
    if (!sources.has(path)) sources.set(path, new ScriptedSource());
    return sources.get(path) as unknown as ListWatchSource<T>;
  };
  const source = (path: string): ScriptedSource => sources.get(path)!;
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const events: string[] = [];
  const built: ScalerContext[] = [];
  const scalerFactory = (context: ScalerContext) => {
    built.push(context);
    return {
      metricSpecs: [{ kind: 'External' as const, metricName: 's0-redis-q', targetType: 'AverageValue' as const, target: 5 }],
      read: () => Promise.resolve({ value: 0, active: false }),
      close: () => Promise.resolve(),
    };
  };
  const settings = { listWatch, log, namespace: 'app', clusterAuthNamespace: 'app' };
  // As the process wires it: one set of Secret and ConfigMap caches, started by its owner, read by the controller.
  const keys = createKeyCaches(settings, clock);
  keys.start();
  const controller = startScaledJobController({
    ...settings,
    client,
    keyCaches: keys,
    identity: 'test',
    scalerFactory,
    registry: new Registry(),
    version: '0.1.0-test',
    clock,
    events: { emit: (_object, type, reason, message) => void events.push(`${type} ${reason} ${message}`) },
  });
  running.push({ controller, keys });
  await clock.advance(100);
  const passwords = () => built.map((context) => context.authParams.password);
  return { clock, client, source, controller, lines, events, passwords };
}

describe('ScaledJob controller: trigger auth from the shared Secret caches', () => {
  it('builds the scalers from the cached Secret and never GETs a Secret or ConfigMap, however often it reconciles', async () => {
    const { clock, client, source, controller, passwords } = await setup();
    expect(controller.ready()).toEqual({ ok: true });
    expect(passwords()).toEqual(['old-pass']);
    // More reconciles: a spec change and several polls later.
    source('/apis/keda.sh/v1alpha1/namespaces/app/scaledjobs').send('MODIFIED', { ...scaledJob, metadata: { ...scaledJob.metadata, generation: 2 } });
    await clock.advance(20_000);
    source('/apis/keda.sh/v1alpha1/namespaces/app/scaledjobs').send('MODIFIED', { ...scaledJob, metadata: { ...scaledJob.metadata, generation: 3 } });
    await clock.advance(20_000);
    const reconciled = client.calls.filter((c) => c.method === 'PATCH' && c.path === `${scaledJobPath(scaledJob)}/status`);
    expect(reconciled.length).toBeGreaterThan(0);
    expect(client.calls.filter((c) => /\/(secrets|configmaps)(\/|$)/.test(c.path))).toEqual([]);
    // The same inputs: the scalers were kept.
    expect(passwords()).toEqual(['old-pass']);
  });

  it('rebuilds the scalers with the new value when the Secret they read changes, and not for another Secret', async () => {
    const { clock, client, source, lines, events, passwords } = await setup();
    const secrets = source('/api/v1/namespaces/app/secrets');
    secrets.send('MODIFIED', secret('unrelated', 'changed-other'));
    await clock.advance(1_000);
    expect(passwords()).toEqual(['old-pass']);
    secrets.send('MODIFIED', secret('redis-pass', 'new-pass'));
    await clock.advance(1_000);
    expect(passwords()).toEqual(['old-pass', 'new-pass']);
    // Deleting it leaves the trigger without the parameter and says which key of which Secret is missing.
    secrets.send('DELETED', secret('redis-pass', 'new-pass'));
    await clock.advance(1_000);
    expect(passwords()).toEqual(['old-pass', 'new-pass', undefined]);
    const warning = lines.map((line) => JSON.parse(line) as { msg: string; warning?: string }).find((entry) => entry.warning !== undefined);
    expect(warning?.warning).toBe('TriggerAuthentication "redis-auth": key password of Secret app/redis-pass not found');
    const told = [...lines, ...events, JSON.stringify(client.get(scaledJobPath(scaledJob))), JSON.stringify(client.calls)].join('\n');
    for (const value of ['old-pass', 'new-pass', base64('old-pass'), base64('new-pass')]) expect(told).not.toContain(value);
  });

  it('rebuilds the scalers when the TriggerAuthentication points to another Secret', async () => {
    const { clock, source, passwords } = await setup();
    source('/api/v1/namespaces/app/secrets').send('ADDED', secret('redis-pass-2', 'rotated'));
    await clock.advance(1_000);
    expect(passwords()).toEqual(['old-pass']);
    const repointed: KubernetesObject & { spec: unknown } = {
      ...triggerAuth,
      spec: { secretTargetRef: [{ parameter: 'password', name: 'redis-pass-2', key: 'password' }] },
    };
    source('/apis/keda.sh/v1alpha1/namespaces/app/triggerauthentications').send('MODIFIED', repointed);
    await clock.advance(1_000);
    expect(passwords()).toEqual(['old-pass', 'rotated']);
  });
});
