import type { KubernetesObject } from '@kubernetes/client-node';

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchQuery extends ListQuery {
  resourceVersion: string;
  allowWatchBookmarks: boolean;
  /** The server ends the watch cleanly after this long, so connections are recycled before proxies cut them. */
  timeoutSeconds: number;
}

export interface ListResult<T extends KubernetesObject> {
  items: T[];
  resourceVersion: string;
}

/** One line of a watch stream: `object` is the resource, a bookmark, or a `Status` for ERROR events. */
export interface WatchEvent<T extends KubernetesObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * Where an informer gets its objects from: a Kubernetes collection path in production
 * (`createKubeListWatchSource`), an in-memory fake in unit tests. Errors carry the HTTP status as
 * `statusCode` or `code` (410 means the resource version is too old).
 */
export interface ListWatchSource<T extends KubernetesObject> {
  /** A consistent list of the whole collection, with the resource version to start watching from. */
  list(query: ListQuery, signal: AbortSignal): Promise<ListResult<T>>;
  /**
   * Starts a watch. `onEvent` receives each event; `onClose` is called exactly once when the stream ends,
   * with null for a clean end or the error. Resolves to a function that aborts the watch.
   */
  watch(query: WatchQuery, onEvent: (event: WatchEvent<T>) => void, onClose: (error: unknown) => void): Promise<() => void>;
}
