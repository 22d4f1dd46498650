import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import {
  ComponentStartError,
  componentNames,
  type ComponentContext,
  type Daemon,
  type DaemonSpec,
  type ComponentEndpoints,
  type ComponentName,
  type SandboxComponent,
  type SandboxPaths,
} from './component.js';
import { DaemonSupervisor } from './daemons.js';
import { ensurePrerequisites, type EnsureOptions } from './prerequisites.js';
import { logTail } from './wait.js';

/**
 * What `up` recorded about a started component: what it published, and how each of its daemons was started
 * (command, arguments with their ports and data folders), so a dead one can be started again as it was.
 */
interface ComponentRecord {
  endpoints: ComponentEndpoints;
  daemons: DaemonSpec[];
}

interface SandboxState {
  components: Partial<Record<ComponentName, ComponentRecord>>;
}

export interface ComponentStatus {
  readonly name: ComponentName;
  readonly state: 'running' | 'unhealthy' | 'stopped';
  readonly endpoints?: ComponentEndpoints;
  /** Daemons of a recorded component that are not running. */
  readonly dead?: readonly string[];
}

export interface SandboxOptions {
  readonly paths: SandboxPaths;
  readonly components: Readonly<Record<ComponentName, SandboxComponent>>;
  readonly log: Logger;
  readonly progress?: (message: string) => void;
  /** How long a restarted component may take to answer again before it is recreated; default 180 s. */
  readonly restartTimeoutMs?: number;
  /** How long a component whose daemons all run may go unanswering (restarting itself?) before it is restarted; default 10 s. */
  readonly settleMs?: number;
  /** How missing prerequisites are found and installed; default: this machine, apt-get when root. */
  readonly prerequisites?: Omit<EnsureOptions, 'progress'>;
}

/**
 * The local sandbox: real servers on 127.0.0.1 whose state lives in files under `paths.stateDir`, so
 * `up`, `status` and `down` may run in different processes. `up` is level-triggered, per server: a
 * component that is recorded and answers is reused; one with dead (or hung) servers gets just those started
 * again exactly as recorded (same ports, data folders, certificates), so clients keep working and nothing
 * stored is lost; only when that fails is the component recreated from scratch, and `up` says so loudly.
 */
export class Sandbox {
  private readonly daemons: DaemonSupervisor;

  constructor(private readonly options: SandboxOptions) {
    this.daemons = new DaemonSupervisor(options.paths.stateDir);
  }

  private get settleMs(): number {
    return this.options.settleMs ?? 10_000;
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
      if (!recorded) {
        state.components[name] = await this.startComponent(name, mergedEnv(state));
      } else if (!(await this.recover(name, recorded))) {
        await this.stopComponent(name, recorded.daemons);
        delete state.components[name];
        await this.writeState(state);
        state.components[name] = await this.startComponent(name, mergedEnv(state));
      }
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
        const dead = await this.deadDaemons(recorded);
        const healthy = dead.length === 0 && (await this.answers(name, recorded));
        return { name, state: healthy ? 'running' : 'unhealthy', endpoints: recorded.endpoints, ...(dead.length > 0 ? { dead } : {}) };
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

  /**
   * Brings a recorded component back without losing its state: reuses it when it answers; otherwise starts
   * its dead daemons again from their recorded specs (all of them when none died but it hangs) and waits for
   * it to answer. False, after saying why, when that did not work and the component must be recreated.
   */
  private async recover(name: ComponentName, recorded: ComponentRecord): Promise<boolean> {
    const dead = await this.deadDaemons(recorded);
    if (dead.length === 0 && (await this.answers(name, recorded))) {
      this.progress(`${name}: already running`);
      return true;
    }
    if (!restartable(recorded)) {
      this.warnRecreate(name, 'its record predates restartable sandboxes (no daemon commands recorded)');
      return false;
    }
    try {
      if (dead.length === 0) {
        if (await this.settles(name, recorded)) return true;
        this.progress(`${name}: running but not answering for ${this.settleMs / 1000}s; restarting it with its recorded ports and data`);
      } else {
        this.progress(`${name}: ${dead.join(', ')} not running; restarting ${dead.length === 1 ? 'it' : 'them'} with the recorded ports and data`);
      }
      const restart = recorded.daemons.filter((d) => dead.length === 0 || dead.includes(d.name));
      await this.restartDaemons(name, recorded, restart);
      this.progress(`${name}: restarted ${restart.map((d) => d.name).join(', ')}; ready ${Object.values(recorded.endpoints.endpoints).join(' ')}`);
      return true;
    } catch (error) {
      this.warnRecreate(name, error instanceof Error ? error.message : String(error));
      return false;
    }
  }

  /** Starts `daemons` again as recorded (recorded order: etcd before kube-apiserver) and waits until the component answers. */
  private async restartDaemons(name: ComponentName, recorded: ComponentRecord, daemons: readonly DaemonSpec[]): Promise<void> {
    const started: Daemon[] = [];
    for (const spec of daemons) started.push(await this.daemons.spawn(spec, { appendLog: true }));
    const timeoutMs = this.options.restartTimeoutMs ?? 180_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const exited = started.find((d) => !d.alive());
      if (exited) throw new ComponentStartError(name, `${exited.name} exited again right after its restart`, await logTail(exited.logFile));
      if ((await this.answers(name, recorded)) && started.every((d) => d.alive())) return;
      if (Date.now() > deadline)
        throw new ComponentStartError(name, `not answering ${Math.round(timeoutMs / 1000)}s after restarting ${daemons.map((d) => d.name).join(', ')}`);
      await sleep(500);
    }
  }

  /** Waits a little for a component whose daemons all run to answer again (it may be restarting itself). */
  private async settles(name: ComponentName, recorded: ComponentRecord): Promise<boolean> {
    const deadline = Date.now() + this.settleMs;
    while (Date.now() < deadline) {
      await sleep(1000);
      if (await this.answers(name, recorded)) {
        this.progress(`${name}: already running`);
        return true;
      }
    }
    return false;
  }

  private warnRecreate(name: ComponentName, reason: string): void {
    const message = `${name}: cannot restart it with its recorded state: ${reason}\n${'!'.repeat(8)} RECREATING ${name} FROM SCRATCH: everything stored in it is lost and its ports change ${'!'.repeat(8)}`;
    this.options.log.warn({ component: name, reason }, 'recreating sandbox component from scratch');
    this.progress(message);
  }

  private async startComponent(name: ComponentName, env: Record<string, string>): Promise<ComponentRecord> {
    const component = this.options.components[name];
    const daemons: DaemonSpec[] = [];
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
    const requirements = await Promise.all(
      componentNames.filter((n) => names.includes(n)).map((n) => this.options.components[n].requirements(this.options.paths)),
    );
    await ensurePrerequisites(requirements.flat(), { ...(this.options.prerequisites ?? machinePrerequisites()), progress: (m) => this.progress(m) });
  }

  /** The component's own stop step first (it may stop daemons in an order it needs), then its other daemons. */
  private async stopComponent(name: ComponentName, daemons: readonly DaemonSpec[]): Promise<void> {
    const component = this.options.components[name];
    if (component.stop) {
      await component.stop({ paths: this.options.paths, log: this.options.log.child({ component: name }), stopDaemon: (daemon) => this.daemons.stop(daemon) });
    }
    await this.stopDaemons(daemons);
  }

  /** The context a component works in; every daemon it spawns is recorded in `daemons`. */
  private context(name: ComponentName, env: Record<string, string>, daemons: DaemonSpec[]): ComponentContext {
    return {
      paths: this.options.paths,
      log: this.options.log.child({ component: name }),
      progress: (message) => this.progress(`${name}: ${message}`),
      env,
      spawn: async (spec) => {
        daemons.push({ ...spec });
        return this.daemons.spawn(spec);
      },
    };
  }

  /** Sends a signal to one of the sandbox's daemons by name ("kube-apiserver", "redis-server"); false when it is not running. */
  async signalDaemon(daemon: string, signal: NodeJS.Signals): Promise<boolean> {
    return this.daemons.signal(daemon, signal);
  }

  private async deadDaemons(recorded: ComponentRecord): Promise<string[]> {
    const dead: string[] = [];
    for (const daemon of recorded.daemons) if (!(await this.daemons.running(daemon.name))) dead.push(daemon.name);
    return dead;
  }

  /** The component's own health probe (the apiserver's /readyz, a Redis PING, ...); a probe that throws says no. */
  private async answers(name: ComponentName, recorded: ComponentRecord): Promise<boolean> {
    try {
      return await this.options.components[name].healthy(recorded.endpoints);
    } catch {
      return false;
    }
  }

  private async stopDaemons(daemons: readonly DaemonSpec[]): Promise<void> {
    for (const daemon of [...daemons].reverse()) await this.daemons.stop(daemon.name);
  }

  private progress(message: string): void {
    (this.options.progress ?? ((m: string) => this.options.log.info(m)))(message);
  }

  private get stateFile(): string {
    return join(this.options.paths.stateDir, 'state.json');
  }

  private async readState(): Promise<SandboxState> {
    let parsed: { components?: Partial<Record<ComponentName, { endpoints: ComponentEndpoints; daemons: (DaemonSpec | string)[] }>> };
    try {
      parsed = JSON.parse(await readFile(this.stateFile, 'utf8')) as typeof parsed;
    } catch {
      return { components: {} };
    }
    // Older records list daemon names only: still stoppable, but not restartable (no command recorded).
    const components: SandboxState['components'] = {};
    for (const [name, record] of Object.entries(parsed.components ?? {})) {
      const daemons = record.daemons.map((d) => (typeof d === 'string' ? { name: d, command: '', args: [] } : d));
      components[name as ComponentName] = { endpoints: record.endpoints, daemons };
    }
    return { components };
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

function restartable(record: ComponentRecord): boolean {
  return record.daemons.length > 0 && record.daemons.every((d) => d.command !== '');
}

function machinePrerequisites(): Omit<EnsureOptions, 'progress'> {
  return {
    root: process.getuid?.() === 0,
    runApt: (args) =>
      new Promise((resolve, reject) => {
        execFile(
          'apt-get',
          [...args],
          { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 20 * 60_000, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            if (error) reject(new Error(`apt-get ${args.join(' ')} failed: ${`${stdout}${stderr}`.trimEnd().split('\n').slice(-10).join('\n')}`));
            else resolve();
          },
        );
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
