import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ComponentStartError, type Daemon } from './component.js';

export interface WaitOptions {
  /** Component name used in the error message. */
  readonly component: string;
  /** What is awaited, for the error message ("kube-apiserver /readyz"). */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** When given, waiting stops early if it dies, and its log tail goes into the error. */
  readonly daemon?: Daemon;
}

/** Polls `probe` until it returns true; throws ComponentStartError with the daemon's log tail otherwise. */
export async function waitUntil(probe: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 250;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (options.daemon && !options.daemon.alive()) {
      throw new ComponentStartError(options.component, `${options.daemon.name} exited before ${options.what}`, await logTail(options.daemon.logFile));
    }
    await sleep(interval);
  }
  const reason = `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for ${options.what}${lastError ? ` (last error: ${lastError})` : ''}`;
  throw new ComponentStartError(options.component, reason, options.daemon ? await logTail(options.daemon.logFile) : '');
}

/** The last `lines` lines of a log file, or an empty string when it cannot be read. */
export async function logTail(file: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
