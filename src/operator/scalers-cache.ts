import { createHash } from 'node:crypto';
import type { TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import type { Logger } from '../log.js';
import { ScalerConfigError, type MetricSpec, type Scaler, type ScalerContext } from '../../scalers/scaler.js';
import { scalerTypeName } from './metrics.js';
import type { ResolvedAuth } from './trigger-auth.js';

/** Builds one trigger's scaler; throws ScalerConfigError (every field problem, each naming its field). */
export type ScalerFactory = (context: ScalerContext) => Scaler;

/** Everything a ScaledObject's scalers are built from; a change to any of it means new scalers. */
export interface ScalerInputs {
  namespace: string;
  triggers: readonly TriggerSpec[];
  /** One per trigger, same order. */
  auth: readonly ResolvedAuth[];
  /** The scale target's container env (envSourceContainerName or the first container). */
  env: Readonly<Record<string, string>>;
}

export interface TriggerScaler {
  index: number;
  trigger: TriggerSpec;
  scaler: Scaler;
  /** KEDA's `scaler` metric label: the trigger name, else the scaler type name. */
  label: string;
}

export interface ScalerSet {
  /** Digest of the inputs (secret values included, so it is hashed, never stored in clear). */
  readonly version: string;
  readonly inputs: ScalerInputs;
  readonly triggers: readonly TriggerScaler[];
  /** All triggers' metric specs in trigger order: what the HPA and status.externalMetricNames are built from. */
  readonly metricSpecs: readonly MetricSpec[];
}

/** The triggers could not be built; `problems` name the trigger and field, and carry no secret values. */
export class TriggersInvalidError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'TriggersInvalidError';
  }
}

export function scalerInputsVersion(inputs: ScalerInputs): string {
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 32);
}

/**
 * The live scalers of every ScaledObject, keyed `namespace/name`. A set is rebuilt only when its inputs
 * change (new generation, changed secret or env) or after a read error (KEDA's refresh: reconnect and
 * re-resolve), and closed when its ScaledObject goes away.
 */
export class ScalersCache {
  private readonly sets = new Map<string, ScalerSet>();

  constructor(private readonly deps: { factory: ScalerFactory; log: Logger }) {}

  get(key: string): ScalerSet | undefined {
    return this.sets.get(key);
  }

  keys(): IterableIterator<string> {
    return this.sets.keys();
  }

  /** The set for these inputs, built now if the cached one was built from different inputs. */
  async ensure(key: string, inputs: ScalerInputs): Promise<ScalerSet> {
    const version = scalerInputsVersion(inputs);
    const current = this.sets.get(key);
    if (current?.version === version) return current;
    const next = this.build(version, inputs);
    this.sets.set(key, next);
    if (current) await this.closeSet(key, current);
    return next;
  }

  /** Rebuilds the set from the inputs it was built from (fresh connections), e.g. after a read error. */
  async refresh(key: string): Promise<ScalerSet | undefined> {
    const current = this.sets.get(key);
    if (!current) return undefined;
    this.sets.delete(key);
    await this.closeSet(key, current);
    return this.ensure(key, current.inputs);
  }

  async remove(key: string): Promise<void> {
    const current = this.sets.get(key);
    if (!current) return;
    this.sets.delete(key);
    await this.closeSet(key, current);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sets.keys()].map((key) => this.remove(key)));
  }

  private build(version: string, inputs: ScalerInputs): ScalerSet {
    const triggers: TriggerScaler[] = [];
    const problems: string[] = [];
    inputs.triggers.forEach((trigger, index) => {
      const auth = inputs.auth[index];
      try {
        const scaler = this.deps.factory({
          triggerIndex: index,
          trigger,
          authParams: auth?.params ?? {},
          resolvedEnv: inputs.env,
          namespace: inputs.namespace,
          ...(auth?.podIdentity ? { podIdentity: auth.podIdentity } : {}),
        });
        triggers.push({ index, trigger, scaler, label: trigger.name || scalerTypeName(trigger.type) });
      } catch (err) {
        const reasons = err instanceof ScalerConfigError ? err.problems : [err instanceof Error ? err.message : String(err)];
        for (const reason of reasons) problems.push(`spec.triggers[${index}] (${trigger.type}): ${reason}`);
      }
    });
    if (problems.length > 0) {
      for (const built of triggers) void built.scaler.close().catch(() => undefined);
      throw new TriggersInvalidError(problems);
    }
    return { version, inputs, triggers, metricSpecs: triggers.flatMap((t) => t.scaler.metricSpecs) };
  }

  private async closeSet(key: string, set: ScalerSet): Promise<void> {
    await Promise.all(
      set.triggers.map((t) =>
        t.scaler.close().catch((err: unknown) => this.deps.log.warn({ scaledObject: key, trigger: t.index, err: String(err) }, 'closing scaler failed')),
      ),
    );
  }
}
