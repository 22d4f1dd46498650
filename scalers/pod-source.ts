import type { Labels } from './label-selector.js';

/** What the scaler needs of a pod. */
export interface PodSummary {
  readonly metadata?: { readonly labels?: Labels };
  readonly status?: { readonly phase?: string };
}

/** The pods of one namespace, from an informer shared by every trigger that counts pods there. */
export interface NamespacePods {
  /** Resolves true once the first list is in, false if the informer stopped before. */
  synced(): Promise<boolean>;
  list(): readonly PodSummary[];
  /** Drops this holder's reference; the informer stops with the last one. */
  release(): Promise<void>;
}

/** Hands out the pods of a namespace; the operator backs it with one informer per namespace, never a LIST per poll. */
export interface PodSource {
  watch(namespace: string): NamespacePods;
}
