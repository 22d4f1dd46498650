import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import {
  componentNames,
  type ComponentContext,
  type ComponentEndpoints,
  type ComponentName,
  type SandboxComponent,
  type SandboxPaths,
} from './component.js';
import { DaemonSupervisor } from './daemons.js';
import { ensurePrerequisites, type EnsureOptions } from './prerequisites.js';

/** What `up` recorded about each started component, so later commands can check, reuse or stop it. */
interface SandboxState {
  components: Partial<Record<ComponentName, { endpoints: ComponentEndpoints; daemons: string[] }>>;
}

export interface ComponentStatus {
  readonly name: ComponentName;
  readonly state: 'running' | 'unhealthy' | 'stopped';
  readonly endpoints?: ComponentEndpoints;
}

export interface SandboxOptions {
  readonly paths: SandboxPaths;
  readonly components: Readonly<Record<ComponentName, SandboxComponent>>;
  readonly log: Logger;
  readonly progress?: (message: string) => void;
  /** How missing prerequisites are found and installed; default: this machine, apt-get when root. */
  readonly prerequisites?: Omit<EnsureOptions, 'progress'>;
}

/**
 * The local sandbox: real servers on 127.0.0.1 whose state lives in files under `paths.stateDir`, so
 * `up`, `status` and `down` may run in different processes. `up` is idempotent: a component that is
 * recorded, alive and healthy is reused; anything else is (re)installed and started.
 */
export class Sandbox {
  private readonly daemons: DaemonSupervisor;

  constructor(private readonly options: SandboxOptions) {
    this.daemons = new DaemonSupervisor(options.paths.stateDir);
  }

  get envFile(): string {
    return join(this.options.paths.stateDir, 'env');
  }

  /** Starts the named components (kube first) and returns the merged env of every running component. */
  async up(names: readonly ComponentName[]): Promise<Record<string, string>> {
    await this.checkPrerequisites(names);
    await mkdir(this.options.paths.stateDir, { recursive: true });
    const state = await this.readState();
    for (const name of componentNames.filter((n) => names.includes(n))) {
      const recorded = state.components[name];
      if (recorded && (await this.isHealthy(name, recorded))) {
        this.progress(`${name}: already running`);
        continue;
      }
      if (recorded) await this.stopComponent(name, recorded.daemons);
      state.components[name] = await this.startComponent(name, mergedEnv(state));
      await this.writeState(state);
    }
    await this.writeEnvFile(state);
    return mergedEnv(state);
  }

  /** Builds or downloads what the named components need into the cache, without starting anything. */
  async install(names: readonly ComponentName[]): Promise<void> {
    await this.checkPrerequisites(names);
    for (const name of componentNames.filter((n) => names.includes(n))) {
      this.progress(`${name}: installing`);
      await this.options.components[name].install(this.context(name, {}, []));
    }
  }

  async status(): Promise<ComponentStatus[]> {
    const state = await this.readState();
    return Promise.all(
      componentNames.map(async (name): Promise<ComponentStatus> => {
        const recorded = state.components[name];
        if (!recorded) return { name, state: 'stopped' };
        const healthy = await this.isHealthy(name, recorded);
        return { name, state: healthy ? 'running' : 'unhealthy', endpoints: recorded.endpoints };
      }),
    );
  }

  /** Stops every daemon `up` started (last started first) and forgets them; leaves the cache alone. */
  async down(names: readonly ComponentName[] = componentNames): Promise<string[]> {
    const state = await this.readState();
    const stopped: string[] = [];
    for (const name of [...componentNames].reverse().filter((n) => names.includes(n))) {
      const recorded = state.components[name];
      // A component with its own stop step may have left work on the machine even without a record.
      await this.stopComponent(name, recorded?.daemons ?? []);
      if (!recorded) continue;
      stopped.push(name);
      delete state.components[name];
    }
    if (names.length === componentNames.length) {
      // Daemons whose component record was lost (an interrupted `up`) are still ours to stop.
      for (const orphan of await this.daemons.names()) await this.daemons.stop(orphan);
    }
    await this.writeState(state);
    await this.writeEnvFile(state);
    return stopped;
  }

  private async startComponent(name: ComponentName, env: Record<string, string>) {
    const component = this.options.components[name];
    const daemons: string[] = [];
    const ctx = this.context(name, env, daemons);
    try {
      this.progress(`${name}: installing`);
      await component.install(ctx);
      this.progress(`${name}: starting`);
      const endpoints = await component.start(ctx);
      this.progress(`${name}: ready ${Object.values(endpoints.endpoints).join(' ')}`);
      return { endpoints, daemons };
    } catch (error) {
      await this.stopComponent(name, daemons);
      throw error;
    }
  }

  /** Every named component's requirements, checked (and installed when root) before anything builds or starts. */
  private async checkPrerequisites(names: readonly ComponentName[]): Promise<void> {
    const requirements = await Promise.all(componentNames.filter((n) => names.includes(n)).map((n) => this.options.components[n].requirements(this.options.paths)));
    await ensurePrerequisites(requirements.flat(), { ...(this.options.prerequisites ?? machinePrerequisites()), progress: (m) => this.progress(m) });
  }

  /** The component's own stop step first (it may stop daemons in an order it needs), then its other daemons. */
  private async stopComponent(name: ComponentName, daemons: readonly string[]): Promise<void> {
    const component = this.options.components[name];
    if (component.stop) {
      await component.stop({ paths: this.options.paths, log: this.options.log.child({ component: name }), stopDaemon: (daemon) => this.daemons.stop(daemon) });
    }
    await this.stopDaemons(daemons);
  }

  /** The context a component works in; every daemon it spawns is recorded in `daemons`. */
  private context(name: ComponentName, env: Record<string, string>, daemons: string[]): ComponentContext {
    return {
      paths: this.options.paths,
      log: this.options.log.child({ component: name }),
      progress: (message) => this.progress(`${name}: ${message}`),
      env,
      spawn: async (spec) => {
        daemons.push(spec.name);
        return this.daemons.spawn(spec);
      },
    };
  }

  private async isHealthy(name: ComponentName, recorded: { endpoints: ComponentEndpoints; daemons: string[] }) {
    for (const daemon of recorded.daemons) if (!(await this.daemons.running(daemon))) return false;
    try {
      return await this.options.components[name].healthy(recorded.endpoints);
    } catch {
      return false;
    }
  }

  private async stopDaemons(names: readonly string[]): Promise<void> {
    for (const daemon of [...names].reverse()) await this.daemons.stop(daemon);
  }

  private progress(message: string): void {
    (this.options.progress ?? ((m: string) => this.options.log.info(m)))(message);
  }

  private get stateFile(): string {
    return join(this.options.paths.stateDir, 'state.json');
  }

  private async readState(): Promise<SandboxState> {
    try {
      return JSON.parse(await readFile(this.stateFile, 'utf8')) as SandboxState;
    } catch {
      return { components: {} };
    }
  }

  private async writeState(state: SandboxState): Promise<void> {
    await mkdir(this.options.paths.stateDir, { recursive: true });
    await writeFile(this.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }

  private async writeEnvFile(state: SandboxState): Promise<void> {
    const env = mergedEnv(state);
    if (Object.keys(env).length === 0) {
      await rm(this.envFile, { force: true });
      return;
    }
    const lines = Object.entries(env).map(([key, value]) => `export ${key}=${shellQuote(value)}`);
    await writeFile(this.envFile, `# Written by \`swell dev up\`; source it to reach the sandbox.\n${lines.join('\n')}\n`);
  }
}

function machinePrerequisites(): Omit<EnsureOptions, 'progress'> {
  return {
    root: process.getuid?.() === 0,
    runApt: (args) =>
      new Promise((resolve, reject) => {
        execFile('apt-get', [...args], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 20 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`apt-get ${args.join(' ')} failed: ${`${stdout}${stderr}`.trimEnd().split('\n').slice(-10).join('\n')}`));
          else resolve();
        });
      }),
  };
}

function mergedEnv(state: SandboxState): Record<string, string> {
  return Object.assign({}, ...componentNames.map((n) => state.components[n]?.endpoints.env ?? {})) as Record<string, string>;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Parses an env file written by `up` (only the `export KEY='value'` lines it writes). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) env[match[1]] = match[2].replaceAll(`'\\''`, "'");
  }
  return env;
}
