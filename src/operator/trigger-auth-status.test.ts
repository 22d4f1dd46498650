import { type KubernetesObject } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { TerminalError } from '../controller/controller.js';
import { FakeClock, flushMicrotasks } from '../controller/fake-clock.js';
import { Informer } from '../controller/informer.js';
import type { ListResult, ListWatchSource, WatchEvent } from '../controller/list-watch-source.js';
import { createLogger } from '../log.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import { KubeApiError } from '../kube/errors.js';
import type { RequestOptions } from '../kube/client.js';
import { authKey, authKeysOf, referrerNames, TriggerAuthStatus, type AuthReferrer } from './trigger-auth-status.js';

type Ref = { name: string; kind?: string };

function so(namespace: string, name: string, refs: (Ref | undefined)[], deleting = false): AuthReferrer & KubernetesObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { namespace, name, ...(deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: { triggers: refs.map((ref) => ({ type: 'cron', metadata: {}, ...(ref ? { authenticationRef: ref } : {}) })) },
  } as AuthReferrer & KubernetesObject;
}

const ta = (ns: string, name: string) => authKey('TriggerAuthentication', ns, name);
const cta = (name: string) => authKey('ClusterTriggerAuthentication', undefined, name);

describe('authKeysOf: which auth objects one ScaledObject refers to', () => {
  it.each([
    ['no authenticationRef', so('app', 'a', [undefined]), []],
    ['a ref without kind is a TriggerAuthentication in its own namespace', so('app', 'a', [{ name: 'creds' }]), [ta('app', 'creds')]],
    ['an explicit TriggerAuthentication kind', so('app', 'a', [{ name: 'creds', kind: 'TriggerAuthentication' }]), [ta('app', 'creds')]],
    ['a ClusterTriggerAuthentication has no namespace', so('app', 'a', [{ name: 'shared', kind: 'ClusterTriggerAuthentication' }]), [cta('shared')]],
    [
      'triggers sharing a ref count it once',
      so('app', 'a', [{ name: 'creds' }, { name: 'creds' }, { name: 'shared', kind: 'ClusterTriggerAuthentication' }]),
      [ta('app', 'creds'), cta('shared')],
    ],
    ['an object being deleted refers to nothing', so('app', 'a', [{ name: 'creds' }], true), []],
  ])('%s', (_name, referrer, expected) => {
    expect(authKeysOf(referrer)).toEqual(expected);
  });
});

describe('referrerNames: the status value of one auth object', () => {
  const objects = [
    so('app', 'web', [{ name: 'creds' }]),
    so('app', 'api', [undefined, { name: 'creds', kind: 'TriggerAuthentication' }]),
    so('other', 'web', [{ name: 'creds' }]),
    so('app', 'gone', [{ name: 'creds' }], true),
    so('app', 'cluster-user', [{ name: 'creds', kind: 'ClusterTriggerAuthentication' }]),
    so('other', 'cluster-user', [{ name: 'creds', kind: 'ClusterTriggerAuthentication' }]),
    so('app', 'unrelated', [{ name: 'elsewhere' }]),
  ];
  it.each([
    ['a TriggerAuthentication lists its namespace’s referrers by name, sorted, without those being deleted', ta('app', 'creds'), 'api,web'],
    ['the same name in another namespace is another object', ta('other', 'creds'), 'web'],
    ['a ClusterTriggerAuthentication lists namespace/name, since names repeat across namespaces', cta('creds'), 'app/cluster-user,other/cluster-user'],
    ['nothing refers to it', ta('app', 'nobody'), undefined],
    ['only a referrer being deleted', ta('app', 'gone-only'), undefined],
  ])('%s', (_name, key, expected) => {
    const all = [...objects, so('app', 'x', [{ name: 'gone-only' }], true)];
    expect(referrerNames(key, all)).toBe(expected);
  });
});

/** A collection the test fills before the informer lists it, then changes through watch events. */
class ScriptedSource implements ListWatchSource<KubernetesObject> {
  #send: ((event: WatchEvent<KubernetesObject>) => void) | undefined;
  constructor(private readonly items: KubernetesObject[]) {}

  list(): Promise<ListResult<KubernetesObject>> {
    return Promise.resolve({ items: this.items, resourceVersion: '1' });
  }

  watch(_query: unknown, onEvent: (event: WatchEvent<KubernetesObject>) => void): Promise<() => void> {
    this.#send = onEvent;
    return Promise.resolve(() => undefined);
  }

  send(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubernetesObject, resourceVersion: string): void {
    this.#send?.({ type, object: { ...object, metadata: { ...object.metadata, resourceVersion } } });
  }
}

const log = createLogger({ level: 'silent' });
const informers: Informer<KubernetesObject>[] = [];
afterEach(async () => {
  await Promise.all(informers.splice(0).map((i) => i.stop()));
});

async function setup(referrers: KubernetesObject[], client = new FakeKubeClient()) {
  const clock = new FakeClock();
  const taPath = '/apis/keda.sh/v1alpha1/namespaces/app/triggerauthentications/creds';
  const ctaPath = '/apis/keda.sh/v1alpha1/clustertriggerauthentications/shared';
  const taObject = { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'creds', namespace: 'app', uid: 'u1' }, spec: {} };
  const ctaObject = { apiVersion: 'keda.sh/v1alpha1', kind: 'ClusterTriggerAuthentication', metadata: { name: 'shared', uid: 'u2' }, spec: {} };
  client.put(taPath, taObject);
  client.put(ctaPath, ctaObject);
  // Copies: the informers must see the stored objects as they were listed, not later writes to them.
  const stored = (path: string) => structuredClone(client.get(path)) as KubernetesObject;
  const sources = { referrers: new ScriptedSource(referrers), tas: new ScriptedSource([stored(taPath)]), ctas: new ScriptedSource([stored(ctaPath)]) };
  const make = (name: string, source: ScriptedSource) => {
    const informer = new Informer<KubernetesObject>({ name, source, log, clock, resyncPeriodMs: 0 });
    informers.push(informer);
    return informer;
  };
  const queued: string[] = [];
  const status = new TriggerAuthStatus({
    field: 'scaledobjects',
    client,
    referrers: make('so', sources.referrers),
    triggerAuths: make('ta', sources.tas),
    clusterTriggerAuths: make('cta', sources.ctas),
    enqueue: (key) => queued.push(key),
  });
  for (const informer of informers) informer.start();
  await flushMicrotasks();
  const statusOf = (path: string) => (client.get(path) as { status?: Record<string, string> }).status;
  /** Reconciles what the handlers queued, as the term's work queue would (each key once). */
  const drain = async () => {
    for (const key of new Set(queued.splice(0))) await status.reconcile(key);
  };
  return { client, sources, queued, status, statusOf, drain, taPath, ctaPath };
}

describe('TriggerAuthStatus', () => {
  it('writes the referrers once, then nothing while they stay the same', async () => {
    const { client, status, statusOf, taPath, ctaPath } = await setup([
      so('app', 'web', [{ name: 'creds' }]),
      so('app', 'api', [{ name: 'shared', kind: 'ClusterTriggerAuthentication' }, { name: 'creds' }]),
    ]);
    expect(status.keys().sort()).toEqual([cta('shared'), ta('app', 'creds')]);
    for (const key of status.keys()) await status.reconcile(key);
    expect(statusOf(taPath)).toEqual({ scaledobjects: 'api,web' });
    expect(statusOf(ctaPath)).toEqual({ scaledobjects: 'app/api' });
    expect(client.writes().map((w) => w.path)).toEqual([`${taPath}/status`, `${ctaPath}/status`]);
    for (const key of status.keys()) await status.reconcile(key);
    expect(client.writes()).toHaveLength(2);
  });

  it('follows referrers being created, moving their reference and being deleted', async () => {
    const web = so('app', 'web', [{ name: 'creds' }]);
    const { sources, queued, statusOf, drain, taPath, ctaPath } = await setup([web]);
    queued.splice(0);

    const api = so('app', 'api', [{ name: 'creds' }]);
    sources.referrers.send('ADDED', api, '10');
    expect(queued).toEqual([ta('app', 'creds')]);
    await drain();
    expect(statusOf(taPath)?.scaledobjects).toBe('api,web');

    sources.referrers.send('MODIFIED', so('app', 'web', [{ name: 'shared', kind: 'ClusterTriggerAuthentication' }]), '11');
    expect(queued.sort()).toEqual([cta('shared'), ta('app', 'creds')]);
    await drain();
    expect(statusOf(taPath)?.scaledobjects).toBe('api');
    expect(statusOf(ctaPath)?.scaledobjects).toBe('app/web');

    sources.referrers.send('DELETED', api, '12');
    await drain();
    expect(statusOf(taPath)).toEqual({});
  });

  it('does not look again when a referrer changes without touching its references', async () => {
    const web = so('app', 'web', [{ name: 'creds' }]);
    const { sources, queued } = await setup([web]);
    queued.splice(0);
    sources.referrers.send('MODIFIED', { ...web, metadata: { ...web.metadata, labels: { team: 'a' } } }, '10');
    expect(queued).toEqual([]);
  });

  it('fills the status of an auth object created after its referrers', async () => {
    const { client, sources, queued, drain } = await setup([so('app', 'late', [{ name: 'late-auth' }])]);
    queued.splice(0);
    const path = '/apis/keda.sh/v1alpha1/namespaces/app/triggerauthentications/late-auth';
    client.put(path, { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'late-auth', namespace: 'app', uid: 'u3' }, spec: {} });
    sources.tas.send('ADDED', structuredClone(client.get(path)) as KubernetesObject, '20');
    await drain();
    expect((client.get(path) as { status?: Record<string, string> }).status).toEqual({ scaledobjects: 'late' });
  });

  it('gives up on an auth object whose status it may not patch, naming the permission', async () => {
    class ForbiddingClient extends FakeKubeClient {
      override request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options?: RequestOptions): Promise<T> {
        if (method === 'PATCH') return Promise.reject(KubeApiError.fromResponse('PATCH', '/', 403, { reason: 'Forbidden' }, ''));
        return super.request<T>(method, path, options);
      }
    }
    const { status } = await setup([so('app', 'web', [{ name: 'creds' }])], new ForbiddingClient());
    const failure = status.reconcile(ta('app', 'creds'));
    await expect(failure).rejects.toBeInstanceOf(TerminalError);
    await expect(failure).rejects.toThrow(/triggerauthentications\/status/);
  });
});
