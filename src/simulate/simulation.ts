import { fargatePricing } from '../virtual-node/cost/metering.js';
import { simulateStrategy, type EngineSettings, type StrategyResult } from './engine.js';
import type { AutoscalerSettings, NodeShape } from './node-pool.js';
import { fargateBilledSize, type NodePricing } from './pricing.js';
import { buildStrategies, defaultBaseSweep, recommend, type Recommendation, type SloPercentile } from './strategies.js';
import { sourceDownSeconds, type Trace } from './trace.js';
import { ManifestError, type SimWorkload } from './workload.js';

/*
 * Every strategy run over the same trace with the same parameters, and the recommendation. The defaults are the
 * ones `swell simulate --help` prints: an m5.large-like node at its on-demand price, EC2-like per-second
 * billing, the cluster autoscaler's default timings, Fargate's us-east-1 rates and a 30-60 s Fargate start.
 */

export interface SimulationParameters {
  /** Items one Running replica finishes per second (the ScaledObject's annotation wins when set). */
  ratePerReplica: number;
  sloSeconds: number;
  sloPercentile: SloPercentile;
  bases?: readonly number[];
  seed: number;
  hpaSyncSeconds: number;
  tolerance: number;
  downscaleStabilizationSeconds: number;
  regularStartSeconds: number;
  burstStartSeconds: { min: number; max: number };
  /** Pod requests; the target's pod template in the manifests wins when present. */
  pod?: { vcpu: number; memoryGiB: number };
  node: NodeShape;
  nodePricing: NodePricing;
  autoscaler: AutoscalerSettings;
  vcpuHour: number;
  gibHour: number;
  drainLimitSeconds: number;
}

export const defaultParameters: SimulationParameters = {
  ratePerReplica: 1,
  sloSeconds: 60,
  sloPercentile: 99,
  seed: 1,
  hpaSyncSeconds: 15,
  tolerance: 0.1,
  downscaleStabilizationSeconds: 300,
  regularStartSeconds: 5,
  burstStartSeconds: { min: 30, max: 60 },
  node: { cpu: 2, memoryGiB: 8, pods: 110 },
  nodePricing: { pricePerHour: 0.096, billing: 'second', minimumSeconds: 60 },
  autoscaler: { bootMs: 60_000, scanIntervalMs: 10_000, unneededMs: 600_000, delayAfterAddMs: 600_000, utilizationThreshold: 0.5, minNodes: 0, maxNodes: 100 },
  vcpuHour: fargatePricing.vcpuHour,
  gibHour: fargatePricing.gibHour,
  drainLimitSeconds: 6 * 3600,
};

export interface SimulationReport {
  /** `sourceDownSeconds`: how long the trace's source column says reads fail. */
  trace: { kind: Trace['kind']; seconds: number; rows: number; work: number; sourceDownSeconds: number };
  /** Whether the ScaledObject has a fallback, for what the table says about an outage. */
  fallback: boolean;
  workload: {
    scaledObject: string;
    trigger: string;
    target: number;
    ratePerReplica: number;
    pod: { vcpu: number; memoryGiB: number };
    burstBilledAs: { vcpu: number; memoryGiB: number };
  };
  slo: { waitSeconds: number; percentile: SloPercentile };
  results: StrategyResult[];
  recommendation?: Recommendation;
  notes: string[];
}

/** The engine's settings for this trace, workload and parameters; throws ManifestError when the pod fits nowhere. */
export function engineSettings(trace: Trace, workload: SimWorkload, parameters: SimulationParameters): EngineSettings {
  const pod = workload.podRequests ?? parameters.pod ?? { vcpu: fargatePricing.defaultVcpu, memoryGiB: fargatePricing.defaultMemoryGiB };
  const burstSize = fargateBilledSize(pod);
  if (!burstSize) throw new ManifestError(`a pod of ${pod.vcpu} vCPU and ${pod.memoryGiB} GiB is larger than any Fargate size`);
  if (pod.vcpu > parameters.node.cpu || pod.memoryGiB > parameters.node.memoryGiB)
    throw new ManifestError(
      `a pod of ${pod.vcpu} vCPU and ${pod.memoryGiB} GiB does not fit on a node of ${parameters.node.cpu} vCPU and ${parameters.node.memoryGiB} GiB`,
    );
  return {
    ratePerReplica: workload.ratePerReplica ?? parameters.ratePerReplica,
    sloSeconds: parameters.sloSeconds,
    hpaSyncMs: parameters.hpaSyncSeconds * 1000,
    hpa: { tolerance: parameters.tolerance, downscaleStabilizationSeconds: parameters.downscaleStabilizationSeconds },
    regularStartMs: parameters.regularStartSeconds * 1000,
    burstStartMs: { min: parameters.burstStartSeconds.min * 1000, max: parameters.burstStartSeconds.max * 1000 },
    seed: parameters.seed,
    podRequests: { cpu: pod.vcpu, memoryGiB: pod.memoryGiB },
    burstSize,
    burstRates: { ...fargatePricing, vcpuHour: parameters.vcpuHour, gibHour: parameters.gibHour },
    node: parameters.node,
    autoscaler: parameters.autoscaler,
    nodePricing: parameters.nodePricing,
    sampleEverySeconds: Math.max(1, Math.ceil(trace.duration / 600)),
    drainLimitSeconds: parameters.drainLimitSeconds,
  };
}

export function runSimulation(trace: Trace, workload: SimWorkload, parameters: SimulationParameters): SimulationReport {
  const settings = engineSettings(trace, workload, parameters);
  const max = workload.scaledObject.spec.maxReplicaCount ?? 100;
  const strategies = buildStrategies(workload, parameters.bases ?? defaultBaseSweep(max));
  const results = strategies.map((s) => simulateStrategy(trace, workload, s, settings));
  const recommendation = recommend(results, workload, parameters.sloSeconds, parameters.sloPercentile);
  let work = 0;
  for (const v of trace.values) work += v;
  return {
    trace: {
      kind: trace.kind,
      seconds: trace.duration,
      rows: trace.times.length,
      work: trace.kind === 'metric' ? Math.round(trace.duration) : work,
      sourceDownSeconds: sourceDownSeconds(trace),
    },
    fallback: workload.scaledObject.spec.fallback !== undefined,
    workload: {
      scaledObject: workload.scaledObject.metadata.name ?? '',
      trigger: workload.modifiers
        ? `scalingModifiers over ${workload.triggers.map((t) => t.name ?? t.type).join(', ')}`
        : workload.triggers.map((t) => t.type).join(', '),
      target: workload.modifiers?.target ?? workload.triggers[0]?.target ?? 0,
      ratePerReplica: settings.ratePerReplica,
      pod: { vcpu: settings.podRequests.cpu, memoryGiB: settings.podRequests.memoryGiB },
      burstBilledAs: settings.burstSize,
    },
    slo: { waitSeconds: parameters.sloSeconds, percentile: parameters.sloPercentile },
    results,
    ...(recommendation ? { recommendation } : {}),
    notes: workload.notes,
  };
}
