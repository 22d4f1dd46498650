/*
 * Loaded into a process under measurement with `node --import tsx --import ./bench/request-counter.ts ...`:
 * counts every HTTP(S) request the process starts (node:http and fetch alike), by method and resource, and
 * writes the totals to the file named by SWELL_BENCH_REQUEST_COUNTS once a second and at exit.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const out = process.env.SWELL_BENCH_REQUEST_COUNTS;
const counts: Record<string, number> = {};

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
  if (out) writeFileSync(out, JSON.stringify({ at: Date.now(), counts }));
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
  setInterval(flush, 1_000).unref();
  process.on('exit', flush);
}
