import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

// The operating-system side of a container: start a command in its own session so it outlives the node program,
// tell whether a recorded pid is still that process, signal it, and read the exit status it left behind.

/** A started process; pidStart tells a recycled pid apart from the container's. */
export interface ProcessHandle {
  readonly pid: number;
  readonly pidStart?: string;
}

export interface Launch {
  readonly executable: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** Where stdout and stderr are appended. */
  readonly logFile: string;
  /** Where the exit code is written when the command ends, and `<exitFile>.pid` the command's own pid. */
  readonly exitFile: string;
  readonly onExit: () => void;
  readonly onError: (error: Error) => void;
}

// Starts the command, records its pid (the node sends SIGTERM to it directly, as a container runtime signals a
// container's first process) and its exit status next to the logs, so the status is known even when nobody
// was watching the process end.
const wrapperScript = [
  'exit_file=$1; shift',
  '"$@" &',
  'echo $! > "$exit_file.pid"',
  'wait $!; code=$?',
  'echo "$code" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"',
  // As when a container's first process ends: whatever it left behind in its process group goes too.
  'kill -KILL 0',
].join('\n');

/** Starts the command detached; undefined when the operating system gave no pid. */
export function launch(command: Launch): ProcessHandle | undefined {
  rmSync(command.exitFile, { force: true });
  rmSync(`${command.exitFile}.pid`, { force: true });
  const out = openSync(command.logFile, 'a');
  try {
    const child = spawn('/bin/sh', ['-c', wrapperScript, 'swell-container', command.exitFile, command.executable, ...command.args], {
      cwd: command.cwd,
      env: { ...command.env },
      stdio: ['ignore', out, out],
      detached: true,
    });
    child.unref();
    child.on('error', command.onError);
    child.on('exit', () => setImmediate(command.onExit));
    if (child.pid === undefined) return undefined;
    const pidStart = processStartTime(child.pid);
    return { pid: child.pid, ...(pidStart === undefined ? {} : { pidStart }) };
  } finally {
    closeSync(out);
  }
}

/** The pid of the command a wrapper started, once the wrapper recorded it and while it is still the wrapper's child. */
export function commandPid(exitFile: string, wrapperPid: number): number | undefined {
  const pid = readNumber(`${exitFile}.pid`);
  return pid !== undefined && procStat(pid)?.[1] === String(wrapperPid) ? pid : undefined;
}

/** The exit code the wrapper recorded, or undefined when the command has not ended (or died with the wrapper). */
export function recordedExitCode(exitFile: string): number | undefined {
  return readNumber(exitFile);
}

export function isAlive(handle: { readonly pid: number; readonly pidStart?: string | undefined }): boolean {
  const stat = procStat(handle.pid);
  if (stat) return stat[0] !== 'Z' && (handle.pidStart === undefined || stat[19] === handle.pidStart);
  if (existsSync('/proc/self/stat')) return false;
  try {
    process.kill(handle.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends a signal to a pid, or to a process group when pid is negative; a process already gone is fine. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** Resolves a command the way execvp does: a path containing "/" as is, a bare name through PATH. */
export function findExecutable(command: string, pathVariable: string | undefined): string | undefined {
  if (command === '') return undefined;
  const candidates = command.includes('/')
    ? [command]
    : (pathVariable ?? '')
        .split(delimiter)
        .filter(isAbsolute)
        .map((dir) => join(dir, command));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined where there is no /proc. */
function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): [state, ppid, ...]. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  try {
    const code = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isNaN(code) ? undefined : code;
  } catch {
    return undefined;
  }
}
