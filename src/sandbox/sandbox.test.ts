import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { ComponentStartError, componentNames, type ComponentName, type Daemon, type SandboxComponent } from './component.js';
import { parseEnvFile, Sandbox } from './sandbox.js';
import { waitUntil } from './wait.js';

/**
 * A component whose servers are real `sleep` processes (one per entry of `servers`), so start, reuse and
 * restart are exercised for real. Its health probe asks `answering()`, so a test can make it hang.
 */
function sleeperComponent(name: ComponentName, options: { failStart?: boolean; servers?: string[] } = {}) {
  const calls = { install: 0, start: 0 };
  const daemons = new Map<string, Daemon>();
  let answering = true;
  const component: SandboxComponent = {
    name,
    envVars: [`${name.toUpperCase()}_URL`],
    requirements: () => Promise.resolve([]),
    install: () => {
      calls.install += 1;
      return Promise.resolve();
    },
    async start(ctx) {
      calls.start += 1;
      for (const server of options.servers ?? [`${name}-server`]) {
        const command = options.failStart ? 'sh' : 'sleep';
        const args = options.failStart ? ['-c', 'echo "port already in use" >&2; exit 3'] : ['300'];
        const daemon = await ctx.spawn({ name: server, command, args });
        daemons.set(server, daemon);
        await waitUntil(() => Promise.resolve(!options.failStart), { component: name, what: 'the server', timeoutMs: 2000, daemon });
      }
      return { env: { [`${name.toUpperCase()}_URL`]: `fake://${name}/${calls.start}` }, endpoints: { server: `start ${calls.start}` } };
    },
    healthy: () => Promise.resolve(answering),
  };
  return { component, calls, firstPid: (server = `${name}-server`) => daemons.get(server)?.pid, hang: (hung: boolean) => (answering = !hung) };
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

  let messages: string[];
  function sandboxWith(overrides: Partial<Record<ComponentName, SandboxComponent>>, restartTimeoutMs = 3000) {
    const idle = (name: ComponentName) => sleeperComponent(name).component;
    messages = [];
    return new Sandbox({
      paths: { stateDir, cacheDir: join(stateDir, 'cache'), repoDir: stateDir },
      components: { ...(Object.fromEntries(componentNames.map((n) => [n, idle(n)])) as Record<ComponentName, SandboxComponent>), ...overrides },
      log: createLogger({ level: 'silent' }),
      progress: (message) => messages.push(message),
      restartTimeoutMs,
      settleMs: 1000,
    });
  }

  /** The pid the sandbox's pid file records for a daemon. */
  async function recordedPid(daemon: string): Promise<number> {
    return (JSON.parse(await readFile(join(stateDir, 'pids', `${daemon}.pid`), 'utf8')) as { pid: number }).pid;
  }

  async function kill(pid: number): Promise<void> {
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => Promise.resolve(!alive(pid)), { component: 'test', what: 'the kill', timeoutMs: 2000 });
  }

  it('starts components, writes a sourceable env file, reuses them on a second up, and stops them on down', async () => {
    const redis = sleeperComponent('redis');
    const sandbox = sandboxWith({ redis: redis.component });

    const env = await sandbox.up(['redis']);
    const pid = redis.firstPid();
    expect(alive(pid)).toBe(true);
    expect(env).toEqual({ REDIS_URL: 'fake://redis/1' });
    expect(parseEnvFile(await readFile(sandbox.envFile, 'utf8'))).toEqual(env);

    await sandbox.up(['redis']);
    expect(redis.calls.start).toBe(1);
    expect(await recordedPid('redis-server')).toBe(pid);
    expect((await sandbox.status()).find((s) => s.name === 'redis')?.state).toBe('running');

    expect(await sandbox.down()).toEqual(['redis']);
    expect(alive(pid)).toBe(false);
    expect((await sandbox.status()).find((s) => s.name === 'redis')?.state).toBe('stopped');
  });

  it('starts only the dead server of a component again, from its recorded command, keeping what it published', async () => {
    const kube = sleeperComponent('kube', { servers: ['etcd', 'apiserver', 'scheduler'] });
    const sandbox = sandboxWith({ kube: kube.component });
    const env = await sandbox.up(['kube']);
    const etcd = kube.firstPid('etcd') ?? 0;
    const scheduler = kube.firstPid('scheduler') ?? 0;
    await kill(kube.firstPid('apiserver') ?? 0);
    expect((await sandbox.status()).find((s) => s.name === 'kube')).toMatchObject({ state: 'unhealthy', dead: ['apiserver'] });

    expect(await sandbox.up(['kube'])).toEqual(env);
    expect(kube.calls.start).toBe(1);
    const apiserver = await recordedPid('apiserver');
    expect(alive(apiserver)).toBe(true);
    expect(apiserver).not.toBe(kube.firstPid('apiserver'));
    expect([await recordedPid('etcd'), await recordedPid('scheduler')]).toEqual([etcd, scheduler]);
    expect(messages.join('\n')).toMatch(/kube: apiserver not running; restarting it with the recorded ports and data/);
    expect((await sandbox.status()).find((s) => s.name === 'kube')?.state).toBe('running');
    await sandbox.down();
    expect(alive(apiserver)).toBe(false);
  });

  it('restarts every server of a component that runs but stopped answering, keeping what it published', async () => {
    const redis = sleeperComponent('redis');
    const sandbox = sandboxWith({ redis: redis.component });
    const env = await sandbox.up(['redis']);
    const pid = redis.firstPid() ?? 0;
    redis.hang(true);
    const pending = sandbox.up(['redis']);
    // Still not answering after the settle time: restarted; answering again once restarted.
    await waitUntil(async () => (await recordedPid('redis-server').catch(() => pid)) !== pid, { component: 'test', what: 'the restart', timeoutMs: 5000 });
    redis.hang(false);
    expect(await pending).toEqual(env);
    expect(redis.calls.start).toBe(1);
    expect(alive(pid)).toBe(false);
    expect(messages.join('\n')).toMatch(/redis: running but not answering .*restarting it/);
    await sandbox.down();
  });

  it('recreates a component whose restarted server dies again, and says loudly that its data is gone', async () => {
    const redis = sleeperComponent('redis');
    const sandbox = sandboxWith({ redis: redis.component });
    await sandbox.up(['redis']);
    await kill(redis.firstPid() ?? 0);
    // The recorded command no longer works (think: a data folder the server refuses), so the restart fails.
    const statePath = join(stateDir, 'state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8')) as { components: { redis: { daemons: { command: string; args: string[] }[] } } };
    state.components.redis.daemons[0] = { ...state.components.redis.daemons[0], command: 'sh', args: ['-c', 'echo "bad data dir" >&2; exit 1'] };
    await writeFile(statePath, JSON.stringify(state));
    redis.hang(true);

    const env = await sandbox.up(['redis']);
    expect(redis.calls.start).toBe(2);
    expect(env).toEqual({ REDIS_URL: 'fake://redis/2' });
    expect(alive(redis.firstPid())).toBe(true);
    expect(messages.join('\n')).toMatch(/redis-server exited again right after its restart[\s\S]*bad data dir[\s\S]*RECREATING redis FROM SCRATCH/);
    await sandbox.down();
  });

  it("runs a component's own stop step before its daemons are stopped, and on down even without a record", async () => {
    const node = sleeperComponent('node');
    const seen: string[] = [];
    const withStop: SandboxComponent = {
      ...node.component,
      async stop(ctx) {
        seen.push(`stop sees its daemon alive: ${alive(node.firstPid())}`);
        seen.push(`stopDaemon: ${await ctx.stopDaemon('node-server')}`);
      },
    };
    const sandbox = sandboxWith({ node: withStop });
    await sandbox.up(['node']);
    const pid = node.firstPid();
    expect(await sandbox.down(['node'])).toEqual(['node']);
    expect(alive(pid)).toBe(false);
    expect(seen).toEqual(['stop sees its daemon alive: true', 'stopDaemon: true']);

    // Nothing recorded any more: the stop step still runs (it may clean up an interrupted start) but reports nothing.
    expect(await sandbox.down(['node'])).toEqual([]);
    expect(seen).toEqual(['stop sees its daemon alive: true', 'stopDaemon: true', 'stop sees its daemon alive: false', 'stopDaemon: false']);
  });

  it('names the component and shows its log tail when it fails to start', async () => {
    const sandbox = sandboxWith({ kafka: sleeperComponent('kafka', { failStart: true }).component });
    const failure = sandbox.up(['kafka']);
    await expect(failure).rejects.toBeInstanceOf(ComponentStartError);
    await expect(failure).rejects.toThrow(/kafka failed to start: kafka-server exited[\s\S]*port already in use/);
  });
});
