import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent, type SandboxPaths } from './component.js';
import { runTool, type ToolRunner } from './maven.js';
import { findOnPath } from './prerequisites.js';
import { freePort } from './net.js';
import type { Requirement } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'azurite';
export const AZURITE_VERSION = '3.37.0';
/**
 * Azurite's well-known development account: the key is published in Azure's own documentation for every
 * emulator user, so it is a fixture, not a secret.
 */
export const AZURITE_ACCOUNT = {
  name: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
} as const;

/** Azurite's queue service (Azure Storage Queue emulator) from npm, run by this Node as a child process. */
export function azuriteComponent(run: ToolRunner = runTool): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['AZURE_STORAGE_CONNECTION_STRING'],
    async requirements(paths: SandboxPaths): Promise<Requirement[]> {
      return (await azuriteInstalled(paths.cacheDir)) ? [] : [{ command: 'npm', hint: 'install Node.js with npm and put it on PATH' }];
    },
    async install(ctx: ComponentContext) {
      await installAzurite(ctx, run);
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'azurite');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const daemon = await ctx.spawn({
        name: 'azurite-queue',
        command: process.execPath,
        args: [azuriteQueueMain(ctx.paths.cacheDir), ...azuriteArgs(port, dir)],
        cwd: dir,
      });
      const endpoints = azuriteEndpoints(port);
      await waitUntil(() => azuriteAnswers(endpoints.env), { component: COMPONENT, what: 'a queue listing', timeoutMs: 30_000, daemon });
      return endpoints;
    },
    async healthy(endpoints: ComponentEndpoints) {
      return azuriteAnswers(endpoints.env).catch(() => false);
    },
  };
}

function azuriteDir(cacheDir: string): string {
  return join(cacheDir, `azurite-${AZURITE_VERSION}`);
}

function azuriteQueueMain(cacheDir: string): string {
  return join(azuriteDir(cacheDir), 'node_modules', 'azurite', 'dist', 'src', 'queue', 'main.js');
}

async function azuriteInstalled(cacheDir: string): Promise<boolean> {
  return access(azuriteQueueMain(cacheDir)).then(
    () => true,
    () => false,
  );
}

/**
 * Loopback only, state under the sandbox folder; the API version check is off so a client library newer than
 * the emulator still talks to it.
 */
export function azuriteArgs(port: number, dir: string): string[] {
  return ['--queueHost', '127.0.0.1', '--queuePort', String(port), '--location', dir, '--skipApiVersionCheck', '--disableProductStyleUrl'];
}

export function azuriteConnectionString(port: number): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT.name};AccountKey=${AZURITE_ACCOUNT.key};QueueEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT.name};`;
}

export function azuriteEndpoints(port: number): ComponentEndpoints {
  return {
    env: { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(port) },
    endpoints: { 'azurite (queue)': `http://127.0.0.1:${port}/${AZURITE_ACCOUNT.name}` },
  };
}

/** One signed service request, no retries. */
export async function azuriteAnswers(env: Readonly<Record<string, string>>): Promise<boolean> {
  const connection = env.AZURE_STORAGE_CONNECTION_STRING;
  if (!connection) return false;
  const client = QueueServiceClient.fromConnectionString(connection, { retryOptions: { maxTries: 1 } });
  await client.getProperties({ abortSignal: AbortSignal.timeout(2000) });
  return true;
}

/** npm installs into a temp folder beside the cache that is renamed into place only when complete. */
async function installAzurite(ctx: ComponentContext, run: ToolRunner): Promise<void> {
  if (await azuriteInstalled(ctx.paths.cacheDir)) return;
  const npm = await findOnPath('npm');
  if (!npm) throw new ComponentStartError(COMPONENT, '"npm" is not on PATH; it installs Azurite from the npm registry');
  ctx.progress(`installing Azurite ${AZURITE_VERSION} from npm (first run: ~1 min)`);
  const staging = join(ctx.paths.cacheDir, `.azurite-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  try {
    await run(npm, ['install', '--prefix', staging, '--no-audit', '--no-fund', '--no-save', '--omit=dev', `azurite@${AZURITE_VERSION}`], {
      timeoutMs: 15 * 60_000,
    });
    await rename(staging, azuriteDir(ctx.paths.cacheDir)).catch(async (error: unknown) => {
      if (!(await azuriteInstalled(ctx.paths.cacheDir))) throw error;
    });
  } catch (error) {
    throw new ComponentStartError(COMPONENT, `installing Azurite from npm failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
