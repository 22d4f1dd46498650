import type { Closeable } from './connection-pool.js';
import type { ScalerDeps } from './scaler.js';
import { ScalerReadError } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { pooledSource, type MetricSource } from './single-metric.js';

/** A pool of database connections for one server, account and database, which runs one query for a number. */
export interface SqlPool extends Closeable {
  /** The first column of the first row, as the driver returns it. */
  firstValue(query: string, timeoutMs: number): Promise<unknown>;
}

export interface SqlSourceSpec {
  /** Identifies server, account and database; credentials go in `secrets` so the key is safe to log. */
  readonly server: Readonly<Record<string, unknown>>;
  readonly secrets: Readonly<Record<string, unknown>>;
  /** Names the server in errors; never a value from a Secret. */
  readonly label: string;
  /** Values a driver's error text must not show (password, connection string). */
  readonly hidden: readonly string[];
  readonly open: () => SqlPool;
  readonly query: string;
  /** KEDA's wording before a failed query, e.g. "could not query postgreSQL". */
  readonly failure: string;
}

/**
 * The source every "query returning a number" scaler shares: one pooled set of connections per server and
 * account, and one query per source per interval however many ScaledObjects run it.
 */
export function sqlSource(spec: SqlSourceSpec, kind: string, deps: ScalerDeps, timeoutMs: number): MetricSource<number> {
  const poolKey = sourceKey(kind, spec.server, spec.secrets);
  const lease = deps.connections.acquire(poolKey, spec.label, spec.open, spec.hidden);
  return pooledSource(lease, `${poolKey}|${spec.query}`, async (pool) => sqlNumber(await pool.firstValue(spec.query, timeoutMs), spec.failure));
}

/**
 * A source whose connection string could not be read: every read fails with why, in words that never repeat
 * the string (it comes from a Secret or the target's env, so only a read, not validation, can see it).
 */
export function unusableSource(kind: string, error: unknown): MetricSource<number> {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    key: `${kind}|unusable|${reason}`,
    read: () => Promise.reject(new ScalerReadError(reason)),
    close: () => Promise.resolve(),
  };
}

/**
 * A query's result as a number: drivers give numbers, or strings for NUMERIC, DECIMAL and BIGINT; NULL, no row
 * or text that is not a number is an error, as KEDA's scan into a float is.
 */
export function sqlNumber(raw: unknown, failure: string): number {
  if (raw === undefined) throw new ScalerReadError(`${failure}: the query returned no rows`);
  if (raw === null) throw new ScalerReadError(`${failure}: the query returned NULL (use COALESCE to give it a default)`);
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  if (typeof raw === 'bigint') return Number(raw);
  if (typeof raw === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw)) return Number(raw);
  if (typeof raw === 'boolean') return raw ? 1 : 0;
  throw new ScalerReadError(`${failure}: the query returned a value that is not a number`);
}
