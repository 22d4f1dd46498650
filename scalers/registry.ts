import { artemisQueueScaler } from './artemis-queue.js';
import { awsSqsQueueScaler } from './aws-sqs-queue.js';
import { azureQueueScaler } from './azure-queue.js';
import { cronScaler } from './cron.js';
import type { ParseInput, ScalerDefinition } from './definition.js';
import { kafkaScaler } from './kafka.js';
import { natsJetStreamScaler } from './nats-jetstream.js';
import { kubernetesWorkloadScaler } from './kubernetes-workload.js';
import { metricsApiScaler } from './metrics-api.js';
import { mysqlScaler } from './mysql.js';
import { postgresqlScaler } from './postgresql.js';
import { prometheusScaler } from './prometheus.js';
import { rabbitMqScaler } from './rabbitmq.js';
import { redisStreamsScaler } from './redis-streams.js';
import { redisListScaler } from './redis.js';
import { resourceScaler } from './resource.js';
import { ScalerConfigError, type Scaler, type ScalerContext, type ScalerDeps, type TriggerSpec } from './scaler.js';

/** Every scaler swell has; a new scaler is one more line here (the conformance suite picks it up). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each definition carries its own config type
export const scalerDefinitions: readonly ScalerDefinition<any>[] = [
  awsSqsQueueScaler,
  kafkaScaler,
  redisListScaler,
  redisStreamsScaler,
  cronScaler,
  prometheusScaler,
  resourceScaler,
  postgresqlScaler,
  mysqlScaler,
  metricsApiScaler,
  kubernetesWorkloadScaler,
  rabbitMqScaler,
  natsJetStreamScaler,
  azureQueueScaler,
  artemisQueueScaler,
];

const byType = new Map(scalerDefinitions.flatMap((d) => d.types.map((t) => [t, d] as const)));

/** Every trigger type swell can scale on, as written in trigger.type. */
export const supportedTriggerTypes: readonly string[] = [...byType.keys()];

/** Checks KEDA applies to every trigger whatever its type. */
function triggerProblems(trigger: TriggerSpec, definition: ScalerDefinition<unknown>): string[] {
  const problems: string[] = [];
  if (definition.external && trigger.metricType === 'Utilization') {
    problems.push("'Utilization' metric type is unsupported for external metrics, allowed values are 'Value' or 'AverageValue'");
  }
  if (trigger.metricType !== undefined && !['AverageValue', 'Value', 'Utilization'].includes(trigger.metricType)) {
    problems.push(`metricType "${String(trigger.metricType)}" must be one of [AverageValue Value Utilization]`);
  }
  if (trigger.useCachedMetrics === true && !definition.allowsCachedMetrics) {
    problems.push(`property "useCachedMetrics" is not supported for "${trigger.type}" scaler`);
  }
  return problems;
}

function definitionFor(trigger: TriggerSpec): ScalerDefinition<unknown> | undefined {
  return byType.get(trigger.type) as ScalerDefinition<unknown> | undefined;
}

function problemsOf(definition: ScalerDefinition<unknown>, input: ParseInput): { config: unknown; problems: string[] } {
  const { config, errors } = definition.parse(input);
  return { config, problems: [...triggerProblems(input.trigger, definition), ...errors] };
}

/**
 * Everything wrong with a trigger's configuration ([] when valid). With `offline`, values only the cluster
 * knows (auth parameters behind an authenticationRef, <field>FromEnv references) count as present.
 */
export function validateTriggerMetadata(trigger: TriggerSpec, options: { offline?: boolean } = {}): string[] {
  const definition = definitionFor(trigger);
  if (!definition) return [`no scaler found for type: ${trigger.type}`];
  const input: ParseInput = { trigger, triggerIndex: 0, authParams: {}, resolvedEnv: {}, offline: options.offline === true };
  return problemsOf(definition, input).problems;
}

/**
 * The trigger check `swell validate` and the admission webhook share: the scaler's own parser, offline, as neither
 * reads the Secrets behind an authenticationRef nor the target's environment.
 */
export function offlineTriggerCheck(trigger: TriggerSpec): string[] {
  return validateTriggerMetadata(trigger, { offline: true });
}

/** Builds the scaler for one trigger; throws ScalerConfigError listing every problem when the configuration is bad. */
export function createScaler(context: ScalerContext, deps: ScalerDeps): Scaler {
  const { trigger, triggerIndex } = context;
  const definition = definitionFor(trigger);
  if (!definition) throw new ScalerConfigError(trigger.type, triggerIndex, [`no scaler found for type: ${trigger.type}`]);
  const { config, problems } = problemsOf(definition, {
    trigger,
    triggerIndex,
    authParams: context.authParams,
    resolvedEnv: context.resolvedEnv,
    ...(context.podIdentity ? { podIdentity: context.podIdentity } : {}),
    offline: false,
  });
  if (problems.length > 0) throw new ScalerConfigError(trigger.type, triggerIndex, problems);
  return definition.create(config, context, deps);
}
