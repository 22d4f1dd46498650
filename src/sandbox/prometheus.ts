import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { ComponentContext, ComponentEndpoints, SandboxComponent } from './component.js';
import { requireCommand } from './maven.js';
import { freePort } from './net.js';
import { staticRequirements } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'prometheus';

/** One entry of a Prometheus file_sd targets file. */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Debian's prometheus, scraping itself and whatever the targets file lists, every second. Tests and the
 * operator add their own exporters with addScrapeTarget; file_sd picks changes up without a restart.
 */
export function prometheusComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['PROMETHEUS_URL'],
    requirements: () => Promise.resolve(staticRequirements.prometheus),
    async install() {
      await requireCommand(COMPONENT, 'prometheus', 'prometheus');
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'prometheus');
      const targetsFile = join(dir, 'targets.json');
      const configFile = join(dir, 'prometheus.yml');
      await mkdir(join(dir, 'data'), { recursive: true });
      // Kept across restarts: targets registered earlier are still meant to be scraped.
      if (!(await exists(targetsFile))) await writeTargets(targetsFile, []);
      const port = await freePort();
      await writeFile(configFile, prometheusConfig(port, targetsFile));
      const daemon = await ctx.spawn({
        name: 'prometheus',
        command: 'prometheus',
        args: [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          '--storage.tsdb.retention.time=1d',
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        cwd: dir,
      });
      const url = `http://127.0.0.1:${port}`;
      await waitUntil(() => prometheusReady(url), { component: COMPONENT, what: `${url}/-/ready`, timeoutMs: 30_000, daemon });
      return { env: { PROMETHEUS_URL: url, PROMETHEUS_TARGETS_FILE: targetsFile }, endpoints: { prometheus: url } };
    },
    async healthy(endpoints: ComponentEndpoints) {
      const url = endpoints.env.PROMETHEUS_URL;
      return url !== undefined && (await prometheusReady(url).catch(() => false));
    },
  };
}

/** A 1 s scrape and evaluation interval so tests see a new value within a couple of seconds. */
export function prometheusConfig(port: number, targetsFile: string): string {
  return stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      { job_name: 'prometheus', static_configs: [{ targets: [`127.0.0.1:${port}`] }] },
      { job_name: 'sandbox', file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }] },
    ],
  });
}

export async function prometheusReady(url: string): Promise<boolean> {
  const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
  await response.body?.cancel();
  return response.ok;
}

/** Adds `target` ("host:port") to the targets file, replacing its labels if it is already there. */
export async function addScrapeTarget(targetsFile: string, target: string, labels: Readonly<Record<string, string>> = {}): Promise<void> {
  await writeTargets(targetsFile, withTarget(await readTargets(targetsFile), target, labels));
}

/** Removes `target` from the targets file; removing a target that is not listed is not an error. */
export async function removeScrapeTarget(targetsFile: string, target: string): Promise<void> {
  await writeTargets(targetsFile, withoutTarget(await readTargets(targetsFile), target));
}

/** Each added target gets a group of its own, so its labels never leak onto other targets. */
export function withTarget(groups: readonly TargetGroup[], target: string, labels: Readonly<Record<string, string>> = {}): TargetGroup[] {
  validateTarget(target);
  for (const name of Object.keys(labels)) validateLabelName(name);
  const group: TargetGroup = Object.keys(labels).length > 0 ? { targets: [target], labels: { ...labels } } : { targets: [target] };
  return [...withoutTarget(groups, target), group];
}

export function withoutTarget(groups: readonly TargetGroup[], target: string): TargetGroup[] {
  return groups.map((group) => ({ ...group, targets: group.targets.filter((t) => t !== target) })).filter((group) => group.targets.length > 0);
}

function validateTarget(target: string): void {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(target);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new Error(`prometheus scrape target must be "host:port", got ${JSON.stringify(target)}`);
}

function validateLabelName(name: string): void {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`prometheus scrape target label name ${JSON.stringify(name)} is not a valid label name`);
}

/** Reads a targets file; a missing file is an empty list, anything not shaped like file_sd JSON is an error. */
export async function readTargets(targetsFile: string): Promise<TargetGroup[]> {
  let text: string;
  try {
    text = await readFile(targetsFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${targetsFile}: not valid JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (!Array.isArray(parsed) || !parsed.every(isTargetGroup)) {
    throw new Error(`${targetsFile}: expected a JSON array of {"targets": [string], "labels"?: {string: string}}`);
  }
  return parsed;
}

function isTargetGroup(value: unknown): value is TargetGroup {
  if (typeof value !== 'object' || value === null) return false;
  const { targets, labels } = value as { targets?: unknown; labels?: unknown };
  const targetsOk = Array.isArray(targets) && targets.every((t) => typeof t === 'string');
  const labelsOk = labels === undefined || (typeof labels === 'object' && labels !== null && Object.values(labels).every((v) => typeof v === 'string'));
  return targetsOk && labelsOk;
}

/**
 * Prometheus watches the file and may read it at any moment, so it is replaced by a rename: it always sees
 * either the old list or the new one, never a half-written file.
 */
async function writeTargets(targetsFile: string, groups: readonly TargetGroup[]): Promise<void> {
  const staging = join(dirname(targetsFile), `.${basename(targetsFile)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(staging, `${JSON.stringify(groups, null, 2)}\n`);
    await rename(staging, targetsFile);
  } finally {
    await rm(staging, { force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
