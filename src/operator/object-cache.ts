/** What a controller reads its objects from: an informer's store in production, a map in unit tests. */
export interface ObjectCache<T> {
  get(key: string): T | undefined;
  list(): T[];
}

/** A cache that also finds the objects its informer files under a value of one of its indexes. */
export interface IndexedObjectCache<T> extends ObjectCache<T> {
  byIndex(index: string, value: string): T[];
}

/** Where a reconciler starts and stops the periodic polls of an object, by key. */
export interface PollRegistry {
  schedule(key: string, intervalMs: number): void;
  unschedule(key: string): void;
}
