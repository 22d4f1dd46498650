import { setImmediate as nextTurn } from 'node:timers/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Endpoint {
  /** The port actually bound (useful when 0 asked for any free port). */
  readonly port: number;
  close(): Promise<void>;
}

type Handler = (res: http.ServerResponse, query: URLSearchParams) => Promise<void> | void;

async function serve(port: number, host: string, routes: Record<string, Handler>): Promise<Endpoint> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://endpoint');
    const route = req.method === 'GET' ? routes[url.pathname] : undefined;
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.resolve(route(res, url.searchParams)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${String(err)}\n`);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * `/metrics` in the Prometheus text format, from the registry the operator's parts registered on;
 * `/metrics?name=<family>` (repeatable) only those families, so a tool watching one gauge does not make the
 * process format every ScaledObject's series.
 */
export function serveMetrics(registry: Registry, port: number, host = '0.0.0.0'): Promise<Endpoint> {
  return serve(port, host, {
    '/metrics': async (res, query) => {
      const names = query.getAll('name');
      const body = await metricsText(registry, names.length > 0 ? new Set(names) : undefined);
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    },
  });
}

/**
 * The registry's text exposition, the same as `registry.metrics()`, formatted one family at a time with a
 * turn of the event loop between families. At 10,000 ScaledObjects the per-object families hold 60,000
 * series; formatting them in one go held the loop for about 340 ms, and every poll due meanwhile ran late.
 */
export async function metricsText(registry: Registry, only?: ReadonlySet<string>): Promise<string> {
  const families: string[] = [];
  for (const metric of registry.getMetricsAsArray()) {
    if (only && !only.has(metric.name)) continue;
    families.push(await registry.getSingleMetricAsString(metric.name));
    await nextTurn();
  }
  return `${families.join('\n\n')}\n`;
}

/**
 * `/healthz` answers while the process runs; `/readyz` only once `ready()` says so (caches synced), with the
 * reason in the body when not, so `kubectl describe pod` shows why.
 */
export function serveHealth(ready: () => { ok: boolean; reason?: string }, port: number, host = '0.0.0.0'): Promise<Endpoint> {
  return serve(port, host, {
    '/healthz': (res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'),
    '/readyz': (res) => {
      const state = ready();
      res.writeHead(state.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(state.ok ? 'ok\n' : `${state.reason ?? 'not ready'}\n`);
    },
  });
}
