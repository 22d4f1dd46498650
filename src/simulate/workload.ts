import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { HpaBehavior, ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import type { TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import type { BurstPolicy } from '../apis/swell/v1alpha1/burstpolicy.js';
import { activeScalingModifiers, compileFormula, FormulaError, metricVariables, type ActiveScalingModifiers } from '../scaling/formula.js';
import { createBurstPolicyValidator, type EffectiveBurstPolicy } from '../apis/swell/v1alpha1/validation.js';
import { createManifestValidator } from '../cli/validate.js';
import { podResources } from '../virtual-node/cost/metering.js';
import { fargatePricing } from './pricing.js';

/*
 * The user's manifests read for simulation: one ScaledObject (validated as `swell validate` would), the
 * BurstPolicy for its target if the file has one, and the pod size from the target Deployment/StatefulSet when
 * it is in the file. Only what the simulator can model is accepted; everything else is a clear error.
 */

/** Work one Running replica finishes per second, when set on the ScaledObject instead of with --rate. */
export const ratePerReplicaAnnotation = 'simulate.swell.dev/work-per-second';

export interface SimTrigger {
  type: string;
  /** `triggers[].name`: the trigger's variable in a scalingModifiers formula. */
  name?: string;
  metricName: string;
  targetType: 'AverageValue' | 'Value';
  target: number;
  activationThreshold: number;
  /** `queue`: the trigger reads the backlog; `metric`: it reads the trace's value (when the trace is a metric). */
  reads: 'queue' | 'metric';
}

export interface SimWorkload {
  scaledObject: ScaledObject;
  /** The triggers fed from the trace, in spec order; the first is always one of them. */
  triggers: SimTrigger[];
  /** `advanced.scalingModifiers` when it replaces the triggers' metrics with one composite metric. */
  modifiers?: ActiveScalingModifiers;
  behavior?: HpaBehavior;
  burstPolicy?: { document: BurstPolicy; effective: EffectiveBurstPolicy };
  /** From the target's pod template in the file, when it is there. */
  podRequests?: { vcpu: number; memoryGiB: number };
  ratePerReplica?: number;
  notes: string[];
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Per trigger type: the metadata keys of its target and activation threshold, with the scaler's defaults. */
const triggerKeys: Record<string, { target: string; targetDefault?: number; activation: string; reads: SimTrigger['reads'] }> = {
  redis: { target: 'listLength', targetDefault: 5, activation: 'activationListLength', reads: 'queue' },
  'redis-cluster': { target: 'listLength', targetDefault: 5, activation: 'activationListLength', reads: 'queue' },
  'redis-sentinel': { target: 'listLength', targetDefault: 5, activation: 'activationListLength', reads: 'queue' },
  'redis-streams': { target: 'pendingEntriesCount', targetDefault: 5, activation: 'activationLagCount', reads: 'queue' },
  'redis-cluster-streams': { target: 'pendingEntriesCount', targetDefault: 5, activation: 'activationLagCount', reads: 'queue' },
  'redis-sentinel-streams': { target: 'pendingEntriesCount', targetDefault: 5, activation: 'activationLagCount', reads: 'queue' },
  'aws-sqs-queue': { target: 'queueLength', targetDefault: 5, activation: 'activationQueueLength', reads: 'queue' },
  kafka: { target: 'lagThreshold', targetDefault: 10, activation: 'activationLagThreshold', reads: 'queue' },
  prometheus: { target: 'threshold', activation: 'activationThreshold', reads: 'metric' },
};

export const simulatedTriggerTypes: readonly string[] = Object.keys(triggerKeys);

export function simTrigger(trigger: TriggerSpec, index: number): SimTrigger {
  const keys = triggerKeys[trigger.type];
  if (!keys)
    throw new ManifestError(
      `trigger ${index} has type "${trigger.type}", which the simulator cannot feed from a trace (it can: ${simulatedTriggerTypes.join(', ')})`,
    );
  const number = (key: string, fallback: number | undefined): number => {
    const raw = trigger.metadata[key];
    if (raw === undefined || raw.trim() === '') {
      if (fallback === undefined) throw new ManifestError(`trigger ${index} (${trigger.type}): metadata.${key} is required`);
      return fallback;
    }
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new ManifestError(`trigger ${index} (${trigger.type}): metadata.${key} "${raw}" is not a number`);
    return value;
  };
  const target = number(keys.target, keys.targetDefault);
  if (target <= 0) throw new ManifestError(`trigger ${index} (${trigger.type}): metadata.${keys.target} must be above 0`);
  return {
    type: trigger.type,
    ...(trigger.name ? { name: trigger.name } : {}),
    metricName: `s${index}-${trigger.type}`,
    targetType: trigger.metricType === 'Value' ? 'Value' : 'AverageValue',
    target,
    activationThreshold: number(keys.activation, 0),
    reads: keys.reads,
  };
}

interface Document {
  kind?: unknown;
  metadata?: { name?: unknown };
  spec?: { template?: { spec?: V1Pod['spec'] }; scaleTargetRef?: { name?: unknown } };
}

/** Reads the manifests; `name` picks the ScaledObject when the file has several. */
export function loadWorkload(text: string, name?: string): SimWorkload {
  const documents: Document[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new ManifestError(`YAML: ${doc.errors[0]?.message ?? 'unreadable'}`);
    const value = doc.toJS() as unknown;
    if (value && typeof value === 'object') documents.push(value);
  }
  const candidates = documents.filter((d) => d.kind === 'ScaledObject' && (name === undefined || d.metadata?.name === name));
  if (candidates.length === 0) throw new ManifestError(name ? `no ScaledObject named "${name}" in the manifests` : 'the manifests hold no ScaledObject');
  if (candidates.length > 1) throw new ManifestError(`the manifests hold ${candidates.length} ScaledObjects; pick one with --scaled-object NAME`);
  const result = createManifestValidator().validate(candidates[0]);
  if (!result?.valid || result.object?.kind !== 'ScaledObject') {
    const errors = result?.errors.map((e) => `${e.path}: ${e.message}`).join('; ') ?? 'not a ScaledObject';
    throw new ManifestError(`ScaledObject ${result?.name ?? ''} is invalid: ${errors}`);
  }
  const scaledObject = result.object;
  return { ...describe(scaledObject, documents), scaledObject };
}

function describe(so: ScaledObject, documents: Document[]): Omit<SimWorkload, 'scaledObject'> {
  const notes: string[] = [];
  const triggers = feedableTriggers(so.spec.triggers, notes);
  const modifiers = activeScalingModifiers(so.spec);
  if (modifiers) checkFormula(modifiers, triggers);
  const targetName = so.spec.scaleTargetRef.name;
  const burstPolicy = findBurstPolicy(documents, targetName);
  const target = documents.find((d) => (d.kind === 'Deployment' || d.kind === 'StatefulSet') && d.metadata?.name === targetName);
  const podSpec = target?.spec?.template?.spec;
  const rateText = so.metadata.annotations?.[ratePerReplicaAnnotation];
  const ratePerReplica = rateText === undefined ? undefined : Number(rateText);
  if (ratePerReplica !== undefined && !(ratePerReplica > 0))
    throw new ManifestError(`annotation ${ratePerReplicaAnnotation} must be a positive number, not "${rateText ?? ''}"`);
  const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  return {
    triggers,
    ...(modifiers ? { modifiers } : {}),
    ...(behavior ? { behavior } : {}),
    ...(burstPolicy ? { burstPolicy } : {}),
    ...(podSpec ? { podRequests: podResources({ spec: podSpec }, fargatePricing) } : {}),
    ...(ratePerReplica !== undefined ? { ratePerReplica } : {}),
    notes,
  };
}

/**
 * Every trigger the trace can feed: they all read the same trace (the backlog, or the metric value). The first
 * must be one; a later one of another kind (cpu, cron, ...) is left out and named in a note.
 */
function feedableTriggers(specs: readonly TriggerSpec[], notes: string[]): SimTrigger[] {
  const fed = [simTrigger(specs[0] as TriggerSpec, 0)];
  specs.slice(1).forEach((spec, i) => {
    if (simulatedTriggerTypes.includes(spec.type)) fed.push(simTrigger(spec, i + 1));
    else notes.push(`trigger ${i + 1} (${spec.type}) is not fed from the trace and is left out`);
  });
  return fed;
}

/** The formula must compile against the triggers the simulator feeds, or every poll would fail on it. */
function checkFormula(modifiers: ActiveScalingModifiers, triggers: readonly SimTrigger[]): void {
  const variables = metricVariables(triggers.map((t) => ({ trigger: t, metricNames: [t.metricName] })));
  try {
    compileFormula(modifiers.formula, [...new Set(variables.values())]);
  } catch (err) {
    if (err instanceof FormulaError) throw new ManifestError(`${err.message} (the simulator feeds the triggers of types ${simulatedTriggerTypes.join(', ')})`);
    throw err;
  }
}

function findBurstPolicy(documents: Document[], targetName: string): SimWorkload['burstPolicy'] {
  const doc = documents.find((d) => d.kind === 'BurstPolicy' && d.spec?.scaleTargetRef?.name === targetName);
  if (!doc) return undefined;
  const check = createBurstPolicyValidator()(doc);
  if (!check.ok)
    throw new ManifestError(
      `BurstPolicy ${typeof doc.metadata?.name === 'string' ? doc.metadata.name : ''} is invalid: ${check.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    );
  return { document: check.policy, effective: check.effective };
}
