import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

/** Where the other external metrics server is and how swell proves who it is to it. */
export interface UpstreamTarget {
  /** https://host:port of the other adapter, e.g. https://prometheus-adapter.monitoring.svc:443. */
  readonly url: string;
  /** CA its serving certificate chains to; undefined trusts the system roots. */
  readonly caPem?: string;
  /** The name its serving certificate is checked against when it differs from the URL's host. */
  readonly serverName?: string;
  /**
   * swell's own bearer token (its ServiceAccount's), which adapters built on Kubernetes' apiserver library
   * accept through TokenReview. Read on every use: projected tokens are rotated on disk.
   */
  readonly token: () => Promise<string | undefined>;
}

export interface UpstreamClientOptions {
  readonly target: UpstreamTarget;
  /** Give up dialing after this long; default 1 s, so a black-holed adapter answers 503 quickly. */
  readonly connectTimeoutMs?: number;
  /** Give up waiting for the response head after this long; default 10 s, below the aggregator's own timeout. */
  readonly responseTimeoutMs?: number;
  /** Connections kept to the adapter; default 32. */
  readonly maxSockets?: number;
  /** After a failure, how long requests fail at once before one is let through to try again; default 1 s. */
  readonly retryAfterMs?: number;
  readonly clock?: () => number;
}

/** The adapter's answer, its body not read yet so that it can be streamed on. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Readable;
}

/** The adapter could not be asked (refused, unreachable, TLS failure, no answer in time). */
export class UpstreamUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UpstreamUnavailableError';
  }
}

/**
 * An HTTPS client for one upstream adapter with a connection pool of its own, so a slow or dead adapter
 * holds only its own sockets and never those of anything else swell talks to.
 */
export class UpstreamClient {
  private readonly agent: Agent;
  private readonly url: URL;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly health: UpstreamHealth;

  constructor(private readonly options: UpstreamClientOptions) {
    this.health = new UpstreamHealth(options.clock ?? Date.now, options.retryAfterMs ?? 1_000);
    this.url = new URL(options.target.url);
    if (this.url.protocol !== 'https:') throw new Error(`upstream metrics server ${options.target.url}: only https:// is supported`);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1_000;
    this.responseTimeoutMs = options.responseTimeoutMs ?? 10_000;
    const { caPem, serverName } = options.target;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: options.maxSockets ?? 32,
      ...(caPem ? { ca: caPem } : {}),
      ...(serverName ? { servername: serverName } : {}),
      minVersion: 'TLSv1.2',
    });
  }

  /** Where requests go, for messages. */
  get description(): string {
    return this.url.origin;
  }

  /**
   * GETs `pathAndQuery` (origin-form, as the client sent it) and resolves once the response head arrives;
   * rejects with UpstreamUnavailableError when the adapter cannot be asked.
   */
  async get(pathAndQuery: string, accept: string | undefined, signal?: AbortSignal): Promise<UpstreamAnswer> {
    const admitted = this.health.admit();
    if (!admitted.ok) throw new UpstreamUnavailableError(`${this.description}: ${admitted.message}`);
    const token = await this.options.target.token();
    return new Promise((resolve, reject) => {
      const fail = (message: string, cause?: unknown) => {
        // A client that went away says nothing about the adapter.
        if (!signal?.aborted) this.health.failed(message);
        reject(new UpstreamUnavailableError(`${this.description}: ${message}`, { cause }));
      };
      const outgoing = httpsRequest({
        agent: this.agent,
        protocol: 'https:',
        hostname: this.url.hostname,
        port: this.url.port || 443,
        path: pathAndQuery,
        method: 'GET',
        headers: { accept: accept ?? 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(signal ? { signal } : {}),
      });
      const connectTimer = setTimeout(() => outgoing.destroy(new Error(`no connection within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      const responseTimer = setTimeout(() => outgoing.destroy(new Error(`no answer within ${this.responseTimeoutMs} ms`)), this.responseTimeoutMs);
      const clear = () => {
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
      };
      outgoing.on('socket', (socket) => {
        // A pooled socket is already connected; a new one is connected once TLS is through.
        if (!socket.connecting) clearTimeout(connectTimer);
        else socket.once('secureConnect', () => clearTimeout(connectTimer));
      });
      outgoing.on('response', (response: IncomingMessage) => {
        clear();
        this.health.succeeded();
        resolve({ status: response.statusCode ?? 502, contentType: response.headers['content-type'] ?? 'application/json', body: response });
      });
      outgoing.on('error', (error) => {
        clear();
        fail(error.message, error);
      });
      outgoing.end();
    });
  }

  /** Closes pooled connections; requests in flight are cut. */
  close(): void {
    this.agent.destroy();
  }
}

/**
 * Whether to ask the adapter at all. While it answers, every request goes through. Once a request fails (refused,
 * timed out), the others fail at once instead of each waiting out its own timeout on a hung adapter; after
 * `retryAfterMs` one request at a time is let through, and the first answer opens the way for all again.
 */
export class UpstreamHealth {
  private failure: { message: string; at: number } | undefined;
  private probing = false;

  constructor(
    private readonly clock: () => number,
    private readonly retryAfterMs: number,
  ) {}

  admit(): { ok: true } | { ok: false; message: string } {
    if (!this.failure) return { ok: true };
    const waited = this.clock() - this.failure.at;
    if (this.probing || waited < this.retryAfterMs)
      return { ok: false, message: `${this.failure.message} (not answering; trying again every ${this.retryAfterMs} ms)` };
    this.probing = true;
    return { ok: true };
  }

  succeeded(): void {
    this.failure = undefined;
    this.probing = false;
  }

  failed(message: string): void {
    this.failure = { message, at: this.clock() };
    this.probing = false;
  }
}

/**
 * A token read from a file (a projected ServiceAccount token), or none when the file is not there. Re-read
 * once a minute: the kubelet rotates it well before it expires, and reading it per request would cost a
 * file read on every forwarded poll.
 */
export function tokenFromFile(path: string, clock: () => number = Date.now, rereadAfterMs = 60_000): () => Promise<string | undefined> {
  let cached: { token: string | undefined; readAt: number } | undefined;
  return async () => {
    const now = clock();
    if (cached && now - cached.readAt < rereadAfterMs) return cached.token;
    let token: string | undefined;
    try {
      token = (await readFile(path, 'utf8')).trim() || undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    cached = { token, readAt: now };
    return token;
  };
}

/** Reads the whole body of an answer as text, up to `limit` bytes; for small documents such as discovery. */
export async function readText(body: Readable, limit = 4 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      throw new Error(`answer larger than ${limit} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The URL of an adapter named as a Service, "namespace/name" or "namespace/name:port" (port default 443),
 * as the cluster's DNS names it.
 */
export function serviceUrl(reference: string): string {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::(\d{1,5}))?$/.exec(reference);
  const port = Number(match?.[5] ?? '443');
  if (!match || port < 1 || port > 65535) throw new Error(`"${reference}" is not a Service reference; expected NAMESPACE/NAME or NAMESPACE/NAME:PORT`);
  return `https://${match[3]}.${match[1]}.svc:${port}`;
}
