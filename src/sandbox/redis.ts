import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { ComponentContext, ComponentEndpoints, SandboxComponent } from './component.js';
import { requireCommand } from './maven.js';
import { freePort } from './net.js';
import { staticRequirements } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'redis';

/** Redis from Debian's redis-server, in memory only: the sandbox never needs its data after a restart. */
export function redisComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['REDIS_URL'],
    requirements: () => Promise.resolve(staticRequirements.redis),
    async install() {
      await requireCommand(COMPONENT, 'redis-server', 'redis-server');
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'redis');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const daemon = await ctx.spawn({ name: 'redis-server', command: 'redis-server', args: redisServerArgs(port, dir), cwd: dir });
      const url = `redis://127.0.0.1:${port}`;
      await waitUntil(() => redisAnswers(url), { component: COMPONENT, what: `PING on ${url}`, timeoutMs: 20_000, daemon });
      return { env: { REDIS_URL: url }, endpoints: { redis: url } };
    },
    async healthy(endpoints: ComponentEndpoints) {
      const url = endpoints.env.REDIS_URL;
      return url !== undefined && (await redisAnswers(url).catch(() => false));
    },
  };
}

/** Loopback only, no RDB snapshots or AOF, and logs on stdout so the daemon's log file captures them. */
export function redisServerArgs(port: number, dir: string): string[] {
  return ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''];
}

/** One PING with short timeouts and no retries, so a dead server fails fast instead of queueing commands. */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => {
    // reported through the rejected connect/ping below
  });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } finally {
    client.disconnect();
  }
}
