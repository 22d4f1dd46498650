import type { Clock, Timer } from '../src/controller/clock.js';
import type { ParseInput, ParseResult, ScalerDefinition } from './definition.js';
import { metadataInput, prefixed } from './definition.js';
import { matchesLabels, parseLabelSelector, type Requirement } from './label-selector.js';
import type { NamespacePods, PodSummary } from './pod-source.js';
import { checkRules, field, parseMetadata, positiveTarget, type MetadataOf, type Rule } from './metadata.js';
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

const schema = {
  podSelector: field.string(),
  value: field.float(),
  activationValue: field.float({ default: 0 }),
};

export type WorkloadMetadata = MetadataOf<typeof schema>;
export interface WorkloadConfig extends WorkloadMetadata {
  selector: Requirement[];
}

const rules: Rule<WorkloadMetadata>[] = [positiveTarget('value')];

export function parseWorkload(input: ParseInput): ParseResult<WorkloadConfig> {
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, rules)];
  let selector: Requirement[] = [];
  if (!parsed.unresolved.has('podSelector')) {
    try {
      selector = parseLabelSelector(parsed.values.podSelector);
    } catch (error) {
      errors.push(`invalid pod selector ${parsed.values.podSelector}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { config: { ...parsed.values, selector }, errors: prefixed('error parsing kubernetes workload metadata', errors) };
}

/** Pods that match and have not finished: KEDA leaves out Succeeded and Failed ones. */
export function countPods(pods: readonly PodSummary[], selector: readonly Requirement[]): number {
  let count = 0;
  for (const pod of pods) {
    const phase = pod.status?.phase;
    if (phase !== 'Succeeded' && phase !== 'Failed' && matchesLabels(selector, pod.metadata?.labels)) count++;
  }
  return count;
}

/** Waits for the first list, at most `timeoutMs`: a forbidden or unreachable apiserver must not hang a poll. */
async function syncedWithin(pods: NamespacePods, timeoutMs: number, clock: Clock): Promise<boolean> {
  let timer: Timer | undefined;
  const late = new Promise<boolean>((resolve) => (timer = clock.setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([pods.synced(), late]);
  } finally {
    timer?.cancel();
  }
}

/**
 * Not a kit scaler: its metric name comes from the object's namespace, which the kit's declaration does not
 * see, and its source is the namespace's shared informer rather than a pooled connection.
 */
function createWorkloadScaler(config: WorkloadConfig, context: ScalerContext, deps: ScalerDeps): Scaler {
  const spec = externalMetricSpec(context, `workload-${context.namespace}`, config.value);
  const pods = deps.pods?.watch(context.namespace);
  const timeoutMs = deps.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const count = async (): Promise<number> => {
    if (!pods) throw new ScalerReadError("kubernetes-workload needs the operator's pod informer, which this process does not run");
    if (!(await syncedWithin(pods, timeoutMs, deps.clock))) {
      throw new ScalerReadError(`the pods of namespace ${context.namespace} are not listed yet (is the operator allowed to list and watch pods there?)`);
    }
    return countPods(pods.list(), config.selector);
  };
  const readKey = `kubernetes-workload|${context.namespace}|${config.podSelector}`;
  let closed: Promise<void> | undefined;
  return {
    metricSpecs: [spec],
    async read(metricName, options): Promise<MetricReading> {
      assertOwnMetric([spec], metricName);
      const value = await deps.reads.read(readKey, options?.maxAgeMs ?? 0, count, options?.signal);
      return { value, active: value > config.activationValue };
    },
    close: () => (closed ??= pods?.release() ?? Promise.resolve()),
  };
}

export const kubernetesWorkloadScaler: ScalerDefinition<WorkloadConfig> = {
  types: ['kubernetes-workload'],
  schema,
  example: { metadata: { podSelector: 'app=web', value: '4' } },
  allowsCachedMetrics: true,
  external: true,
  parse: parseWorkload,
  create: createWorkloadScaler,
};
