import type { LeaseRecord, LeaseStore, StoredLease } from './leader-election.js';

function conflict(): Error {
  return Object.assign(new Error('the object has been modified'), { code: 409 });
}

/** One Lease in memory with the API server's optimistic concurrency; `failing` makes every call fail. */
export class MemoryLeaseStore implements LeaseStore {
  readonly description = 'swell-system/swell-leader';
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
