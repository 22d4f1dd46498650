import { matchesLabels, parseLabelSelector, type Requirement } from '../../scalers/label-selector.js';
import type { HttpMethod as Method, JsonObject, KubeWatchClient, QueryParams, RequestOptions, WatchLine } from './client.js';
import { KubeApiError } from './errors.js';

export interface RecordedCall {
  method: Method;
  path: string;
  body?: unknown;
}

/** At least this many changes are kept for watches that start from an older resourceVersion; older ones get 410 Expired. */
const keptChanges = 1_000;

/** One stored change, kept so a watch from an older resourceVersion sees what it missed. */
interface Change {
  version: number;
  path: string;
  before: JsonObject | undefined;
  after: JsonObject | undefined;
}

interface Selection {
  collection: string;
  labels: Requirement[];
  fields: FieldRequirement[];
}

interface Watcher extends Selection {
  onLine: (line: WatchLine) => void;
  onClose: (error: unknown) => void;
}

/**
 * An in-memory apiserver for unit tests of the operator's I/O shell: objects stored by path, JSON merge
 * patches and JSON patches (add, remove, replace), the status and scale subresources (scale maps to
 * spec.replicas), and a log of the writes. Like the real apiserver, a PUT or PATCH that carries
 * metadata.resourceVersion is refused with 409 Conflict unless that is the stored object's current version, so
 * optimistic-concurrency paths can be tested. Lists and watches honour `labelSelector` and `fieldSelector`; a
 * collection path without a namespace (`/api/v1/pods`) spans every namespace; a watch whose selector stops (or
 * starts) matching an object sees it DELETED (or ADDED), as from the real apiserver.
 */
export class FakeKubeClient implements KubeWatchClient {
  readonly objects = new Map<string, JsonObject>();
  readonly calls: RecordedCall[] = [];
  private version = 1;
  private generated = 0;
  private readonly failures: { method: Method; path: string; error: Error }[] = [];
  private readonly changes: Change[] = [];
  private readonly watchers = new Set<Watcher>();

  /** Every `method` request to `path` (or below it) fails with `error` until `heal()`. */
  fail(method: Method, path: string, error: Error): void {
    this.failures.push({ method, path, error });
  }

  heal(): void {
    this.failures.length = 0;
  }

  put(path: string, object: JsonObject): void {
    this.store(path, structuredClone(object));
  }

  /** Removes an object as if another client deleted it; watches see DELETED. */
  remove(path: string): void {
    const before = this.objects.get(path);
    if (!before) return;
    this.objects.delete(path);
    this.record(path, before, undefined);
  }

  /** Open watches, so a test can wait until the code under test is watching. */
  get openWatches(): number {
    return this.watchers.size;
  }

  /**
   * A watch on a collection. With a resourceVersion it first replays the changes after that version; without
   * one (or "0") it starts with ADDED for every matching object, as the apiserver does.
   */
  watch(path: string, query: QueryParams, onLine: (line: WatchLine) => void, onClose: (error: unknown) => void): Promise<() => void> {
    this.calls.push({ method: 'GET', path: `${path}?watch=1` });
    let selection: Selection;
    try {
      selection = selectionOf(path, query);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const watcher: Watcher = { ...selection, onLine, onClose };
    const from = Number(query.resourceVersion ?? 0);
    const oldest = this.changes[0]?.version ?? this.version + 1;
    if (from > 0 && from < oldest - 1) {
      // As the apiserver answers a version its watch cache no longer holds: the client must list again.
      const message = `too old resource version: ${from} (${oldest - 1})`;
      onLine({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message } });
      onClose(null);
      return Promise.resolve(() => undefined);
    }
    if (from > 0) for (const change of this.changes.filter((c) => c.version > from)) deliver(watcher, change);
    else for (const [at, object] of this.objects) deliver(watcher, { version: 0, path: at, before: undefined, after: object });
    this.watchers.add(watcher);
    return Promise.resolve(() => {
      if (this.watchers.delete(watcher)) onClose(null);
    });
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
      return Promise.resolve(this.handle(method, path, options) as T);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private handle(method: Method, rawPath: string, options: RequestOptions): unknown {
    const [path = '', search] = rawPath.split('?');
    const { body } = options;
    const [base, sub] = splitSubresource(path);
    const current = this.objects.get(base);
    switch (method) {
      case 'GET':
        if (current) return sub === 'scale' ? scaleOf(current) : structuredClone(current);
        if (!sub && isCollection(path)) return this.list(selectionOf(path, { ...Object.fromEntries(new URLSearchParams(search)), ...options.query }));
        throw notFound(path);
      case 'PATCH': {
        if (!current) throw notFound(path);
        if (Array.isArray(body)) return structuredClone(this.store(base, applyJsonPatch(current, body as JsonPatchStep[], path)));
        refuseStale(method, path, current, body);
        const patch = sub === 'scale' ? { spec: { replicas: (body as { spec: { replicas: number } }).spec.replicas } } : (body as JsonObject);
        const merged = this.store(base, mergePatch(current, sub === 'status' ? { status: (patch as { status: unknown }).status } : patch) as JsonObject);
        return sub === 'scale' ? scaleOf(merged) : structuredClone(merged);
      }
      case 'POST': {
        const object = structuredClone(body) as { metadata: { name?: string; generateName?: string; uid?: string; namespace?: string } };
        object.metadata.name ??= this.freeName(path, object.metadata.generateName ?? 'obj-');
        object.metadata.uid ??= `uid-${++this.generated}`;
        const namespace = /\/namespaces\/([^/]+)\/[^/]+$/.exec(path)?.[1];
        if (namespace) object.metadata.namespace ??= namespace;
        const at = `${path}/${object.metadata.name}`;
        if (this.objects.has(at)) throw KubeApiError.fromResponse('POST', path, 409, { reason: 'AlreadyExists', message: `${at} already exists` }, '');
        return structuredClone(this.store(at, object as JsonObject));
      }
      case 'PUT':
        if (!current) throw notFound(path);
        refuseStale(method, path, current, body);
        return structuredClone(this.store(base, structuredClone(body) as JsonObject));
      case 'DELETE':
        if (!current) throw notFound(path);
        this.remove(base);
        return {};
    }
  }

  /** Like the apiserver's generateName: a suffix no object in the collection has yet. */
  private freeName(collection: string, prefix: string): string {
    let name: string;
    do name = `${prefix}${++this.generated}`;
    while (this.objects.has(`${collection}/${name}`));
    return name;
  }

  private list(selection: Selection): JsonObject {
    const items = [...this.objects].filter(([at, object]) => selects(selection, at, object)).map(([, object]) => structuredClone(object));
    return { metadata: { resourceVersion: String(this.version) }, items };
  }

  /** Stores a new version of the object at `path` and tells the watches. */
  private store(path: string, object: JsonObject): JsonObject {
    const before = this.objects.get(path);
    // A merge patch shares untouched parts with the version before; metadata is copied so that one stays as it was.
    object.metadata = { ...(object.metadata as JsonObject | undefined), resourceVersion: String(++this.version) };
    this.objects.set(path, object);
    this.record(path, before, object, this.version);
    return object;
  }

  /** Stored objects are replaced, never changed in place, so the history can hold them without copies. */
  private record(path: string, before: JsonObject | undefined, after: JsonObject | undefined, version = ++this.version): void {
    const change: Change = { version, path, before, after };
    this.changes.push(change);
    // Trimmed in batches, so a write costs no shifting of the whole history.
    if (this.changes.length >= 2 * keptChanges) this.changes.splice(0, keptChanges);
    for (const watcher of this.watchers) deliver(watcher, change);
  }
}

type JsonPatchStep = { op: string; path: string; value?: unknown };

/** The RFC 6902 steps the operator sends (add, remove, replace), applied to a copy; a bad path is a 422. */
function applyJsonPatch(target: JsonObject, steps: readonly JsonPatchStep[], objectPath: string): JsonObject {
  const result = structuredClone(target);
  for (const step of steps) {
    const segments = step.path
      .split('/')
      .slice(1)
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = segments.pop() ?? '';
    let parent: unknown = result;
    for (const segment of segments) parent = (parent as Record<string, unknown> | undefined)?.[segment];
    const invalid = () => KubeApiError.fromResponse('PATCH', objectPath, 422, { reason: 'Invalid', message: `cannot ${step.op} ${step.path}` }, '');
    if (parent === null || typeof parent !== 'object') throw invalid();
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (step.op === 'add') parent.splice(index, 0, structuredClone(step.value));
      else if (step.op === 'remove' && index < parent.length) parent.splice(index, 1);
      else if (step.op === 'replace' && index < parent.length) parent[index] = structuredClone(step.value);
      else throw invalid();
      continue;
    }
    const map = parent as Record<string, unknown>;
    if (step.op === 'add' || (step.op === 'replace' && last in map)) map[last] = structuredClone(step.value);
    else if (step.op === 'remove' && last in map) delete map[last];
    else throw invalid();
  }
  return result;
}

/** One `field=value` / `field==value` / `field!=value` requirement of a field selector. */
interface FieldRequirement {
  field: string;
  equal: boolean;
  value: string;
}

function selectionOf(collection: string, query: QueryParams): Selection {
  const badRequest = (message: string) => KubeApiError.fromResponse('GET', collection, 400, { reason: 'BadRequest', message }, '');
  let labels: Requirement[];
  try {
    labels = parseLabelSelector(String(query.labelSelector ?? ''));
  } catch (err) {
    throw badRequest(`unable to parse requirement: ${(err as Error).message}`);
  }
  const fields = String(query.fieldSelector ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '')
    .map((requirement): FieldRequirement => {
      const match = /^([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)$/.exec(requirement);
      if (!match) throw badRequest(`invalid field selector requirement "${requirement}"`);
      return { field: match[1] ?? '', equal: match[2] !== '!=', value: match[3] ?? '' };
    });
  return { collection, labels, fields };
}

/** Whether the object stored at `path` belongs to the collection and matches its selectors. */
function selects(selection: Selection, path: string, object: JsonObject): boolean {
  if (!inCollection(path, selection.collection)) return false;
  const metadata = object.metadata as { labels?: Record<string, string> } | undefined;
  if (!matchesLabels(selection.labels, metadata?.labels)) return false;
  return selection.fields.every((r) => (fieldValue(object, r.field) === r.value) === r.equal);
}

/** `/api/v1/pods`, `/apis/g/v/namespaces/ns/jobs`: after the group version, an odd number of segments. */
function isCollection(path: string): boolean {
  const segments = path.split('/').filter((s) => s !== '');
  return (segments.length - (segments[0] === 'api' ? 2 : 3)) % 2 === 1;
}

/** Direct children, and for a collection without a namespace (`/api/v1/pods`) the objects of every namespace. */
function inCollection(path: string, collection: string): boolean {
  if (path.startsWith(`${collection}/`) && !path.slice(collection.length + 1).includes('/')) return true;
  const namespaced = /^(.*)\/namespaces\/[^/]+\/([^/]+)\/[^/]+$/.exec(path);
  return namespaced !== null && `${namespaced[1]}/${namespaced[2]}` === collection;
}

function fieldValue(object: JsonObject, field: string): string {
  let value: unknown = object;
  for (const key of field.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  // A missing field reads as empty, as in the apiserver's field sets.
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

/** Sends one change to a watch as the apiserver would: by whether the object matched before and after. */
function deliver(watcher: Watcher, change: Change): void {
  const was = change.before !== undefined && selects(watcher, change.path, change.before);
  const is = change.after !== undefined && selects(watcher, change.path, change.after);
  if (!was && !is) return;
  const type = was && is ? 'MODIFIED' : is ? 'ADDED' : 'DELETED';
  const object = structuredClone(is ? change.after : change.before) as JsonObject;
  if (!is) (object.metadata as JsonObject).resourceVersion = String(change.version);
  watcher.onLine({ type, object });
}

function splitSubresource(path: string): [string, string | undefined] {
  for (const sub of ['scale', 'status']) if (path.endsWith(`/${sub}`)) return [path.slice(0, -sub.length - 1), sub];
  return [path, undefined];
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
  throw KubeApiError.fromResponse(
    method,
    path,
    409,
    {
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      message: `Operation cannot be fulfilled on ${path}: the object has been modified (resourceVersion ${JSON.stringify(expected)} is not the current ${actual ?? 'none'})`,
    },
    '',
  );
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
