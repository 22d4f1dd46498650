import type { KubernetesObject } from '@kubernetes/client-node';
import type { ListResult, ListWatchSource, WatchEvent } from '../controller/list-watch-source.js';
import type { KubeWatchClient } from './client.js';

/** Objects fetched per list page, so huge collections are listed in bounded chunks. */
const LIST_PAGE_SIZE = 500;

const WATCH_EVENT_TYPES = new Set<string>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

interface ListPage {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubernetesObject[];
}

/**
 * The informer's source for one collection path of the API server, namespaced or cluster-wide, built-in
 * or custom: `/api/v1/namespaces/ns/configmaps`, `/api/v1/configmaps`,
 * `/apis/keda.sh/v1alpha1/scaledobjects`. Lists page by page; watches on the client's watch connection.
 */
export function createKubeListWatchSource<T extends KubernetesObject>(client: KubeWatchClient, path: string): ListWatchSource<T> {
  if (!path.startsWith('/') || path.includes('?')) throw new Error(`collection path must be an absolute path without a query, got "${path}"`);
  return {
    async list(query, signal): Promise<ListResult<T>> {
      const items: T[] = [];
      let token: string | undefined;
      let resourceVersion: string;
      do {
        const page = await client.request<ListPage>('GET', path, { query: { ...query, limit: LIST_PAGE_SIZE, continue: token }, signal });
        // Items of a list carry no kind or apiVersion; restore them so handlers see complete objects.
        const kind = page.kind?.replace(/List$/, '');
        for (const item of page.items ?? []) items.push({ apiVersion: page.apiVersion, kind, ...item } as T);
        resourceVersion = page.metadata?.resourceVersion ?? '';
        token = page.metadata?.continue || undefined;
      } while (token);
      return { items, resourceVersion };
    },

    async watch(query, onEvent, onClose): Promise<() => void> {
      return client.watch(
        path,
        { ...query },
        ({ type, object }) => {
          if (WATCH_EVENT_TYPES.has(type)) onEvent({ type: type as WatchEvent<T>['type'], object: object as T });
        },
        onClose,
      );
    },
  };
}
