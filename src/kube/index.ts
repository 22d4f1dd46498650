export { SERVICE_ACCOUNT_DIR, loadKubeConfig, resolveKubeConfigSource, type KubeConfigSource, type LoadKubeConfigOptions } from './config.js';
export {
  KubeApiError,
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
export { jsonPointerSegment, type JsonPatchOperation } from './patch.js';
export {
  createHttpKubeClient,
  readOrUndefined,
  resourcePath,
  type ContentType,
  type HttpKubeClientOptions,
  type HttpMethod,
  type JsonObject,
  type KubeClient,
  type KubeWatchClient,
  type QueryParams,
  type RequestOptions,
  type WatchLine,
} from './client.js';
