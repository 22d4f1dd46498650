import type { Clock } from '../src/controller/clock.js';
import type { Logger } from '../src/log.js';
import type { ConnectionPool } from './connection-pool.js';
import type { PodSource } from './pod-source.js';
import { ScalerReadError } from './source-errors.js';
import type { SharedReads } from './shared-reads.js';

export type MetricTargetType = 'AverageValue' | 'Value' | 'Utilization';

/** One entry of ScaledObject/ScaledJob spec.triggers, as the user wrote it. */
export interface TriggerSpec {
  type: string;
  name?: string;
  metadata: Record<string, string>;
  metricType?: MetricTargetType;
  useCachedMetrics?: boolean;
  authenticationRef?: { name: string; kind?: 'TriggerAuthentication' | 'ClusterTriggerAuthentication' };
}

export interface ScalerContext {
  /** Position in spec.triggers; forms the metric name prefix s<index>-. */
  triggerIndex: number;
  trigger: TriggerSpec;
  /** Resolved from the (Cluster)TriggerAuthentication; may hold secrets, so never log it. */
  authParams: Readonly<Record<string, string>>;
  /** The scale target's container env, looked up through <field>FromEnv. */
  resolvedEnv: Readonly<Record<string, string>>;
  namespace: string;
  podIdentity?: { provider: string };
}

export type MetricSpec =
  | { kind: 'External'; metricName: string; targetType: MetricTargetType; target: number }
  | { kind: 'Resource'; resource: 'cpu' | 'memory'; targetType: MetricTargetType; target: number; containerName?: string };

export interface MetricReading {
  value: number;
  active: boolean;
}

export interface ReadOptions {
  /**
   * A value another scaler read from the same source at most this long ago is reused instead of asking the
   * server again; callers pass their polling interval. 0 (the default) only joins a read already in flight.
   */
  maxAgeMs?: number;
  /**
   * The caller's deadline: when it aborts, read() rejects at once and the request to the source is aborted
   * (unless another caller still waits for the same read).
   */
  signal?: AbortSignal;
}

export interface Scaler {
  readonly metricSpecs: readonly MetricSpec[];
  /** KEDA's GetMetricsAndActivity: the raw value (may be negative) and whether it exceeds the activation threshold. */
  read(metricName: string, options?: ReadOptions): Promise<MetricReading>;
  /** Releases pooled connections; safe to call more than once. */
  close(): Promise<void>;
}

/** What a scaler needs from its surroundings; tests inject fakes for every part. */
export interface ScalerDeps {
  /** The runtime's clock (a FakeClock in tests). */
  clock: Clock;
  log: Logger;
  reads: SharedReads;
  connections: ConnectionPool;
  /** Per-request time limit, including the wait for a connection slot; each scaler kind has a default. */
  requestTimeoutMs?: number;
  /** Pods per namespace from shared informers, for kubernetes-workload; absent where no cluster is watched. */
  pods?: PodSource;
}

/** KEDA_HTTP_DEFAULT_TIMEOUT's default. */
export const defaultRequestTimeoutMs = 3000;

/** Bad trigger configuration: every problem found, each naming its field, in one error. */
export class ScalerConfigError extends Error {
  constructor(
    readonly triggerType: string,
    readonly triggerIndex: number,
    readonly problems: readonly string[],
  ) {
    super(`trigger ${triggerIndex} (type "${triggerType}"): ${problems.join('; ')}`);
    this.name = 'ScalerConfigError';
  }
}

// Defined beside the error helpers so the connection pool can throw it without importing this module.
export { ScalerReadError };

/** KEDA's util.NormalizeString: characters the metrics API cannot carry in a name become '-'. */
export function normalizeMetricName(name: string): string {
  return name.replace(/[/.:%()]/g, '-');
}

/** KEDA's GenerateMetricNameWithIndex: s<index>-<name>. */
export function metricNameWithIndex(triggerIndex: number, name: string): string {
  return `s${triggerIndex}-${name}`;
}

/** The metric target type a trigger asks for; an unset metricType means AverageValue. */
export function metricTargetType(trigger: TriggerSpec): MetricTargetType {
  return trigger.metricType ?? 'AverageValue';
}

/** The single External metric spec most scalers publish. */
export function externalMetricSpec(context: ScalerContext, name: string, target: number): MetricSpec {
  return {
    kind: 'External',
    metricName: metricNameWithIndex(context.triggerIndex, normalizeMetricName(name)),
    targetType: metricTargetType(context.trigger),
    target,
  };
}

/** Guards read() against metric names this scaler never published. */
export function assertOwnMetric(specs: readonly MetricSpec[], metricName: string): void {
  if (!specs.some((s) => s.kind === 'External' && s.metricName === metricName)) {
    throw new ScalerReadError(`no metric named "${metricName}" in this trigger`);
  }
}
