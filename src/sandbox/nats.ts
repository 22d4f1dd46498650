import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent, type SandboxPaths } from './component.js';
import { runBuild, type BuildRunner } from './kube-install.js';
import { findOnPath } from './prerequisites.js';
import { freePort } from './net.js';
import { goRequirement, type Requirement } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'nats';
/** Must match the nats-server/v2 requirement in tools/nats/go.mod; it names the cache folder. */
export const NATS_SERVER_VERSION = 'v2.15.3';

/** nats-server with JetStream and its HTTP monitoring endpoint, built from the Go module proxy (tools/nats). */
export function natsComponent(run: BuildRunner = runBuild): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['NATS_URL', 'NATS_MONITORING_ENDPOINT'],
    async requirements(paths: SandboxPaths): Promise<Requirement[]> {
      return (await isExecutable(natsServerPath(paths.cacheDir))) ? [] : [goRequirement];
    },
    async install(ctx: ComponentContext) {
      await buildNatsServer(ctx, run);
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'nats');
      await mkdir(dir, { recursive: true });
      const [client, monitoring] = await twoPorts();
      const daemon = await ctx.spawn({
        name: 'nats-server',
        command: natsServerPath(ctx.paths.cacheDir),
        args: natsServerArgs(client, monitoring, dir),
        cwd: dir,
      });
      const endpoints = natsEndpoints(client, monitoring);
      await waitUntil(() => natsAnswers(endpoints.env), {
        component: COMPONENT,
        what: 'the monitoring endpoint /healthz with JetStream',
        timeoutMs: 30_000,
        daemon,
      });
      return endpoints;
    },
    async healthy(endpoints: ComponentEndpoints) {
      return natsAnswers(endpoints.env).catch(() => false);
    },
  };
}

export function natsServerPath(cacheDir: string): string {
  return join(cacheDir, `nats-server-${NATS_SERVER_VERSION}`, 'bin', 'nats-server');
}

/** Client and monitoring listeners on loopback, JetStream storing under the sandbox's state folder. */
export function natsServerArgs(client: number, monitoring: number, dir: string): string[] {
  return [
    '--addr',
    '127.0.0.1',
    '--port',
    String(client),
    '--http_port',
    String(monitoring),
    '--jetstream',
    '--store_dir',
    dir,
    '--server_name',
    'swell-sandbox',
  ];
}

export function natsEndpoints(client: number, monitoring: number): ComponentEndpoints {
  return {
    env: { NATS_URL: `nats://127.0.0.1:${client}`, NATS_MONITORING_ENDPOINT: `127.0.0.1:${monitoring}` },
    endpoints: { nats: `nats://127.0.0.1:${client}`, 'nats (monitoring)': `http://127.0.0.1:${monitoring}` },
  };
}

export async function natsAnswers(env: Readonly<Record<string, string>>): Promise<boolean> {
  const monitoring = env.NATS_MONITORING_ENDPOINT;
  if (!monitoring) return false;
  const response = await fetch(`http://${monitoring}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.ok;
}

/** Builds into a temp folder beside the cache and renames into place, so a killed build leaves no half binary. */
async function buildNatsServer(ctx: ComponentContext, run: BuildRunner): Promise<void> {
  const target = natsServerPath(ctx.paths.cacheDir);
  if (await isExecutable(target)) return;
  const go = await findOnPath('go');
  if (!go) throw new ComponentStartError(COMPONENT, `"go" is not on PATH; install Go >= 1.26 to build nats-server ${NATS_SERVER_VERSION}`);
  const binDir = join(target, '..');
  const staging = join(binDir, '..', `.build-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  ctx.progress(`building nats-server ${NATS_SERVER_VERSION} from the Go module proxy (first run: ~2 min)`);
  try {
    await run(go, ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(staging, 'nats-server'), 'github.com/nats-io/nats-server/v2'], {
      cwd: join(ctx.paths.repoDir, 'tools', 'nats'),
      env: { CGO_ENABLED: '0' },
      timeoutMs: 30 * 60_000,
    });
    await mkdir(binDir, { recursive: true });
    await rename(join(staging, 'nats-server'), target);
  } catch (error) {
    throw new ComponentStartError(COMPONENT, `building nats-server in tools/nats failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function twoPorts(): Promise<[number, number]> {
  const ports = new Set<number>();
  while (ports.size < 2) ports.add(await freePort());
  return [...ports] as [number, number];
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}
