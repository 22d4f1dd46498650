// @sandbox kube
import { randomUUID } from 'node:crypto';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClock, sleep } from '../../src/controller/clock.js';
import { runController } from '../../src/controller/controller.js';
import { Informer, enqueueHandler } from '../../src/controller/informer.js';
import { LeaderElector } from '../../src/controller/leader-election.js';
import type { ListWatchSource } from '../../src/controller/list-watch-source.js';
import { WorkQueue } from '../../src/controller/workqueue.js';
import { loadKubeConfig } from '../../src/kube/config.js';
import { apiStatusCode, isAlreadyExists } from '../../src/kube/errors.js';
import { createKubeLeaseStore } from '../../src/kube/lease-store.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createHttpKubeClient, type KubeWatchClient } from '../../src/kube/client.js';
import { createLogger } from '../../src/log.js';

const log = createLogger({ name: 'controller-runtime-test', level: 'warn' });
const clock = createSystemClock();
let config: KubeConfig;
let client: KubeWatchClient;
let core: CoreV1Api;
const namespace = `swell-runtime-${randomUUID().slice(0, 8)}`;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  config = loadKubeConfig({});
  client = createHttpKubeClient(config);
  core = config.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
  await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
});

/** Polls `check` every 50 ms until it returns a value other than undefined/false, or fails after `timeoutMs`. */
async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(clock, 50);
  }
}

function configMapPath(): string {
  return `/api/v1/namespaces/${namespace}/configmaps`;
}

function startInformer(source: ListWatchSource<V1ConfigMap>, labelSelector: string): Informer<V1ConfigMap> {
  const informer = new Informer<V1ConfigMap>({ name: 'configmaps', source, log, labelSelector });
  informer.start();
  stops.push(() => informer.stop());
  return informer;
}

async function createConfigMap(name: string, labels: Record<string, string>, data: Record<string, string> = {}): Promise<void> {
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels }, data } });
}

async function patchConfigMap(name: string, data: Record<string, string>): Promise<void> {
  await client.request('PATCH', `/api/v1/namespaces/${namespace}/configmaps/${name}`, { body: { data }, contentType: 'application/merge-patch+json' });
}

interface Widget extends KubernetesObject {
  spec?: { size?: number };
}

const widgetCrd = 'widgets.test.swell.dev';

async function createWidgetCrd(): Promise<void> {
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  // Typed fields only: client-node's serializer would drop an `x-kubernetes-preserve-unknown-fields` key.
  const schema = { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } };
  await extensions
    .createCustomResourceDefinition({
      body: {
        metadata: { name: widgetCrd },
        spec: {
          group: 'test.swell.dev',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } }],
        },
      },
    })
    .catch((error: unknown) => {
      if (!isAlreadyExists(error)) throw error;
    });
  stops.push(() => extensions.deleteCustomResourceDefinition({ name: widgetCrd }).catch(() => undefined));
  await until('the Widget CRD to be served', async () => {
    try {
      await client.request('GET', `/apis/test.swell.dev/v1/namespaces/${namespace}/widgets`);
      return true;
    } catch {
      return false;
    }
  });
}

/** Watches from resource version 1 and returns the status the server answers with, retrying while its cache warms up (429). */
async function watchFromOldVersion(source: ListWatchSource<Widget>): Promise<number | undefined> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const status = await new Promise<number | undefined>((resolve) => {
      const cancel = source.watch(
        { resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 5 },
        (event) => {
          if (event.type === 'ERROR') resolve(apiStatusCode(event.object));
        },
        (error) => resolve(apiStatusCode(error)),
      );
      void cancel.then((stop) => setTimeout(stop, 6_000));
    });
    if (status !== 429) return status;
    await sleep(clock, 250);
  }
  return 429;
}

describe('controller runtime against kube-apiserver', () => {
  it('informer lists and then sees create, update and delete of matching ConfigMaps', async () => {
    const labels = { 'swell.test/informer': 'yes' };
    await createConfigMap('existing', labels, { v: '0' });
    const informer = new Informer<V1ConfigMap>({
      name: 'configmaps',
      source: createKubeListWatchSource(client, configMapPath()),
      log,
      labelSelector: 'swell.test/informer=yes',
    });
    const events: string[] = [];
    informer.addHandler({
      add: (cm) => events.push(`add ${cm.metadata?.name}`),
      update: (_old, cm) => events.push(`update ${cm.metadata?.name} v=${cm.data?.v}`),
      delete: (cm) => events.push(`delete ${cm.metadata?.name}`),
    });
    informer.start();
    stops.push(() => informer.stop());
    expect(await informer.synced()).toBe(true);
    const existing = informer.get(`${namespace}/existing`);
    expect(existing).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', data: { v: '0' } });
    expect(existing?.metadata).not.toHaveProperty('managedFields');

    await createConfigMap('a', labels, { v: '1' });
    await createConfigMap('unlabelled', {}, { v: '1' });
    await until('add a', () => events.includes('add a'));
    expect(informer.get(`${namespace}/a`)?.metadata).not.toHaveProperty('managedFields');
    await patchConfigMap('a', { v: '2' });
    await until('update a', () => events.includes('update a v=2'));
    await core.deleteNamespacedConfigMap({ name: 'a', namespace });
    await until('delete a', () => events.includes('delete a'));
    expect(events).toEqual(['add existing', 'add a', 'update a v=2', 'delete a']);
    expect(informer.keys()).toEqual([`${namespace}/existing`]);
    expect(informer.lastEventAt).toBeGreaterThan(Date.now() - 15_000);
  });

  it('a watch from a too-old resource version yields 410, and the informer relists and keeps working', async () => {
    // A custom resource's watch cache starts when its CRD is created, so resource version 1 predates it.
    await createWidgetCrd();
    const real = createKubeListWatchSource<Widget>(client, '/apis/test.swell.dev/v1/widgets');
    const expired = await watchFromOldVersion(real);
    expect(expired).toBe(410);

    // The first list hands out a long-gone resource version, as if etcd compacted between list and watch.
    const listedAt: number[] = [];
    const stale: ListWatchSource<Widget> = {
      async list(query, signal) {
        listedAt.push(Date.now());
        const result = await real.list(query, signal);
        return listedAt.length === 1 ? { ...result, resourceVersion: '1' } : result;
      },
      watch: (query, onEvent, onClose) => real.watch(query, onEvent, onClose),
    };
    const informer = new Informer<Widget>({ name: 'widgets', source: stale, log });
    const events: string[] = [];
    informer.addHandler({ add: (w) => events.push(`add ${w.metadata?.name}`), update: (_o, w) => events.push(`update ${w.metadata?.name} ${w.spec?.size}`) });
    informer.start();
    stops.push(() => informer.stop());
    await informer.synced();
    await until('the relist after 410', () => listedAt.length >= 2);
    expect(listedAt[1]! - listedAt[0]!).toBeLessThan(1_000);

    const objects = config.makeApiClient(CustomObjectsApi);
    const ref = { group: 'test.swell.dev', version: 'v1', plural: 'widgets', namespace, name: 'w1' };
    await objects.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: 'test.swell.dev/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 1 } },
    });
    await until('the informer to see a Widget created after the relist', () => events.includes('add w1'));
    await client.request('PATCH', `/apis/test.swell.dev/v1/namespaces/${namespace}/widgets/w1`, {
      body: { spec: { size: 2 } },
      contentType: 'application/merge-patch+json',
    });
    await until('the merge-patched Widget', () => events.includes('update w1 2'));
    expect(informer.get(`${namespace}/w1`)).toMatchObject({ kind: 'Widget', spec: { size: 2 } });
    expect(listedAt).toHaveLength(2);
  });

  it('two electors on one Lease: exactly one leads, and the other takes over at once when it releases', async () => {
    const store = () => createKubeLeaseStore(client, { namespace, name: 'swell-test-leader' });
    const timings = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 500 };
    const candidates = ['first', 'second'].map((identity) => {
      const elector = new LeaderElector({ store: store(), identity, log, ...timings, onStartedLeading: () => {} });
      const abort = new AbortController();
      const done = elector.run(abort.signal);
      stops.push(() => (abort.abort(), done));
      return { identity, elector, abort, done };
    });
    const leader = await until('a leader', () => candidates.find((c) => c.elector.isLeader));
    const other = candidates.find((c) => c !== leader)!;
    for (let i = 0; i < 30; i++) {
      expect(candidates.filter((c) => c.elector.isLeader)).toHaveLength(1);
      await sleep(clock, 100);
    }
    expect(other.elector.leader).toBe(leader.identity);

    leader.abort.abort();
    expect(await leader.done).toBe('cancelled');
    const releasedAt = Date.now();
    await until('the other candidate to lead', () => other.elector.isLeader, 10_000);
    console.info(`leader election: successor took over ${Date.now() - releasedAt} ms after the release`);
    // A successor that had to wait for expiry would need the full 6 s lease duration.
    expect(Date.now() - releasedAt).toBeLessThan(timings.leaseDurationMs / 2);

    const lease = await client.request<{
      spec: { holderIdentity: string; leaseTransitions: number; leaseDurationSeconds: number; renewTime: string; acquireTime: string };
    }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/swell-test-leader`);
    expect(lease.spec).toMatchObject({ holderIdentity: other.identity, leaseTransitions: 1, leaseDurationSeconds: 6 });
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.parse(lease.spec.acquireTime)).toBeGreaterThanOrEqual(releasedAt - 1_000);
  });

  it('a controller with 2 workers reconciles each key once per burst of changes, seeing the latest state', async () => {
    const labels = { 'swell.test/controller': 'yes' };
    const names = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    const informer = startInformer(createKubeListWatchSource(client, configMapPath()), 'swell.test/controller=yes');
    const queue = new WorkQueue({ name: 'configmaps' });
    informer.addHandler(enqueueHandler(queue));
    await informer.synced();

    for (const name of names) await createConfigMap(name, labels, { v: '0' });
    for (let v = 1; v <= 3; v++) for (const name of names) await patchConfigMap(name, { v: String(v) });
    await until('the informer to see every final version', () => names.every((n) => informer.get(`${namespace}/${n}`)?.data?.v === '3'));
    expect(queue.length).toBe(names.length);

    const reconciles = new Map<string, number>();
    const lastSeen = new Map<string, string | undefined>();
    let running = 0;
    let peak = 0;
    let hold = Promise.resolve();
    const abort = new AbortController();
    const controller = runController({
      name: 'configmaps',
      queue,
      workers: 2,
      log,
      signal: abort.signal,
      reconcile: async (key) => {
        peak = Math.max(peak, ++running);
        reconciles.set(key, (reconciles.get(key) ?? 0) + 1);
        lastSeen.set(key, informer.get(key)?.data?.v);
        await hold;
        await sleep(clock, 100);
        running--;
      },
    });
    stops.push(() => (abort.abort(), controller));
    await until('every key reconciled', () => reconciles.size === names.length && queue.length === 0 && queue.processing === 0);
    expect([...reconciles.values()]).toEqual(names.map(() => 1));
    expect(peak).toBe(2);

    // Second burst, with reconciles held until it is over: c1 and c2 are taken by the two idle workers at
    // their first change, so their later changes make exactly one more pass; c3..c6 wait in the queue and
    // collapse into one pass each.
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    for (const name of names) for (let v = 4; v <= 6; v++) await patchConfigMap(name, { v: String(v) });
    await until('the informer to see the second burst', () => names.every((n) => informer.get(`${namespace}/${n}`)?.data?.v === '6'));
    release();
    await until('every key reconciled at its final version', () => names.every((n) => lastSeen.get(`${namespace}/${n}`) === '6'));
    await until('the queue to settle', () => queue.length === 0 && queue.processing === 0);
    expect(names.map((n) => reconciles.get(`${namespace}/${n}`))).toEqual([3, 3, 2, 2, 2, 2]);
    expect(peak).toBe(2);
    abort.abort();
    await controller;
  });
});
