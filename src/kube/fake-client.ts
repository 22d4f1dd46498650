import type { HttpMethod as Method, JsonObject, KubeClient, RequestOptions } from './client.js';
import { KubeApiError } from './errors.js';

export interface RecordedCall {
  method: Method;
  path: string;
  body?: unknown;
}

/**
 * An in-memory apiserver for unit tests of the operator's I/O shell: objects stored by path, JSON merge
 * patches, the status and scale subresources (scale maps to spec.replicas), and a log of the writes. Like the
 * real apiserver, a PUT or PATCH that carries metadata.resourceVersion is refused with 409 Conflict unless that
 * is the stored object's current version, so optimistic-concurrency paths can be tested.
 */
export class FakeKubeClient implements KubeClient {
  readonly objects = new Map<string, JsonObject>();
  readonly calls: RecordedCall[] = [];
  private version = 1;
  private generated = 0;
  private readonly failures: { method: Method; path: string; error: Error }[] = [];

  /** Every `method` request to `path` (or below it) fails with `error` until `heal()`. */
  fail(method: Method, path: string, error: Error): void {
    this.failures.push({ method, path, error });
  }

  heal(): void {
    this.failures.length = 0;
  }

  put(path: string, object: JsonObject): void {
    this.objects.set(path, this.stamp(structuredClone(object)));
  }

  get(path: string): JsonObject | undefined {
    return this.objects.get(path);
  }

  writes(): RecordedCall[] {
    return this.calls.filter((c) => c.method !== 'GET');
  }

  request<T = JsonObject>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
    this.calls.push({ method, path, ...(options.body !== undefined ? { body: structuredClone(options.body) } : {}) });
    const failure = this.failures.find((f) => f.method === method && (path === f.path || path.startsWith(`${f.path}/`)));
    if (failure) return Promise.reject(failure.error);
    try {
      return Promise.resolve(this.handle(method, path, options.body) as T);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private handle(method: Method, path: string, body: unknown): unknown {
    const [base, sub] = splitSubresource(path);
    const current = this.objects.get(base);
    switch (method) {
      case 'GET':
        if (current) return sub === 'scale' ? scaleOf(current) : structuredClone(current);
        if (!sub && isCollection(path)) return { items: [...this.objects].filter(([p]) => p.startsWith(`${path}/`) && !p.slice(path.length + 1).includes('/')).map(([, o]) => structuredClone(o)) };
        throw notFound(path);
      case 'PATCH': {
        if (!current) throw notFound(path);
        refuseStale(method, path, current, body);
        const patch = sub === 'scale' ? { spec: { replicas: (body as { spec: { replicas: number } }).spec.replicas } } : (body as JsonObject);
        const merged = mergePatch(current, sub === 'status' ? { status: (patch as { status: unknown }).status } : patch) as JsonObject;
        this.objects.set(base, this.stamp(merged));
        return sub === 'scale' ? scaleOf(merged) : structuredClone(merged);
      }
      case 'POST': {
        const object = structuredClone(body) as { metadata: { name?: string; generateName?: string } };
        object.metadata.name ??= `${object.metadata.generateName ?? 'obj-'}${++this.generated}`;
        const at = `${path}/${object.metadata.name}`;
        if (this.objects.has(at)) throw KubeApiError.fromResponse('POST', path, 409, { reason: 'AlreadyExists', message: `${at} already exists` }, '');
        this.objects.set(at, this.stamp(object));
        return structuredClone(this.objects.get(at));
      }
      case 'PUT':
        if (!current) throw notFound(path);
        refuseStale(method, path, current, body);
        this.objects.set(base, this.stamp(structuredClone(body) as JsonObject));
        return structuredClone(this.objects.get(base));
      case 'DELETE':
        if (!current) throw notFound(path);
        this.objects.delete(base);
        return {};
    }
  }

  private stamp(object: JsonObject): JsonObject {
    const metadata = (object.metadata ?? {}) as JsonObject;
    metadata.resourceVersion = String(++this.version);
    object.metadata = metadata;
    return object;
  }
}

function splitSubresource(path: string): [string, string | undefined] {
  for (const sub of ['scale', 'status']) if (path.endsWith(`/${sub}`)) return [path.slice(0, -sub.length - 1), sub];
  return [path, undefined];
}

/** A list path (`/api/v1/pods`, `/apis/g/v/namespaces/ns/things`) rather than one object's path. */
function isCollection(path: string): boolean {
  const segments = path.split('?')[0]?.split('/').filter((segment) => segment !== '') ?? [];
  const afterVersion = segments.length - (segments[0] === 'api' ? 2 : 3);
  return afterVersion % 2 === 1;
}

function scaleOf(object: JsonObject): JsonObject {
  const spec = object.spec as { replicas?: number } | undefined;
  const metadata = object.metadata as { resourceVersion?: string } | undefined;
  return { kind: 'Scale', metadata: { resourceVersion: metadata?.resourceVersion }, spec: { replicas: spec?.replicas ?? 1 }, status: { selector: 'app=test' } };
}

/** A write that names a resourceVersion is a precondition: it applies only to that version of the object. */
function refuseStale(method: Method, path: string, current: JsonObject, body: unknown): void {
  const expected = (body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
  if (expected === undefined || expected === null || expected === '') return;
  const actual = (current.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
  if (expected === actual) return;
  throw KubeApiError.fromResponse(method, path, 409, { kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409, message: `Operation cannot be fulfilled on ${path}: the object has been modified (resourceVersion ${JSON.stringify(expected)} is not the current ${actual ?? 'none'})` }, '');
}

function notFound(path: string): KubeApiError {
  return KubeApiError.fromResponse('GET', path, 404, { reason: 'NotFound', message: `${path} not found` }, '');
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const result: JsonObject = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as JsonObject) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
