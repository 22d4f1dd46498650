import type { Closeable } from './connection-pool.js';
import {
  assertOwnMetric,
  defaultRequestTimeoutMs,
  externalMetricSpec,
  ScalerReadError,
  type MetricReading,
  type Scaler,
  type ScalerContext,
  type ScalerDeps,
} from './scaler.js';
import { sourceKey } from './shared-reads.js';

/** A pool of database connections for one server, account and database, which runs one query for a number. */
export interface SqlPool extends Closeable {
  /** The first column of the first row, as the driver returns it. */
  firstValue(query: string, timeoutMs: number): Promise<unknown>;
}

export interface SqlScalerSpec {
  /** Identifies server, account and database; credentials go in `secrets` so the key is safe to log. */
  readonly server: Readonly<Record<string, unknown>>;
  readonly secrets: Readonly<Record<string, unknown>>;
  /** Names the server in errors; never a value from a Secret. */
  readonly label: string;
  /** Values a driver's error text must not show (password, connection string). */
  readonly hidden: readonly string[];
  readonly open: () => SqlPool;
  readonly query: string;
  readonly metricName: string;
  readonly target: number;
  readonly activation: number;
  /** KEDA's wording before a failed query, e.g. "could not query postgreSQL". */
  readonly failure: string;
}

/**
 * The shape every "query returning a number" scaler shares: one pooled set of connections per server and
 * account, and one query per source per interval however many ScaledObjects run it.
 */
export function createSqlScaler(spec: SqlScalerSpec, kind: string, context: ScalerContext, deps: ScalerDeps): Scaler {
  const timeoutMs = deps.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const poolKey = sourceKey(kind, spec.server, spec.secrets);
  const lease = deps.connections.acquire(poolKey, spec.label, spec.open, spec.hidden);
  const metric = externalMetricSpec(context, spec.metricName, spec.target);
  const readKey = `${poolKey}|${spec.query}`;
  const fetch = (): Promise<number> =>
    lease.use(timeoutMs, async (pool) => sqlNumber(await pool.firstValue(spec.query, timeoutMs), spec.failure));
  return {
    metricSpecs: [metric],
    async read(metricName, options): Promise<MetricReading> {
      assertOwnMetric([metric], metricName);
      const value = await deps.reads.read(readKey, options?.maxAgeMs ?? 0, fetch);
      return { value, active: value > spec.activation };
    },
    close: () => lease.release(),
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
