/**
 * A non-2xx answer from the apiserver: the one error type of {@link KubeClient} calls. `code` is the HTTP
 * status, `reason` and `body` the `Status` the server sent (when it sent one).
 */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';

  constructor(
    readonly method: string,
    readonly path: string,
    readonly code: number,
    readonly reason: string | undefined,
    readonly body: unknown,
    serverMessage: string,
  ) {
    super(`${method} ${path}: ${code}${reason ? ` ${reason}` : ''}: ${serverMessage}`);
  }

  static fromResponse(method: string, path: string, code: number, body: unknown, text: string): KubeApiError {
    const status = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const reason = typeof status.reason === 'string' ? status.reason : undefined;
    const message = typeof status.message === 'string' ? status.message : text.slice(0, 200) || `HTTP ${code}`;
    return new KubeApiError(method, path, code, reason, body, message);
  }
}

/**
 * The HTTP status carried by an error from the Kubernetes API: `code` on {@link KubeApiError} (and client-node's ApiException),
 * `statusCode` on watch errors, or `code` on a `Status` object delivered as a watch ERROR event.
 */
export function apiStatusCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  for (const field of ['code', 'statusCode'] as const) {
    const value = (error as Record<string, unknown>)[field];
    if (typeof value === 'number') return value;
  }
  return undefined;
}

/** The machine-readable `reason` of a Kubernetes `Status` body (e.g. `AlreadyExists`, `Conflict`, `Expired`). */
export function apiStatusReason(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const direct = (error as Record<string, unknown>).reason;
  if (typeof direct === 'string') return direct;
  const body = parseBody((error as Record<string, unknown>).body);
  return typeof body?.reason === 'string' ? body.reason : undefined;
}

function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>;
  if (typeof body !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const isNotFound = (error: unknown): boolean => apiStatusCode(error) === 404;
/** 409 for any reason: an optimistic-concurrency conflict on update, or AlreadyExists on create. */
export const isConflict = (error: unknown): boolean => apiStatusCode(error) === 409;
export const isAlreadyExists = (error: unknown): boolean => isConflict(error) && apiStatusReason(error) === 'AlreadyExists';
/** 410: the resource version asked for has been compacted away; the caller must relist. */
export const isGone = (error: unknown): boolean => apiStatusCode(error) === 410;
export const isForbidden = (error: unknown): boolean => apiStatusCode(error) === 403;
export const isUnauthorized = (error: unknown): boolean => apiStatusCode(error) === 401;
export const isInvalid = (error: unknown): boolean => apiStatusCode(error) === 422;
export const isTooManyRequests = (error: unknown): boolean => apiStatusCode(error) === 429;

/** A short description of an API error for logs and conditions: status, reason and the server's message. */
export function describeApiError(error: unknown): string {
  const code = apiStatusCode(error);
  const reason = apiStatusReason(error);
  const body = typeof error === 'object' && error !== null ? parseBody((error as Record<string, unknown>).body) : undefined;
  const message = typeof body?.message === 'string' ? body.message : error instanceof Error ? error.message : String(error);
  return [code, reason, message].filter((part) => part !== undefined && part !== '').join(' ');
}
