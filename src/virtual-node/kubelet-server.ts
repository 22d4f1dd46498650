import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { AccessCheck } from './kubelet-auth.js';
import type { Logger } from '../log.js';
import { PodNotFoundError, type LogOptions, type Provider } from './provider.js';

// The part of the kubelet API a virtual node serves: container logs (what `kubectl logs` reaches through the
// API server) and a health check. Exec, attach and port-forward need streaming upgrades and are not offered.

export interface KubeletServerOptions {
  readonly provider: Provider;
  readonly access: AccessCheck;
  readonly log: Logger;
  readonly tls: { readonly certificatePem: string; readonly privateKeyPem: string };
  /** CA bundle that client certificates must chain to (the cluster's client CA); none: tokens only. */
  readonly clientCaPem?: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface KubeletServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startKubeletServer(options: KubeletServerOptions): Promise<KubeletServer> {
  const server: Server = createServer(
    {
      key: options.tls.privateKeyPem,
      cert: options.tls.certificatePem,
      // Ask for a client certificate but let requests without one through to token authentication.
      requestCert: true,
      rejectUnauthorized: false,
      ...(options.clientCaPem ? { ca: options.clientCaPem } : {}),
    },
    (request, response) => void handle(request, response, options),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(request: IncomingMessage, response: ServerResponse, options: KubeletServerOptions): Promise<void> {
  const url = new URL(request.url ?? '/', 'https://kubelet');
  try {
    if (url.pathname === '/healthz') return reply(response, 200, 'ok');
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (!logs) return reply(response, 404, `${url.pathname} is not served by this virtual node`);
    if (request.method !== 'GET') return reply(response, 405, 'only GET is supported');
    const caller = await options.access.authenticate(request);
    if (!caller) return reply(response, 401, 'Unauthorized');
    if (!(await options.access.mayReadLogs(caller)))
      return reply(response, 403, `Forbidden (user=${caller.user}, verb=get, resource=nodes, subresource=proxy)`);
    const [namespace, pod, container] = logs.slice(1).map(decodeURIComponent) as [string, string, string];
    await serveLogs(request, response, options, { namespace, pod, container }, url.searchParams);
  } catch (error) {
    if (error instanceof PodNotFoundError) return reply(response, 404, error.message);
    if (error instanceof QueryError) return reply(response, 400, error.message);
    options.log.warn({ err: error, path: url.pathname }, 'kubelet API request failed');
    if (!response.headersSent) reply(response, 500, 'internal error');
    else response.destroy();
  }
}

async function serveLogs(
  request: IncomingMessage,
  response: ServerResponse,
  options: KubeletServerOptions,
  target: { namespace: string; pod: string; container: string },
  query: URLSearchParams,
): Promise<void> {
  const abort = new AbortController();
  response.on('close', () => abort.abort());
  const tailLines = integerParam(query, 'tailLines');
  const limitBytes = integerParam(query, 'limitBytes');
  const since = sinceParam(query);
  const logOptions: LogOptions = {
    follow: query.get('follow') === 'true',
    timestamps: query.get('timestamps') === 'true',
    previous: query.get('previous') === 'true',
    ...(tailLines === undefined ? {} : { tailLines }),
    ...(limitBytes === undefined ? {} : { limitBytes }),
    ...(since === undefined ? {} : { since }),
    signal: abort.signal,
  };
  const stream = await options.provider.getContainerLogs(target.namespace, target.pod, target.container, logOptions);
  response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  options.log.debug({ ...target, follow: logOptions.follow, method: request.method }, 'serving logs');
  await pipeline(stream, response).catch((error: unknown) => {
    if (!abort.signal.aborted) throw error;
  });
}

class QueryError extends Error {}

/** `sinceTime` (RFC 3339) or `sinceSeconds` (relative to now), as `kubectl logs --since-time/--since` send them. */
function sinceParam(query: URLSearchParams): Date | undefined {
  const sinceTime = query.get('sinceTime');
  if (sinceTime) {
    const at = new Date(sinceTime);
    if (!Number.isNaN(at.getTime())) return at;
  }
  const seconds = integerParam(query, 'sinceSeconds');
  return seconds === undefined ? undefined : new Date(Date.now() - seconds * 1000);
}

function integerParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new QueryError(`query parameter ${name}: "${raw}" is not a non-negative integer`);
  return Number(raw);
}

function reply(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(`${body}\n`);
}
