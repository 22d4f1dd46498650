import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';

/**
 * Per-call options that set the patch content type. Without them client-node 1.4.0's generated `patch*`
 * methods send `application/json-patch+json`, and a merge-patch object then fails with 400/415/422.
 */
export const mergePatchOptions = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const jsonPatchOptions = () => setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** One RFC 6902 operation. `path` is a JSON pointer: build segments with {@link jsonPointerSegment}. */
export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** Escapes one JSON-pointer segment (RFC 6901), e.g. the annotation key `autoscaling.keda.sh/paused`. */
export function jsonPointerSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Names one custom object; `namespace` is omitted for cluster-scoped kinds. */
export interface CustomObjectRef {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name: string;
}

export type PatchKind = 'merge' | 'json';

/** Patches a custom object (or, with `subresource: 'status'`, its status) with the right content type. */
export function patchCustomObject(
  api: CustomObjectsApi,
  ref: CustomObjectRef,
  kind: PatchKind,
  body: Record<string, unknown> | JsonPatchOperation[],
  subresource?: 'status',
): Promise<object> {
  const options = kind === 'merge' ? mergePatchOptions() : jsonPatchOptions();
  const { namespace, ...cluster } = ref;
  if (namespace === undefined) {
    const params = { ...cluster, body };
    return subresource ? api.patchClusterCustomObjectStatus(params, options) : api.patchClusterCustomObject(params, options);
  }
  const params = { ...cluster, namespace, body };
  return subresource ? api.patchNamespacedCustomObjectStatus(params, options) : api.patchNamespacedCustomObject(params, options);
}
