import { TypeCompiler } from '@sinclair/typebox/compiler';
import { compileKedaSchemas, fieldPath, type FieldError } from '../../keda/v1alpha1/schema-validation.js';
import { BurstPolicyDefaults, BurstPolicySchema, type BurstPolicy } from './burstpolicy.js';

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Go-style duration → milliseconds; undefined when the text is not one. */
export function parseDurationMs(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(match[1]) * (unitMs[match[2] ?? 's'] ?? 0);
  return total;
}

/** The policy with every default filled in, in the units the placement logic uses. */
export interface EffectiveBurstPolicy {
  targetKind: 'Deployment' | 'StatefulSet';
  targetName: string;
  baseReplicas?: number;
  maxBurstReplicas?: number;
  nodeSelector: Record<string, string>;
  tolerations: NonNullable<NonNullable<BurstPolicy['spec']['virtualNode']>['tolerations']>;
  pendingTimeoutMs: number;
  rebalance: boolean;
  rebalanceIntervalMs: number;
}

export type BurstPolicyCheck = { ok: true; policy: BurstPolicy; effective: EffectiveBurstPolicy } | { ok: false; errors: FieldError[] };

/** Checks a BurstPolicy document (schema and meaning) and resolves its defaults; errors name the field. */
export function createBurstPolicyValidator(): (document: unknown) => BurstPolicyCheck {
  compileKedaSchemas(); // registers the date-time format the status schema uses
  const compiled = TypeCompiler.Compile(BurstPolicySchema);
  return (document) => {
    if (!compiled.Check(document)) {
      return { ok: false, errors: [...compiled.Errors(document)].map((e) => ({ path: fieldPath(document, e.path), message: e.message })) };
    }
    const errors: FieldError[] = [];
    const spec = document.spec;
    const pendingTimeoutMs = duration(spec.pendingTimeout ?? BurstPolicyDefaults.pendingTimeout, 'spec.pendingTimeout', errors);
    const rebalanceIntervalMs = duration(spec.rebalance?.interval ?? BurstPolicyDefaults.rebalanceInterval, 'spec.rebalance.interval', errors);
    const apiVersion = spec.scaleTargetRef.apiVersion ?? 'apps/v1';
    if (apiVersion !== 'apps/v1')
      errors.push({ path: 'spec.scaleTargetRef.apiVersion', message: `unsupported apiVersion "${apiVersion}", expected "apps/v1"` });
    const selector = spec.virtualNode?.nodeSelector ?? BurstPolicyDefaults.virtualNodeSelector;
    if (Object.keys(selector).length === 0)
      errors.push({ path: 'spec.virtualNode.nodeSelector', message: 'must name at least one label, or burst pods could land anywhere' });
    if (errors.length > 0) return { ok: false, errors };
    const effective: EffectiveBurstPolicy = {
      targetKind: spec.scaleTargetRef.kind ?? 'Deployment',
      targetName: spec.scaleTargetRef.name,
      ...(spec.baseReplicas !== undefined ? { baseReplicas: spec.baseReplicas } : {}),
      ...(spec.maxBurstReplicas !== undefined ? { maxBurstReplicas: spec.maxBurstReplicas } : {}),
      nodeSelector: { ...selector },
      tolerations: spec.virtualNode?.tolerations ?? [...BurstPolicyDefaults.virtualNodeTolerations],
      pendingTimeoutMs,
      rebalance: spec.rebalance?.enabled ?? true,
      rebalanceIntervalMs,
    };
    return { ok: true, policy: document, effective };
  };
}

function duration(text: string, path: string, errors: FieldError[]): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) errors.push({ path, message: `"${text}" is not a duration (examples: 30s, 2m, 1m30s)` });
  return ms ?? 0;
}
