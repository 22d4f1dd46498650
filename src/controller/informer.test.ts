import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { Informer, enqueueHandler, type InformerOptions } from './informer.js';
import type { ListQuery, ListResult, ListWatchSource, WatchEvent, WatchQuery } from './list-watch-source.js';

interface OpenWatch {
  query: WatchQuery;
  startedAt: number;
  send(type: WatchEvent<KubernetesObject>['type'], object: KubernetesObject): void;
  close(error: unknown): void;
  cancelled: boolean;
}

/** An in-memory collection that lists its objects and lets the test drive each watch connection. */
class FakeSource implements ListWatchSource<KubernetesObject> {
  objects = new Map<string, KubernetesObject>();
  resourceVersion = 100;
  lists: ListQuery[] = [];
  watches: OpenWatch[] = [];
  listFailures = 0;

  constructor(readonly clock: FakeClock) {}

  put(name: string, data: Record<string, string> = {}): KubernetesObject {
    const object = { kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: String(++this.resourceVersion) }, data };
    this.objects.set(name, object);
    return object;
  }

  list(query: ListQuery): Promise<ListResult<KubernetesObject>> {
    this.lists.push(query);
    if (this.listFailures > 0) {
      this.listFailures--;
      return Promise.reject(Object.assign(new Error('service unavailable'), { statusCode: 503 }));
    }
    return Promise.resolve({ items: [...this.objects.values()], resourceVersion: String(this.resourceVersion) });
  }

  watch(query: WatchQuery, onEvent: (event: WatchEvent<KubernetesObject>) => void, onClose: (error: unknown) => void): Promise<() => void> {
    let closed = false;
    const watch: OpenWatch = {
      query,
      startedAt: this.clock.now(),
      cancelled: false,
      send: (type, object) => {
        if (!closed) onEvent({ type, object });
      },
      close: (error) => {
        if (closed) return;
        closed = true;
        onClose(error);
      },
    };
    this.watches.push(watch);
    return Promise.resolve(() => {
      watch.cancelled = true;
      closed = true;
    });
  }

  get current(): OpenWatch {
    const watch = this.watches.at(-1);
    if (!watch) throw new Error('no watch started');
    return watch;
  }
}

interface Recorded {
  events: string[];
}

let running: Informer<KubernetesObject>[] = [];

afterEach(async () => {
  await Promise.all(running.map((i) => i.stop()));
  running = [];
});

function setup(overrides: Partial<InformerOptions<KubernetesObject>> = {}, random = 0.5) {
  const clock = new FakeClock();
  const source = new FakeSource(clock);
  const informer = new Informer<KubernetesObject>({
    name: 'configmaps',
    source,
    log: createLogger({ level: 'silent' }),
    clock,
    random: () => random,
    resyncPeriodMs: 0,
    ...overrides,
  });
  const recorded: Recorded = { events: [] };
  informer.addHandler({
    add: (o) => recorded.events.push(`add ${o.metadata?.name}`),
    update: (a, b) => recorded.events.push(`update ${b.metadata?.name} ${a.metadata?.resourceVersion}->${b.metadata?.resourceVersion}`),
    delete: (o) => recorded.events.push(`delete ${o.metadata?.name}`),
  });
  running.push(informer);
  return { clock, source, informer, recorded };
}

describe('Informer', () => {
  it('lists into its cache without managedFields, then watches from the list resource version', async () => {
    const { source, informer, recorded } = setup({ labelSelector: 'app=x', fieldSelector: 'metadata.name!=skip' });
    const a = source.put('a');
    a.metadata!.managedFields = [{ manager: 'kubectl' }];
    informer.start();
    expect(await informer.synced()).toBe(true);
    await flushMicrotasks();
    expect(informer.get('ns/a')?.metadata).not.toHaveProperty('managedFields');
    expect(a.metadata?.managedFields).toHaveLength(1);
    expect(recorded.events).toEqual(['add a']);
    expect(source.lists).toEqual([{ labelSelector: 'app=x', fieldSelector: 'metadata.name!=skip' }]);
    expect(source.current.query).toMatchObject({
      resourceVersion: '101',
      allowWatchBookmarks: true,
      labelSelector: 'app=x',
      fieldSelector: 'metadata.name!=skip',
    });
  });

  it('keeps an index current through list, add, a change of the indexed value, delete and relist', async () => {
    const { source, informer } = setup();
    const byTarget = (o: KubernetesObject): string[] => {
      const target = (o as { data?: Record<string, string> }).data?.target;
      return target ? [target] : [];
    };
    const names = (value: string): string[] =>
      informer
        .byIndex('target', value)
        .map((o) => o.metadata?.name ?? '')
        .sort();
    source.put('listed', { target: 'web' });
    source.put('untargeted');
    informer.start();
    await flushMicrotasks();
    // Added after the first list: what is cached already is filed too.
    informer.addIndex('target', byTarget);
    expect(names('web')).toEqual(['listed']);

    source.current.send('ADDED', source.put('a', { target: 'web' }));
    source.current.send('ADDED', source.put('b', { target: 'api' }));
    expect(names('web')).toEqual(['a', 'listed']);
    expect(names('api')).toEqual(['b']);

    source.current.send('MODIFIED', source.put('a', { target: 'api' }));
    expect(names('web')).toEqual(['listed']);
    expect(names('api')).toEqual(['a', 'b']);
    expect(informer.byIndex('target', 'api').find((o) => o.metadata?.name === 'a')?.metadata?.resourceVersion).toBe(
      informer.get('ns/a')?.metadata?.resourceVersion,
    );

    source.current.send('MODIFIED', source.put('untargeted', { target: 'web' }));
    source.current.send('MODIFIED', source.put('b'));
    expect(names('web')).toEqual(['listed', 'untargeted']);
    expect(names('api')).toEqual(['a']);

    source.current.send('DELETED', { kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns', resourceVersion: '200' } });
    source.objects.delete('a');
    expect(names('api')).toEqual([]);

    // Objects gone while the watch was down leave the index on the relist.
    source.objects.delete('listed');
    source.current.close(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await flushMicrotasks();
    expect(names('web')).toEqual(['untargeted']);
    expect(() => informer.byIndex('owner', 'x')).toThrow('no index owner');
    expect(() => informer.addIndex('target', byTarget)).toThrow('exists already');
  });

  it.each([
    [0, 300],
    [0.5, 450],
    [0.9999, 600],
  ])('asks the server to end each watch after a random 300..600 s (random %d -> %i s)', async (random, seconds) => {
    const { source, informer } = setup({}, random);
    informer.start();
    await flushMicrotasks();
    expect(source.current.query.timeoutSeconds).toBe(seconds);
  });

  it('applies watch events to the cache and tells handlers; bookmarks only move the resource version', async () => {
    const { clock, source, informer, recorded } = setup();
    informer.start();
    await flushMicrotasks();
    source.current.send('ADDED', source.put('b'));
    source.current.send('MODIFIED', source.put('b', { k: 'v' }));
    source.current.send('BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: '150' } });
    await clock.advance(5_000);
    source.current.send('DELETED', { kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ns', resourceVersion: '151' } });
    expect(recorded.events).toEqual(['add b', 'update b 101->102', 'delete b']);
    expect(informer.keys()).toEqual([]);
    expect(informer.resourceVersion).toBe('151');
    expect(informer.lastEventAt).toBe(clock.now());
  });

  it.each([
    ['an ERROR event with a 410 Status', (w: OpenWatch) => w.send('ERROR', { kind: 'Status', code: 410, reason: 'Expired' } as KubernetesObject)],
    ['a 410 response', (w: OpenWatch) => w.close(Object.assign(new Error('Gone'), { statusCode: 410 }))],
  ])('relists at once after %s, reporting what changed in between', async (_name, expire) => {
    const { source, informer, recorded } = setup();
    source.put('keep');
    source.put('change');
    source.put('remove');
    informer.start();
    await flushMicrotasks();
    source.put('change', { new: 'data' });
    source.objects.delete('remove');
    source.put('added');
    expire(source.current);
    await flushMicrotasks();
    expect(source.lists).toHaveLength(2);
    expect(source.current.cancelled).toBe(false);
    expect(source.watches).toHaveLength(2);
    expect(source.current.query.resourceVersion).toBe('105');
    expect(recorded.events.slice(3)).toEqual(['delete remove', 'update change 102->104', 'add added']);
    expect(informer.keys().sort()).toEqual(['ns/added', 'ns/change', 'ns/keep']);
  });

  it('reconnects after errors with growing, jittered delays and resets them once events flow again', async () => {
    const { clock, source, informer } = setup({}, 1);
    informer.start();
    await flushMicrotasks();
    const gaps: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = source.watches.length;
      source.current.close(Object.assign(new Error('connection reset'), { code: 'ECONNRESET' }));
      const failedAt = clock.now();
      while (source.watches.length === before) await clock.advance(clock.nextTimerDelay() ?? 1);
      gaps.push(clock.now() - failedAt);
    }
    expect(gaps).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(source.current.query.resourceVersion).toBe('100');
    source.current.send('ADDED', source.put('x'));
    source.current.close(new Error('reset'));
    const failedAt = clock.now();
    await clock.advance(999);
    expect(source.watches).toHaveLength(8);
    await clock.advance(1);
    expect(source.watches).toHaveLength(9);
    expect(clock.now() - failedAt).toBe(1_000);
    expect(source.current.query.resourceVersion).toBe('101');
    expect(source.lists).toHaveLength(1);
  });

  it.each([
    ['an ERROR event with a 500 Status', (w: OpenWatch) => w.send('ERROR', { kind: 'Status', code: 500, reason: 'InternalError' } as KubernetesObject)],
    ['a 429 answer while the server warms its cache', (w: OpenWatch) => w.close(Object.assign(new Error('Too Many Requests'), { statusCode: 429 }))],
  ])('treats %s as a failure to back off from, re-watching without a relist', async (_name, fail) => {
    const { clock, source, informer } = setup({}, 0);
    informer.start();
    await flushMicrotasks();
    fail(source.current);
    await clock.advance(999);
    expect(source.watches).toHaveLength(1);
    await clock.advance(1);
    expect(source.watches).toHaveLength(2);
    expect(source.lists).toHaveLength(1);
    expect(source.watches[0]?.cancelled).toBe(true);
  });

  it('keeps growing the backoff when every watch answers with an ERROR event', async () => {
    const { clock, source, informer } = setup({}, 1);
    informer.start();
    await flushMicrotasks();
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = source.watches.length;
      source.current.send('ERROR', { kind: 'Status', code: 500 } as KubernetesObject);
      const failedAt = clock.now();
      while (source.watches.length === before) await clock.advance(clock.nextTimerDelay() ?? 1);
      gaps.push(clock.now() - failedAt);
    }
    expect(gaps).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('backs off when starting a watch fails outright', async () => {
    const { clock, source, informer } = setup({}, 0);
    let refusals = 1;
    const watch = source.watch.bind(source);
    source.watch = (query, onEvent, onClose) =>
      refusals-- > 0 ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443')) : watch(query, onEvent, onClose);
    informer.start();
    await flushMicrotasks();
    expect(source.watches).toHaveLength(0);
    await clock.advance(1_000);
    expect(source.watches).toHaveLength(1);
  });

  it('re-watches at once when the server ends a long watch cleanly, but backs off from one ended instantly', async () => {
    const { clock, source, informer } = setup();
    informer.start();
    await flushMicrotasks();
    await clock.advance(300_000);
    source.current.close(null);
    await flushMicrotasks();
    expect(source.watches).toHaveLength(2);
    source.current.close(null);
    await flushMicrotasks();
    expect(source.watches).toHaveLength(2);
    await clock.advance(1_000);
    expect(source.watches).toHaveLength(3);
  });

  it('replaces a watch that stays silent past the staleness limit with a relist', async () => {
    const { clock, source, informer } = setup({ staleAfterMs: 60_000 });
    informer.start();
    await flushMicrotasks();
    await clock.advance(40_000);
    source.current.send('BOOKMARK', { metadata: { resourceVersion: '120' } });
    await clock.advance(59_000);
    expect(source.lists).toHaveLength(1);
    await clock.advance(1_000);
    expect(source.lists).toHaveLength(2);
    expect(source.watches[0]?.cancelled).toBe(true);
    expect(source.watches).toHaveLength(2);
  });

  it('re-delivers every cached object as an update on each resync period', async () => {
    const { clock, source, informer, recorded } = setup({ resyncPeriodMs: 60_000 });
    source.put('a');
    source.put('b');
    informer.start();
    await flushMicrotasks();
    await clock.advance(60_000);
    expect(recorded.events).toEqual(['add a', 'add b', 'update a 101->101', 'update b 102->102']);
    await clock.advance(60_000);
    expect(recorded.events).toHaveLength(6);
  });

  it('retries a failing list with backoff and is only synced after a list succeeds', async () => {
    const { clock, source, informer } = setup({}, 0);
    source.listFailures = 2;
    informer.start();
    await flushMicrotasks();
    expect(informer.hasSynced).toBe(false);
    await clock.advance(1_000);
    expect(source.lists).toHaveLength(2);
    expect(informer.hasSynced).toBe(false);
    await clock.advance(1_000);
    expect(source.lists).toHaveLength(3);
    expect(informer.hasSynced).toBe(true);
    expect(source.watches).toHaveLength(1);
  });

  it('keeps going when a handler throws', async () => {
    const { source, informer, recorded } = setup();
    informer.addHandler({
      add: () => {
        throw new Error('bad handler');
      },
    });
    source.put('a');
    source.put('b');
    informer.start();
    await flushMicrotasks();
    expect(recorded.events).toEqual(['add a', 'add b']);
  });

  it('stops cleanly: cancels the watch, leaves no timers, and reports an unsynced informer as not synced', async () => {
    const { clock, source, informer } = setup({ resyncPeriodMs: 60_000 });
    source.listFailures = 1;
    informer.start();
    const synced = informer.synced();
    await flushMicrotasks();
    await informer.stop();
    expect(await synced).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    informer.start();
    await flushMicrotasks();
    expect(informer.hasSynced).toBe(true);
    await informer.stop();
    expect(source.current.cancelled).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('enqueueHandler', () => {
  it('enqueues object keys by default, or the keys a mapping returns', () => {
    const added: string[] = [];
    const queue = { add: (key: string) => added.push(key) };
    const cm = { metadata: { name: 'a', namespace: 'ns' } };
    const byKey = enqueueHandler(queue);
    byKey.add?.(cm);
    byKey.update?.(cm, cm);
    byKey.delete?.(cm);
    const owners = enqueueHandler<KubernetesObject>(queue, (o) => (o.metadata?.name === 'skip' ? undefined : ['ns/owner-1', 'ns/owner-2']));
    owners.update?.(cm, cm);
    owners.add?.({ metadata: { name: 'skip' } });
    expect(added).toEqual(['ns/a', 'ns/a', 'ns/a', 'ns/owner-1', 'ns/owner-2']);
  });
});
