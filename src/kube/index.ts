export { SERVICE_ACCOUNT_DIR, loadKubeConfig, resolveKubeConfigSource, type KubeConfigSource, type LoadKubeConfigOptions } from './config.js';
export {
  apiStatusCode,
  apiStatusReason,
  describeApiError,
  isAlreadyExists,
  isConflict,
  isForbidden,
  isGone,
  isInvalid,
  isNotFound,
  isTooManyRequests,
  isUnauthorized,
} from './errors.js';
export { createKubeLeaseStore, type KubeLeaseStoreOptions } from './lease-store.js';
export { createKubeListWatchSource } from './list-watch.js';
export { jsonPatchOptions, jsonPointerSegment, mergePatchOptions, patchCustomObject, type CustomObjectRef, type JsonPatchOperation, type PatchKind } from './patch.js';
export { KubeRequestError, getJson, type QueryParams } from './request.js';
