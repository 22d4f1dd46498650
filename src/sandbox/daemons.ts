import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Daemon, DaemonSpec } from './component.js';

/** What a pid file records, so `down` can tell our process from an unrelated one that reused the pid. */
interface PidRecord {
  readonly pid: number;
  readonly command: string;
  readonly startedAt: string;
}

/**
 * Starts and stops the sandbox's server processes. Each runs detached in its own process group with its
 * output in `<stateDir>/logs/<name>.log` and a pid file in `<stateDir>/pids/`, so a later `swell dev down`
 * (another process) can stop exactly what `up` started.
 */
export class DaemonSupervisor {
  private readonly pidDir: string;
  private readonly logDir: string;

  constructor(stateDir: string) {
    this.pidDir = join(stateDir, 'pids');
    this.logDir = join(stateDir, 'logs');
  }

  /**
   * Starts `spec` (stopping an earlier instance of the same name first). A fresh start truncates its log; a
   * restart (`appendLog`) keeps what the previous run wrote, so the reason it died stays readable.
   */
  async spawn(spec: DaemonSpec, options: { appendLog?: boolean } = {}): Promise<Daemon> {
    await this.stop(spec.name);
    mkdirSync(this.pidDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
    const logFile = join(this.logDir, `${spec.name}.log`);
    const out = openSync(logFile, options.appendLog ? 'a' : 'w');
    if (options.appendLog) writeSync(out, `\n--- restarted ${new Date().toISOString()} ---\n`);
    try {
      const child = spawn(spec.command, [...spec.args], {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        detached: true,
        stdio: ['ignore', out, out],
        ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('error', (error) => reject(new Error(`cannot start ${spec.name} (${spec.command}): ${error.message}`)));
        child.once('spawn', () => resolve(child.pid ?? 0));
      });
      let exited = false;
      child.once('exit', () => (exited = true));
      child.unref();
      const record: PidRecord = { pid, command: spec.command, startedAt: new Date().toISOString() };
      await writeFile(this.pidFile(spec.name), JSON.stringify(record));
      return { name: spec.name, pid, logFile, alive: () => !exited && isAlive(record) };
    } finally {
      closeSync(out);
    }
  }

  /** Stops one daemon (its whole process group): SIGTERM, then SIGKILL after the grace period. */
  async stop(name: string, graceMs = 10_000): Promise<boolean> {
    const record = await this.read(name);
    if (!record) return false;
    if (isAlive(record)) {
      // A stopped (SIGSTOP) process would hold SIGTERM pending until the grace period ends.
      signalGroup(record.pid, 'SIGCONT');
      signalGroup(record.pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (isAlive(record) && Date.now() < deadline) await sleep(100);
      if (isAlive(record)) signalGroup(record.pid, 'SIGKILL');
    }
    await rm(this.pidFile(name), { force: true });
    return true;
  }

  /** Names of the daemons with a pid file, whether or not they are still alive. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.pidDir)).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4));
    } catch {
      return [];
    }
  }

  /** Sends `signal` to a running daemon's process group (fault tests: SIGKILL, SIGSTOP, SIGCONT); false when it is not running. */
  async signal(name: string, signal: NodeJS.Signals): Promise<boolean> {
    const record = await this.read(name);
    if (!record || !isAlive(record)) return false;
    signalGroup(record.pid, signal);
    return true;
  }

  async running(name: string): Promise<boolean> {
    const record = await this.read(name);
    return record !== undefined && isAlive(record);
  }

  private pidFile(name: string): string {
    return join(this.pidDir, `${name}.pid`);
  }

  private async read(name: string): Promise<PidRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.pidFile(name), 'utf8')) as PidRecord;
    } catch {
      return undefined;
    }
  }
}

/** Alive and still the program we started (a reused pid runs something else). */
function isAlive(record: PidRecord): boolean {
  try {
    process.kill(record.pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    const program = record.command.split('/').pop() ?? record.command;
    return cmdline.includes(program);
  } catch {
    return true;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
