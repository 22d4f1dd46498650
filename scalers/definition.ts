import type { FieldSchema, MetadataInput } from './metadata.js';
import type { Scaler, ScalerContext, ScalerDeps, TriggerSpec } from './scaler.js';

/** What a scaler's parser sees: the trigger plus whatever could be resolved around it. */
export interface ParseInput {
  trigger: TriggerSpec;
  triggerIndex: number;
  authParams: Readonly<Record<string, string>>;
  resolvedEnv: Readonly<Record<string, string>>;
  podIdentity?: { provider: string };
  /** Validating a manifest without the cluster: env references and auth parameters are unknown. */
  offline: boolean;
}

export interface ParseResult<C> {
  /** Only meaningful when `errors` is empty and the parse was not offline. */
  config: C;
  errors: string[];
}

/**
 * A minimal valid trigger for a scaler. Every server it names is 127.0.0.1 port 1, where nothing listens, and
 * it turns on the auth that uses the scaler's secrets: the conformance suite builds each scaler from it.
 */
export interface TriggerExample {
  metadata: Readonly<Record<string, string>>;
  authParams?: Readonly<Record<string, string>>;
}

/** One scaler module: how to read its trigger's metadata and how to build the scaler from the result. */
export interface ScalerDefinition<C> {
  readonly types: readonly string[];
  /** The metadata fields parse() reads, with their sources, defaults and which are secret. */
  readonly schema: FieldSchema;
  readonly example: TriggerExample;
  /** False for cpu, memory and cron, which KEDA refuses useCachedMetrics on. */
  readonly allowsCachedMetrics: boolean;
  /** True when the scaler publishes External metrics, for which metricType Utilization is refused. */
  readonly external: boolean;
  parse(input: ParseInput): ParseResult<C>;
  create(config: C, context: ScalerContext, deps: ScalerDeps): Scaler;
}

export function metadataInput(input: ParseInput): MetadataInput {
  return {
    metadata: input.trigger.metadata,
    resolvedEnv: input.resolvedEnv,
    authParams: input.authParams,
    ...(input.offline ? { offline: { authParamsUnknown: input.trigger.authenticationRef !== undefined } } : {}),
  };
}

/** KEDA prefixes a scaler's parse errors with what it was parsing. */
export function prefixed(prefix: string, errors: readonly string[]): string[] {
  return errors.map((e) => `${prefix}: ${e}`);
}

/** The pod identity provider in play (undefined for none), or known: false when validating offline behind an authenticationRef. */
export function podIdentityOf(input: ParseInput): { known: boolean; provider?: string } {
  if (input.offline && input.trigger.authenticationRef !== undefined) return { known: false };
  const provider = input.podIdentity?.provider;
  return provider === undefined || provider === '' || provider === 'none' ? { known: true } : { known: true, provider };
}
