import type { Clock } from '../src/controller/clock.js';
import { describeSourceError, redactor, ScalerReadError } from './source-errors.js';

/** Anything the pool can hand out: a client for one server with one set of credentials. */
export interface Closeable {
  close(): Promise<void>;
  /** The last error the connection itself met (clients that reconnect in the background keep it aside). */
  connectionError?(): unknown;
}

export interface PooledConnection<C> {
  readonly connection: C;
  /**
   * Runs one request against the server, within the server's concurrency limit. The timeout covers the wait
   * for a slot too, so a slow or dead server fails its own callers quickly and never holds up other servers.
   * The signal given to the request aborts when the time is up or the caller's `signal` aborts (its deadline
   * passed); a slot is only given back once the request really settles.
   */
  use<T>(timeoutMs: number, request: (connection: C, signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Drops this holder's reference; the last one closes the connection. Safe to call more than once. */
  release(): Promise<void>;
}

interface Entry {
  readonly connection: Closeable;
  readonly label: string;
  readonly redact: (text: string) => string;
  refs: number;
  active: number;
  readonly waiting: Array<() => void>;
}

export class PoolTimeoutError extends Error {
  constructor(label: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms reading ${label}`);
    this.name = 'PoolTimeoutError';
  }
}

export interface ConnectionPoolOptions {
  /** The runtime's clock (the one in ScalerDeps): it times every request. */
  clock: Clock;
  /** Requests in flight per server; more wait their turn (within their timeout). Default 8. */
  maxConcurrentPerServer?: number;
}

/**
 * Connections shared by every scaler that talks to the same server with the same credentials, ref-counted and
 * closed when the last scaler lets go. Keys must identify kind, server and credentials (see sourceKey).
 */
export class ConnectionPool {
  private readonly entries = new Map<string, Entry>();
  private readonly maxConcurrentPerServer: number;

  constructor(private readonly options: ConnectionPoolOptions) {
    this.maxConcurrentPerServer = options.maxConcurrentPerServer ?? 8;
  }

  /**
   * `label` names the server in errors (never credentials, and no address that came from a Secret: see
   * sourceLabel); `hidden` are values a library's own error text must not show; `open` runs only when no
   * connection exists yet.
   */
  acquire<C extends Closeable>(key: string, label: string, open: () => C, hidden: readonly string[] = []): PooledConnection<C> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { connection: open(), label, redact: redactor(hidden), refs: 0, active: 0, waiting: [] };
      this.entries.set(key, entry);
    }
    entry.refs++;
    const held = entry;
    let released = false;
    return {
      connection: held.connection as C,
      use: (timeoutMs, request, signal) => this.use(held, timeoutMs, request as (c: Closeable, s: AbortSignal) => Promise<never>, signal),
      release: async () => {
        if (released) return;
        released = true;
        await this.release(key, held);
      },
    };
  }

  /**
   * Closes every connection, whoever still holds it: the last step of a process shutting down, so a scaler
   * built late (a metrics request during shutdown) cannot keep the process alive with an open socket.
   */
  async closeAll(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(entries.map((entry) => entry.connection.close().catch(() => undefined)));
  }

  /** Open connections, for tests and the operator's own metrics. */
  get size(): number {
    return this.entries.size;
  }

  private async use<T>(entry: Entry, timeoutMs: number, request: (c: Closeable, s: AbortSignal) => Promise<T>, caller?: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const timer = this.options.clock.setTimeout(() => controller.abort(new PoolTimeoutError(entry.label, timeoutMs)), timeoutMs);
    const callerGone = (): void => controller.abort(new ScalerReadError(`gave up reading ${entry.label}: the caller's deadline passed`));
    if (caller?.aborted) callerGone();
    caller?.addEventListener('abort', callerGone, { once: true });
    try {
      await this.takeSlot(entry, controller.signal);
      if (controller.signal.aborted) {
        this.giveSlot(entry);
        throw controller.signal.reason as Error;
      }
      const running = Promise.resolve().then(() => request(entry.connection, controller.signal));
      running.finally(() => this.giveSlot(entry)).catch(() => undefined);
      return await Promise.race([running, aborted(controller.signal)]);
    } catch (err) {
      throw inPlainWords(err, entry);
    } finally {
      timer.cancel();
      caller?.removeEventListener('abort', callerGone);
    }
  }

  private takeSlot(entry: Entry, signal: AbortSignal): Promise<void> {
    if (entry.active < this.maxConcurrentPerServer) {
      entry.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const turn = (): void => {
        signal.removeEventListener('abort', giveUp);
        entry.active++;
        resolve();
      };
      const giveUp = (): void => {
        const at = entry.waiting.indexOf(turn);
        if (at >= 0) entry.waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      entry.waiting.push(turn);
      signal.addEventListener('abort', giveUp, { once: true });
    });
  }

  private giveSlot(entry: Entry): void {
    entry.active--;
    entry.waiting.shift()?.();
  }

  private async release(key: string, entry: Entry): Promise<void> {
    entry.refs--;
    if (entry.refs > 0) return;
    if (this.entries.get(key) === entry) this.entries.delete(key);
    await entry.connection.close();
  }
}

/**
 * A failed request as the operator reports it: a scaler's own verdict and a timeout are already plain; any
 * other error is told from its system error code. The library's error is not kept as the cause, since loggers
 * print causes and they carry the addresses the label leaves out.
 */
function inPlainWords(err: unknown, entry: Entry): Error {
  if (err instanceof ScalerReadError || err instanceof PoolTimeoutError) return err;
  return new ScalerReadError(describeSourceError(err, entry.label, { connectionError: entry.connection.connectionError?.(), redact: entry.redact }));
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}
