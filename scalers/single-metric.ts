import type { PooledConnection } from './connection-pool.js';
import type { ParseInput, ParseResult, ScalerDefinition, TriggerExample } from './definition.js';
import { metadataInput, prefixed } from './definition.js';
import { checkRules, parseMetadata, type FieldSchema, type MetadataOf, type ParsedMetadata, type Rule } from './metadata.js';
import {
  assertOwnMetric,
  defaultRequestTimeoutMs,
  externalMetricSpec,
  type MetricReading,
  type Scaler,
  type ScalerContext,
  type ScalerDeps,
} from './scaler.js';

/** Where one trigger's raw reading comes from: a pooled connection and the request that reads it. */
export interface MetricSource<R> {
  /**
   * Identifies what is read, credentials included (see sourceKey): every scaler with an equal key shares one
   * request and, within the caller's max age, one value.
   */
  readonly key: string;
  /** One request to the source; the signal aborts at the request timeout or when every caller has given up. */
  read(timeoutMs: number, signal: AbortSignal): Promise<R>;
  /** Gives the connection back to the pool. */
  close(): Promise<void>;
}

/** A MetricSource reading through a pooled connection, within the pool's per-server limit. */
export function pooledSource<H, R>(connection: PooledConnection<H>, key: string, read: (handle: H, signal: AbortSignal) => Promise<R>): MetricSource<R> {
  return {
    key,
    read: (timeoutMs, signal) => connection.use(timeoutMs, read, signal),
    close: () => connection.release(),
  };
}

/** How a raw reading becomes the trigger's value and activity. */
export type Interpretation<C, R> =
  | {
      /** The trigger's value from what was read. */
      value(raw: R, config: C): number;
      /** The value must exceed this for the trigger to be active (KEDA's activation threshold). */
      activation(config: C): number;
    }
  | {
      /** For readings that depend on earlier ones (Kafka's persistent lag): one interpreter per scaler. */
      interpreter(config: C): (raw: R) => MetricReading;
    };

/**
 * A scaler that publishes one External metric read from one source: the common shape (SQS, Kafka, Redis,
 * Prometheus...). The module declares its metadata and how to reach the source; the kit does the rest:
 * the metric spec, refusing other metric names, sharing reads across scalers, the deadline and closing.
 */
export type SingleMetricScaler<C, R> = {
  /** trigger.type values this scaler serves. */
  readonly types: readonly string[];
  /** The metadata fields, declared once (see metadata.ts); parse reads them. */
  readonly schema: FieldSchema;
  parse(input: ParseInput): ParseResult<C>;
  /** See TriggerExample. */
  readonly example: TriggerExample;
  /** The metric name before KEDA's normalisation and s<index>- prefix. */
  metricName(config: C): string;
  /** The HPA target. */
  target(config: C): number;
  /** A per-trigger request timeout (e.g. a timeout field); else the operator's, else `defaultTimeoutMs`. */
  timeoutMs?(config: C): number | undefined;
  /** When neither the trigger nor the operator sets one; KEDA_HTTP_DEFAULT_TIMEOUT's default when omitted. */
  readonly defaultTimeoutMs?: number;
  /** Connects (through deps.connections, so equal servers share one connection) and says how to read. */
  source(config: C, deps: ScalerDeps, timeoutMs: number): MetricSource<R>;
} & Interpretation<C, R>;

/** The ScalerDefinition the registry lists, from a single-metric scaler's declaration. */
export function singleMetricScaler<C, R>(scaler: SingleMetricScaler<C, R>): ScalerDefinition<C> {
  return {
    types: scaler.types,
    schema: scaler.schema,
    example: scaler.example,
    allowsCachedMetrics: true,
    external: true,
    parse: (input) => scaler.parse(input),
    create: (config, context, deps) => createSingleMetricScaler(scaler, config, context, deps),
  };
}

function createSingleMetricScaler<C, R>(scaler: SingleMetricScaler<C, R>, config: C, context: ScalerContext, deps: ScalerDeps): Scaler {
  const timeoutMs = scaler.timeoutMs?.(config) ?? deps.requestTimeoutMs ?? scaler.defaultTimeoutMs ?? defaultRequestTimeoutMs;
  const source = scaler.source(config, deps, timeoutMs);
  const spec = externalMetricSpec(context, scaler.metricName(config), scaler.target(config));
  const interpret = interpreterOf(scaler, config);
  const fetch = (signal: AbortSignal): Promise<R> => source.read(timeoutMs, signal);
  let closed: Promise<void> | undefined;
  return {
    metricSpecs: [spec],
    async read(metricName, options): Promise<MetricReading> {
      assertOwnMetric([spec], metricName);
      return interpret(await deps.reads.read(source.key, options?.maxAgeMs ?? 0, fetch, options?.signal));
    },
    close: () => (closed ??= source.close()),
  };
}

function interpreterOf<C, R>(interpretation: Interpretation<C, R>, config: C): (raw: R) => MetricReading {
  if ('interpreter' in interpretation) return interpretation.interpreter(config);
  const threshold = interpretation.activation(config);
  return (raw) => {
    const value = interpretation.value(raw, config);
    return { value, active: value > threshold };
  };
}

/** The usual parse: the schema, cross-field rules, and KEDA's prefix on every problem. */
export function schemaParser<S extends FieldSchema, C = MetadataOf<S>>(declaration: {
  schema: S;
  /** What KEDA says it was parsing, e.g. "error parsing redis metadata". */
  errorPrefix: string;
  rules?: (input: ParseInput) => readonly Rule<MetadataOf<S>>[];
  /** The config beyond the parsed fields; the parsed values when omitted. */
  config?: (parsed: ParsedMetadata<MetadataOf<S>>, input: ParseInput) => C;
}): (input: ParseInput) => ParseResult<C> {
  return (input) => {
    const parsed = parseMetadata(declaration.schema, metadataInput(input));
    const errors = [...parsed.errors, ...checkRules(parsed, declaration.rules?.(input) ?? [])];
    const config = declaration.config ? declaration.config(parsed, input) : (parsed.values as C);
    return { config, errors: prefixed(declaration.errorPrefix, errors) };
  };
}
