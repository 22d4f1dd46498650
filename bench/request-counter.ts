/*
 * Loaded into a process under measurement with `node --import ./bench/request-counter.ts ...` (Node 24 strips the
 * types; `--import tsx` first on older Node): counts every HTTP(S) request the process starts (node:http and
 * fetch alike), by method and resource, and writes the totals with the process's memory to the file named by
 * SWELL_BENCH_REQUEST_COUNTS once a second and at exit. With `--expose-gc`, SIGUSR2 runs two full collections
 * first and writes the heap that survives them at once (`settled`), so a bench can read memory per object.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const out = process.env.SWELL_BENCH_REQUEST_COUNTS;
const counts: Record<string, number> = {};
let settled: { at: number; heapUsed: number; rss: number; external: number; arrayBuffers: number } | undefined;

/** `GET leases`, `WATCH deployments`, `PUT scaledobjects/status`: what was asked of which kind. */
export function requestKind(method: string, path: string): string {
  const [pathname = '', query = ''] = path.split('?');
  const parts = pathname.split('/').filter(Boolean);
  const namespaced = parts.indexOf('namespaces');
  const rest = namespaced >= 0 && parts.length > namespaced + 2 ? parts.slice(namespaced + 2) : parts.slice(parts[0] === 'api' ? 2 : 3);
  const resource = rest.length >= 3 ? `${rest[0]}/${rest[2]}` : (rest[0] ?? pathname);
  const verb = /(^|&)watch=(true|1)/.test(query) ? 'WATCH' : method;
  return `${verb} ${resource}`;
}

function count(method: string, path: string): void {
  const kind = requestKind(method, path);
  counts[kind] = (counts[kind] ?? 0) + 1;
}

function flush(): void {
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  if (out) writeFileSync(out, JSON.stringify({ at: Date.now(), counts, memory: { rss, heapUsed, heapTotal }, settled }));
}

if (out) {
  subscribe('http.client.request.start', (message) => {
    const { request } = message as { request: { method: string; path: string } };
    count(request.method, request.path);
  });
  subscribe('undici:request:create', (message) => {
    const { request } = message as { request: { method: string; path: string } };
    count(request.method, request.path);
  });
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
    settled = { at: Date.now(), heapUsed, rss, external, arrayBuffers };
    flush();
  });
  setInterval(flush, 1_000).unref();
  process.on('exit', flush);
}
