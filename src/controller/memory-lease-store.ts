import type { LeaseRecord, LeaseStore, StoredLease } from './leader-election.js';
import type { LeaseCollection } from './shard-claims.js';

function conflict(): Error {
  return Object.assign(new Error('the object has been modified'), { code: 409 });
}

/** One Lease in memory with the API server's optimistic concurrency; `failing` makes every call fail. */
export class MemoryLeaseStore implements LeaseStore {
  constructor(readonly description = 'swell-system/swell-leader') {}

  lease: StoredLease | undefined;
  failing = false;
  hanging = false;
  readonly calls = { get: 0, create: 0, update: 0 };
  #version = 0;

  get(): Promise<StoredLease | undefined> {
    this.calls.get++;
    return this.#call(() => this.lease && structuredClone(this.lease));
  }

  create(record: LeaseRecord): Promise<StoredLease> {
    this.calls.create++;
    return this.#call(() => {
      if (this.lease) throw conflict();
      return this.#write(record);
    });
  }

  update(record: LeaseRecord, resourceVersion: string): Promise<StoredLease> {
    this.calls.update++;
    return this.#call(() => {
      if (this.lease?.resourceVersion !== resourceVersion) throw conflict();
      return this.#write(record);
    });
  }

  #write(record: LeaseRecord): StoredLease {
    this.lease = { record: structuredClone(record), resourceVersion: String(++this.#version) };
    return structuredClone(this.lease);
  }

  #call<T>(operation: () => T): Promise<T> {
    if (this.hanging) return new Promise(() => {});
    if (this.failing) return Promise.reject(Object.assign(new Error('connection refused'), { code: 503 }));
    try {
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** Many Leases of one namespace in memory, as ShardClaims lists and deletes them; `failing` makes listing fail. */
export class MemoryLeaseCollection implements LeaseCollection {
  readonly description = 'swell-system';
  readonly stores = new Map<string, MemoryLeaseStore>();
  failing = false;

  store(name: string): MemoryLeaseStore {
    let store = this.stores.get(name);
    if (!store) {
      store = new MemoryLeaseStore(`${this.description}/${name}`);
      this.stores.set(name, store);
    }
    return store;
  }

  list(): Promise<Map<string, StoredLease>> {
    if (this.failing) return Promise.reject(Object.assign(new Error('connection refused'), { code: 503 }));
    const listed = new Map<string, StoredLease>();
    for (const [name, store] of this.stores) if (store.lease) listed.set(name, structuredClone(store.lease));
    return Promise.resolve(listed);
  }

  delete(name: string, resourceVersion: string): Promise<void> {
    const store = this.stores.get(name);
    if (store?.lease?.resourceVersion !== resourceVersion) return Promise.reject(conflict());
    store.lease = undefined;
    return Promise.resolve();
  }
}
