/** One RFC 6902 operation. `path` is a JSON pointer: build segments with {@link jsonPointerSegment}. */
export type JsonPatchOperation =
  { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string } | { op: 'move' | 'copy'; from: string; path: string };

/** Escapes one JSON-pointer segment (RFC 6901), e.g. the annotation key `autoscaling.keda.sh/paused`. */
export function jsonPointerSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}
