import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { ComponentStartError, componentNames, type ComponentName, type Daemon, type SandboxComponent } from './component.js';
import { parseEnvFile, Sandbox } from './sandbox.js';
import { waitUntil } from './wait.js';

/** A component whose server is a real `sleep` process, so start/stop/reuse are exercised for real. */
function sleeperComponent(name: ComponentName, options: { failStart?: boolean } = {}) {
  const calls = { install: 0, start: 0 };
  let daemon: Daemon | undefined;
  const component: SandboxComponent = {
    name,
    envVars: [`${name.toUpperCase()}_URL`],
    install: () => {
      calls.install += 1;
      return Promise.resolve();
    },
    async start(ctx) {
      calls.start += 1;
      const command = options.failStart ? 'sh' : 'sleep';
      const args = options.failStart ? ['-c', 'echo "port already in use" >&2; exit 3'] : ['300'];
      daemon = await ctx.spawn({ name: `${name}-server`, command, args });
      await waitUntil(() => Promise.resolve(!options.failStart), { component: name, what: 'the server', timeoutMs: 2000, daemon });
      return { env: { [`${name.toUpperCase()}_URL`]: `fake://${daemon.pid}` }, endpoints: { server: `pid ${daemon.pid}` } };
    },
    healthy: () => Promise.resolve(daemon?.alive() ?? false),
  };
  return { component, calls, pid: () => daemon?.pid };
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Sandbox', () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'swell-sandbox-test-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  function sandboxWith(overrides: Partial<Record<ComponentName, SandboxComponent>>) {
    const idle = (name: ComponentName) => sleeperComponent(name).component;
    return new Sandbox({
      paths: { stateDir, cacheDir: join(stateDir, 'cache'), repoDir: stateDir },
      components: { ...(Object.fromEntries(componentNames.map((n) => [n, idle(n)])) as Record<ComponentName, SandboxComponent>), ...overrides },
      log: createLogger({ level: 'silent' }),
      progress: () => {},
    });
  }

  it('starts components, writes a sourceable env file, reuses them on a second up, and stops them on down', async () => {
    const redis = sleeperComponent('redis');
    const sandbox = sandboxWith({ redis: redis.component });

    const env = await sandbox.up(['redis']);
    const pid = redis.pid();
    expect(alive(pid)).toBe(true);
    expect(env).toEqual({ REDIS_URL: `fake://${pid}` });
    expect(parseEnvFile(await readFile(sandbox.envFile, 'utf8'))).toEqual(env);

    await sandbox.up(['redis']);
    expect(redis.calls.start).toBe(1);
    expect((await sandbox.status()).find((s) => s.name === 'redis')?.state).toBe('running');

    expect(await sandbox.down()).toEqual(['redis']);
    expect(alive(pid)).toBe(false);
    expect((await sandbox.status()).find((s) => s.name === 'redis')?.state).toBe('stopped');
  });

  it('restarts a component whose process died', async () => {
    const redis = sleeperComponent('redis');
    const sandbox = sandboxWith({ redis: redis.component });
    await sandbox.up(['redis']);
    process.kill(redis.pid() ?? 0, 'SIGKILL');
    await waitUntil(() => Promise.resolve(!alive(redis.pid())), { component: 'test', what: 'the kill', timeoutMs: 2000 });

    await sandbox.up(['redis']);
    expect(redis.calls.start).toBe(2);
    expect(alive(redis.pid())).toBe(true);
    await sandbox.down();
  });

  it('names the component and shows its log tail when it fails to start', async () => {
    const sandbox = sandboxWith({ kafka: sleeperComponent('kafka', { failStart: true }).component });
    const failure = sandbox.up(['kafka']);
    await expect(failure).rejects.toBeInstanceOf(ComponentStartError);
    await expect(failure).rejects.toThrow(/kafka failed to start: kafka-server exited[\s\S]*port already in use/);
  });
});
