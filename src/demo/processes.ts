import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { cliEntry } from '../sandbox/virtual-node.js';

/** A `swell` subcommand running as a child process, its output in a log file. */
export interface SwellProcess {
  readonly logFile: string;
  readonly pid: number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs` (default 20 s); resolves with the exit code (null: killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
}

export interface StartSwellOptions {
  /** The checkout: swell runs from here, from the same build as this code (bin/swell.js, or the sources under tsx). */
  repoDir: string;
  args: string[];
  logFile: string;
  /** The process is ready once its output matches this. */
  readyLine: RegExp;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `swell <args>` with the node running this program (no npx or shell in between, so SIGTERM reaches swell
 * itself and it can unregister what it registered), and waits, bounded, for its ready line.
 */
export async function startSwellProcess(options: StartSwellOptions): Promise<SwellProcess> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile);
  const child = spawn(process.execPath, [...cliEntry(options.repoDir), ...options.args], {
    cwd: options.repoDir,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const what = `swell ${options.args[0] ?? ''}`;
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready after ${options.timeoutMs} ms; see ${options.logFile}`)), options.timeoutMs);
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      if (output.length < 1_000_000) output += chunk.toString('utf8');
      if (options.readyLine.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${String(code)} before it was ready; see ${options.logFile}`));
    });
  });
  const running: SwellProcess = {
    logFile: options.logFile,
    pid: child.pid,
    stop: (graceMs = 20_000) => stopChild(child, exited, graceMs).finally(() => log.end()),
  };
  try {
    await ready;
  } catch (error) {
    await running.stop();
    throw error;
  }
  return running;
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }
  return exited;
}

/** A TCP port free on 127.0.0.1 right now, for a child that needs to be told its port in advance. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
