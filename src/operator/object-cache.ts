/** What a controller reads its objects from: an informer's store in production, a map in unit tests. */
export interface ObjectCache<T> {
  get(key: string): T | undefined;
  list(): T[];
}

/** Where a reconciler starts and stops the periodic polls of an object, by key. */
export interface PollRegistry {
  schedule(key: string, intervalMs: number): void;
  unschedule(key: string): void;
}
