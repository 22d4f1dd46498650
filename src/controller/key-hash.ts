/**
 * A stable 32-bit hash of `key` (e.g. `namespace/name`), the same in every process and across restarts:
 * 32-bit FNV-1a, then MurmurHash3's finalizer, because FNV alone leaves names that differ only in their last
 * characters (so-1, so-2, ...) bunched in the high bits.
 */
export function keyHash(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
