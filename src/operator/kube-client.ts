import http from 'node:http';
import https from 'node:https';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';

export type JsonObject = Record<string, unknown>;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Defaults to application/json; patches pass their strategy here. */
  contentType?: 'application/json' | 'application/merge-patch+json' | 'application/json-patch+json';
  signal?: AbortSignal;
}

/** The operator's view of the apiserver: raw JSON requests by path, any group, any subresource. */
export interface KubeClient {
  request<T = JsonObject>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options?: RequestOptions): Promise<T>;
}

export interface HttpKubeClientOptions {
  /** Sockets kept open to the apiserver; requests beyond it queue in the agent. */
  maxSockets?: number;
  timeoutMs?: number;
}

/**
 * A JSON client over one keep-alive agent. client-node 1.4.0 builds a new agent (so a new TLS handshake) for
 * every typed call; at thousands of ScaledObjects polling, reusing connections is what keeps the operator's
 * CPU flat. Authentication headers are re-applied on each request so rotating tokens keep working. Errors are
 * client-node ApiExceptions (`.code` is the HTTP status) so callers share one set of status-code helpers.
 */
export function createHttpKubeClient(kubeConfig: KubeConfig, options: HttpKubeClientOptions = {}): KubeClient {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  const secure = server.protocol === 'https:';
  let agent: http.Agent | undefined;
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function connection(): Promise<{ agent: http.Agent; headers: http.OutgoingHttpHeaders }> {
    const applied: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(applied);
    agent ??= secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: options.maxSockets ?? 32,
          ca: applied.ca,
          cert: applied.cert,
          key: applied.key,
          rejectUnauthorized: !cluster?.skipTLSVerify,
          servername: cluster?.tlsServerName,
        })
      : new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 32 });
    const headers: http.OutgoingHttpHeaders = { ...((applied.headers ?? {}) as http.OutgoingHttpHeaders) };
    if (applied.auth) headers.authorization = `Basic ${Buffer.from(applied.auth).toString('base64')}`;
    return { agent, headers };
  }

  return {
    async request<T>(method: string, path: string, requestOptions: RequestOptions = {}): Promise<T> {
      const { agent: pooled, headers } = await connection();
      const url = new URL(server.pathname.replace(/\/$/, '') + path, server);
      for (const [key, value] of Object.entries(requestOptions.query ?? {})) {
        if (value !== undefined) url.searchParams.set(key, String(value));
      }
      const payload = requestOptions.body === undefined ? undefined : Buffer.from(JSON.stringify(requestOptions.body));
      headers.accept = 'application/json';
      if (payload) {
        headers['content-type'] = requestOptions.contentType ?? 'application/json';
        headers['content-length'] = payload.length;
      }
      const send = secure ? https.request : http.request;
      return new Promise<T>((resolve, reject) => {
        const req = send(url, { method, headers, agent: pooled, timeout: timeoutMs, signal: requestOptions.signal }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            const body = parseJson(text);
            if (status >= 200 && status < 300) resolve(body as T);
            else reject(new ApiException(status, `${method} ${path}: ${statusMessage(body, text, status)}`, body, flatHeaders(res.headers)));
          });
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function statusMessage(body: unknown, text: string, status: number): string {
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  return text.slice(0, 200) || `HTTP ${status}`;
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) flat[key] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}

/** Path of a namespaced (or, with namespace undefined, cluster-scoped) object or collection of any group. */
export function resourcePath(ref: { group: string; version: string; resource: string; namespace?: string; name?: string; subresource?: string }): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  const name = ref.name === undefined ? '' : `/${encodeURIComponent(ref.name)}`;
  const sub = ref.subresource === undefined ? '' : `/${ref.subresource}`;
  return `${base}${ns}/${ref.resource}${name}${sub}`;
}
