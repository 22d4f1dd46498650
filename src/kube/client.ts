import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type QueryParams = Record<string, string | number | boolean | undefined>;

export type ContentType = 'application/json' | 'application/merge-patch+json' | 'application/json-patch+json' | 'application/strategic-merge-patch+json';

export interface RequestOptions {
  query?: QueryParams;
  body?: unknown;
  /** Defaults to application/json; patches pass their strategy here. */
  contentType?: ContentType;
  signal?: AbortSignal;
}

/** The view of the apiserver every part of swell shares: raw JSON requests by path, any group, any subresource. */
export interface KubeClient {
  request<T = JsonObject>(method: HttpMethod, path: string, options?: RequestOptions): Promise<T>;
}

/** One decoded line of a watch stream. */
export interface WatchLine {
  type: string;
  object: unknown;
}

/** A {@link KubeClient} that can also hold a watch open: what informers need. */
export interface KubeWatchClient extends KubeClient {
  /**
   * Starts a watch on a collection path. `onLine` receives each decoded line (lines that are not JSON are
   * skipped); `onClose` is called exactly once, with null for a clean end or the error (a non-200 answer is a
   * {@link KubeApiError}). Resolves to a function that ends the watch.
   */
  watch(path: string, query: QueryParams, onLine: (line: WatchLine) => void, onClose: (error: unknown) => void): Promise<() => void>;
}

export interface HttpKubeClientOptions {
  /** Sockets kept open to the apiserver for requests; requests beyond it queue in the agent. Watches have their own. */
  maxSockets?: number;
  timeoutMs?: number;
}

interface Connection {
  agent: http.Agent;
  headers: http.OutgoingHttpHeaders;
}

/**
 * A JSON client over keep-alive agents. client-node 1.4 builds a new agent (so a new TLS handshake) for every
 * typed call; at thousands of ScaledObjects polling, reusing connections is what keeps the CPU flat.
 * Authentication headers are re-applied on each request so rotating tokens keep working. Watches hold a socket
 * each for minutes, so they get an agent of their own and never starve the request pool.
 */
export function createHttpKubeClient(kubeConfig: KubeConfig, options: HttpKubeClientOptions = {}): KubeWatchClient {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  const tls = { skipTLSVerify: cluster.skipTLSVerify, tlsServerName: cluster.tlsServerName };
  const secure = server.protocol === 'https:';
  const send = secure ? https.request : http.request;
  const timeoutMs = options.timeoutMs ?? 30_000;
  let requestAgent: http.Agent | undefined;
  let watchAgent: http.Agent | undefined;

  async function connection(kind: 'request' | 'watch'): Promise<Connection> {
    const applied: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(applied);
    const maxSockets = kind === 'request' ? (options.maxSockets ?? 32) : Infinity;
    const agent =
      kind === 'request' ? (requestAgent ??= newAgent(secure, maxSockets, applied, tls)) : (watchAgent ??= newAgent(secure, maxSockets, applied, tls));
    const headers: http.OutgoingHttpHeaders = { ...((applied.headers ?? {}) as http.OutgoingHttpHeaders), accept: 'application/json' };
    if (applied.auth) headers.authorization = `Basic ${Buffer.from(applied.auth).toString('base64')}`;
    return { agent, headers };
  }

  function url(path: string, query: QueryParams = {}): URL {
    const at = new URL(server.pathname.replace(/\/$/, '') + path, server);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) at.searchParams.set(key, String(value));
    return at;
  }

  return {
    async request<T>(method: HttpMethod, path: string, requestOptions: RequestOptions = {}): Promise<T> {
      const { agent, headers } = await connection('request');
      const payload = requestOptions.body === undefined ? undefined : Buffer.from(JSON.stringify(requestOptions.body));
      if (payload) {
        headers['content-type'] = requestOptions.contentType ?? 'application/json';
        headers['content-length'] = payload.length;
      }
      return new Promise<T>((resolve, reject) => {
        const req = send(url(path, requestOptions.query), { method, headers, agent, timeout: timeoutMs, signal: requestOptions.signal }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            const body = parseJson(text);
            if (status >= 200 && status < 300) resolve(body as T);
            else reject(KubeApiError.fromResponse(method, path, status, body, text));
          });
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
      });
    },

    async watch(path, query, onLine, onClose): Promise<() => void> {
      const { agent, headers } = await connection('watch');
      const controller = new AbortController();
      let closed = false;
      const close = (error: unknown): void => {
        if (closed) return;
        closed = true;
        controller.abort();
        onClose(error);
      };
      const req = send(url(path, { ...query, watch: 'true' }), { method: 'GET', headers, agent, signal: controller.signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', close);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            close(KubeApiError.fromResponse('GET', path, status, parseJson(text), text));
          });
          return;
        }
        res.on('error', close);
        res.on('close', () => close(null));
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        lines.on('line', (line) => {
          const decoded = parseJson(line);
          if (decoded && typeof decoded === 'object' && 'type' in decoded && typeof decoded.type === 'string')
            onLine({ type: decoded.type, object: (decoded as WatchLine).object });
        });
        // readline re-emits the response's errors (an aborted stream too); close() has reported those already.
        lines.on('error', close);
        lines.on('close', () => close(null));
      });
      // Dead peers behind NATs are noticed by TCP keep-alive probes rather than waiting for the server's timeout.
      req.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
      // An abort asked for by close() is not reported again: close() reports once.
      req.on('error', (error) => close(error));
      req.end();
      return () => close(null);
    },
  };
}

function newAgent(
  secure: boolean,
  maxSockets: number,
  applied: https.RequestOptions,
  cluster: { skipTLSVerify?: boolean; tlsServerName?: string },
): http.Agent {
  if (!secure) return new http.Agent({ keepAlive: true, maxSockets });
  return new https.Agent({
    keepAlive: true,
    maxSockets,
    ca: applied.ca,
    cert: applied.cert,
    key: applied.key,
    rejectUnauthorized: !cluster.skipTLSVerify,
    servername: cluster.tlsServerName,
  });
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Path of a namespaced (or, with namespace undefined, cluster-scoped) object or collection of any group. */
export function resourcePath(ref: { group: string; version: string; resource: string; namespace?: string; name?: string; subresource?: string }): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  const name = ref.name === undefined ? '' : `/${encodeURIComponent(ref.name)}`;
  const sub = ref.subresource === undefined ? '' : `/${ref.subresource}`;
  return `${base}${ns}/${ref.resource}${name}${sub}`;
}

/** The object at `path`, or undefined when the apiserver answers 404. */
export async function readOrUndefined<T>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', path);
  } catch (error) {
    if (error instanceof KubeApiError && error.code === 404) return undefined;
    throw error;
  }
}
