import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { componentNames, type ComponentName } from '../../src/sandbox/component.js';
import { sandboxComponents } from '../../src/sandbox/components.js';
import { findRepoDir, sandboxPaths } from '../../src/sandbox/paths.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { createLogger } from '../../src/log.js';

/**
 * Vitest global setup for the integration and e2e projects. Each test file names the servers it needs in a
 * `// @sandbox kube,redis` header; this setup starts the union for the selected files, once, in a sandbox of
 * its own (.swell/test), and stops it after the run. Servers the user already runs win: a component whose
 * env variables are all set is taken as given and not started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { testFiles } = await project.globTestFiles(cliFileFilters());
  const needed = new Set<ComponentName>();
  for (const file of testFiles) for (const name of await declaredComponents(file)) needed.add(name);
  const components = sandboxComponents();
  if (needed.has('node') && process.getuid?.() !== 0) {
    // The real node needs root; every other suite still runs, and the files that need the node fail naming why.
    process.stderr.write('[sandbox] node: not started (the real node needs root)\n');
    needed.delete('node');
  }
  const toStart = [...needed].filter((name) => !components[name].envVars.every((v) => process.env[v]));
  if (toStart.length === 0) return async () => {};
  const env = await sharedSandbox().acquire(toStart);
  Object.assign(process.env, env);
  return () => sharedSandbox().release();
}

async function declaredComponents(file: string): Promise<ComponentName[]> {
  const header = /^\/\/ @sandbox ([a-z,\s-]+)$/m.exec(await readFile(file, 'utf8'));
  if (!header?.[1]) return [];
  return header[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is ComponentName => (componentNames as readonly string[]).includes(s));
}

/** Positional words on the vitest command line are file filters; flags and their values are not. */
const flagsWithValues = new Set([
  '--project',
  '-t',
  '--testNamePattern',
  '--reporter',
  '-c',
  '--config',
  '--root',
  '--dir',
  '--shard',
  '--pool',
  '--maxWorkers',
]);
export function cliFileFilters(): string[] {
  const args = process.argv.slice(2);
  return args.filter((word, i) => word !== 'run' && !word.startsWith('-') && !flagsWithValues.has(args[i - 1] ?? ''));
}

/**
 * The integration and e2e projects run their global setups in the same process; they share one sandbox,
 * started by whichever asks first and stopped when the last releases it.
 */
class SharedSandbox {
  private users = 0;
  private startedByUs: ComponentName[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly sandbox = new Sandbox({
    paths: sandboxPaths({ stateDir: join(findRepoDir(), '.swell', 'test') }),
    components: sandboxComponents(),
    log: createLogger({ name: 'test-sandbox', level: 'warn' }),
    progress: (message) => process.stderr.write(`[sandbox] ${message}\n`),
  });

  acquire(names: ComponentName[]): Promise<Record<string, string>> {
    this.users += 1;
    return this.serialize(async () => {
      const env = await this.sandbox.up(names);
      this.startedByUs = [...new Set([...this.startedByUs, ...names])];
      return env;
    });
  }

  release(): Promise<void> {
    this.users -= 1;
    if (this.users > 0) return Promise.resolve();
    return this.serialize(async () => {
      if (process.env.SWELL_KEEP_SANDBOX) return;
      await this.sandbox.down(this.startedByUs);
    });
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

const sharedKey = Symbol.for('swell.test.sandbox');
function sharedSandbox(): SharedSandbox {
  const holder = globalThis as { [sharedKey]?: SharedSandbox };
  return (holder[sharedKey] ??= new SharedSandbox());
}
