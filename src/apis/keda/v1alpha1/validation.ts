import { KedaAnnotations, parseGoBool, parseGoInt32 } from './annotations.js';
import type { ScaledJob } from './scaledjob.js';
import { ScaledObjectDefaults, usesScalingModifiers, type ScaledObject } from './scaledobject.js';
import type { FieldError } from './schema-validation.js';
import type { ClusterTriggerAuthentication, PodIdentity, TriggerAuthentication } from './triggerauthentication.js';
import { isResourceTrigger, type TriggerSpec } from './triggers.js';
import { compileFormula, FormulaError, formulaVariableNames } from '../../../scaling/formula.js';
import { metricTargetProblem, quantityValue } from '../../../kube/quantity.js';

/*
 * Semantic rules KEDA enforces in its admission webhook and reconciler, shared here by swell's operator, webhook
 * and `swell validate`. Inputs have already passed the schema check. Errors make the object unusable; warnings
 * describe settings that are accepted but have no effect or a surprising one.
 */

export interface SemanticResult {
  errors: FieldError[];
  warnings: FieldError[];
}

const maxNameLength = 63;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

class Findings implements SemanticResult {
  readonly errors: FieldError[] = [];
  readonly warnings: FieldError[] = [];
  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

const annotationPath = (key: string) => `metadata.annotations[${JSON.stringify(key)}]`;
const triggerPath = (index: number, field?: string) => `spec.triggers[${index}]${field ? `.${field}` : ''}`;

/** The HPA name swell derives for a ScaledObject (KEDA's rule). */
export function hpaNameFor(so: Pick<ScaledObject, 'metadata' | 'spec'>): string {
  return so.spec.advanced?.horizontalPodAutoscalerConfig?.name || `keda-hpa-${so.metadata.name ?? ''}`;
}

export function validateScaledObject(so: ScaledObject): SemanticResult {
  const findings = new Findings();
  checkNames(so, findings);
  checkReplicaBounds(so, findings);
  checkTriggers(so.spec.triggers, 'ScaledObject', findings);
  checkResourceOnlyTriggers(so, findings);
  checkScalingModifiers(so, findings);
  checkFallback(so, findings);
  checkBehavior(so, findings);
  checkPauseAnnotations(so.metadata.annotations, 'ScaledObject', findings);
  checkIrrelevantTimers(so, findings);
  return findings;
}

export function validateScaledJob(sj: ScaledJob): SemanticResult {
  const findings = new Findings();
  checkTriggers(sj.spec.triggers, 'ScaledJob', findings);
  sj.spec.triggers.forEach((trigger, index) => {
    if (isResourceTrigger(trigger.type))
      findings.error(triggerPath(index, 'type'), `the ${trigger.type} scaler only applies to ScaledObjects, not to ScaledJobs`);
  });
  checkPauseAnnotations(sj.metadata.annotations, 'ScaledJob', findings);
  const strategy = sj.spec.scalingStrategy;
  if (strategy?.strategy === 'custom') {
    const pct = strategy.customScalingRunningJobPercentage;
    if (pct === undefined || !isGoFloat(pct)) {
      findings.warn('spec.scalingStrategy.customScalingRunningJobPercentage', 'is not a number, so the "default" strategy is used instead of "custom"');
    }
    if (strategy.customScalingQueueLengthDeduction === undefined) {
      findings.warn('spec.scalingStrategy.customScalingQueueLengthDeduction', 'is not set; swell deducts 0');
    }
  }
  if (sj.spec.rolloutStrategy !== undefined) findings.warn('spec.rolloutStrategy', 'is deprecated, use spec.rollout.strategy');
  return findings;
}

export function validateTriggerAuthentication(ta: TriggerAuthentication | ClusterTriggerAuthentication): SemanticResult {
  const findings = new Findings();
  const spec = ta.spec;
  if (spec.filePath !== undefined && ta.kind !== 'ClusterTriggerAuthentication') {
    findings.error('spec.filePath', 'filePath is only supported for ClusterTriggerAuthentication');
  }
  const identities: [string, PodIdentity | undefined][] = [
    ['spec.podIdentity', spec.podIdentity],
    ['spec.azureKeyVault.podIdentity', spec.azureKeyVault?.podIdentity],
    ['spec.gcpSecretManager.podIdentity', spec.gcpSecretManager?.podIdentity],
    ['spec.awsSecretManager.podIdentity', spec.awsSecretManager?.podIdentity],
  ];
  for (const [path, identity] of identities) if (identity) checkPodIdentity(path, identity, findings);
  if (spec.oauth2) {
    const { type, clientId, tokenUrl } = spec.oauth2;
    if (type !== 'clientCredentials') findings.error('spec.oauth2.type', `unsupported oauth2 type "${type}", only "clientCredentials" is supported`);
    if (clientId.trim() === '') findings.error('spec.oauth2.clientId', 'clientId is required');
    if (!isHttpUrl(tokenUrl)) findings.error('spec.oauth2.tokenUrl', 'tokenUrl must be an http or https URL');
  }
  return findings;
}

function checkNames(so: ScaledObject, findings: Findings): void {
  const name = so.metadata.name ?? '';
  if (name.length > maxNameLength) findings.error('metadata.name', `ScaledObject name must be no more than ${maxNameLength} characters (is ${name.length})`);
  const customHpaName = so.spec.advanced?.horizontalPodAutoscalerConfig?.name;
  const hpaName = hpaNameFor(so);
  const hpaPath = customHpaName ? 'spec.advanced.horizontalPodAutoscalerConfig.name' : 'metadata.name';
  if (hpaName.length > maxNameLength) {
    findings.error(hpaPath, `HPA name "${hpaName}" must be no more than ${maxNameLength} characters (is ${hpaName.length})`);
  } else if (customHpaName && !dns1123Subdomain.test(customHpaName)) {
    findings.error(hpaPath, `HPA name "${customHpaName}" must be a lowercase RFC 1123 name`);
  }
}

function checkReplicaBounds(so: ScaledObject, findings: Findings): void {
  const { minReplicaCount, maxReplicaCount, idleReplicaCount } = so.spec;
  const min = minReplicaCount ?? ScaledObjectDefaults.minReplicaCount;
  const max = maxReplicaCount ?? ScaledObjectDefaults.maxReplicaCount;
  if (min > max) findings.error('spec.minReplicaCount', `MinReplicaCount=${min} must be less than MaxReplicaCount=${max}`);
  if (idleReplicaCount === undefined) return;
  // KEDA compares with the HPA's minimum, max(min, 1), so idle 0 with min 0 is accepted.
  const hpaMin = Math.max(min, 1);
  if (idleReplicaCount >= hpaMin) {
    findings.error('spec.idleReplicaCount', `IdleReplicaCount=${idleReplicaCount} must be less than MinReplicaCount=${hpaMin}`);
  } else if (idleReplicaCount !== 0) {
    findings.warn('spec.idleReplicaCount', 'only 0 works as an idle replica count; the HPA cannot hold other values');
  }
}

function checkTriggers(triggers: TriggerSpec[], kind: 'ScaledObject' | 'ScaledJob', findings: Findings): void {
  const seen = new Set<string>();
  triggers.forEach((trigger, index) => {
    const name = trigger.name ?? '';
    if (name !== '') {
      if (seen.has(name)) findings.error(triggerPath(index, 'name'), `triggerName "${name}" is defined multiple times in the ${kind}, but it must be unique`);
      seen.add(name);
    }
    if (trigger.useCachedMetrics && (isResourceTrigger(trigger.type) || trigger.type === 'cron')) {
      findings.error(triggerPath(index, 'useCachedMetrics'), `property "useCachedMetrics" is not supported for "${trigger.type}" scaler`);
    }
    if (isResourceTrigger(trigger.type)) {
      if (trigger.metricType === 'Value') {
        findings.error(
          triggerPath(index, 'metricType'),
          `metricType "Value" is not supported for the ${trigger.type} scaler, allowed values are 'Utilization' or 'AverageValue'`,
        );
      }
    } else if (trigger.metricType === 'Utilization') {
      findings.error(
        triggerPath(index, 'metricType'),
        "'Utilization' metric type is unsupported for external metrics, allowed values are 'Value' or 'AverageValue'",
      );
    }
  });
}

function checkResourceOnlyTriggers(so: ScaledObject, findings: Findings): void {
  const onlyResource = so.spec.triggers.every((t) => isResourceTrigger(t.type));
  if (onlyResource && (so.spec.minReplicaCount ?? 0) === 0) {
    findings.error('spec.minReplicaCount', "scaledobject has only cpu/memory triggers AND minReplica is 0 (scale to zero doesn't work in this case)");
  }
}

function checkScalingModifiers(so: ScaledObject, findings: Findings): void {
  const modifiers = so.spec.advanced?.scalingModifiers;
  if (!usesScalingModifiers(modifiers)) return;
  const base = 'spec.advanced.scalingModifiers';
  const formula = modifiers.formula?.trim() ?? '';
  if (formula === '') {
    findings.error(`${base}.formula`, 'formula is required when scalingModifiers is set');
    return;
  }
  const target = modifiers.target?.trim() ?? '';
  if (target === '') findings.error(`${base}.target`, 'formula is given but target is empty');
  else if (!isGoFloat(target) || Number(target) <= 0) findings.error(`${base}.target`, `target "${target}" must be a number greater than 0`);
  else {
    // composite-metric's HPA target; a fraction that rounds to 0 in milli-units would be refused by the HPA.
    const problem = metricTargetProblem('target', Number(target));
    if (problem) findings.error(`${base}.target`, problem);
  }
  const activation = modifiers.activationTarget?.trim();
  if (activation && !isGoFloat(activation)) findings.error(`${base}.activationTarget`, `activationTarget "${activation}" must be a number`);
  const error = formulaProblem(formula, formulaVariableNames(so.spec.triggers));
  if (error) findings.error(`${base}.formula`, error);
}

/** KEDA's check (metricType Utilization is refused by the schema): the formula compiles and runs with every trigger it may use set to -1. */
function formulaProblem(formula: string, variables: string[]): string | undefined {
  try {
    compileFormula(formula, variables).evaluate(Object.fromEntries(variables.map((name) => [name, -1])));
    return undefined;
  } catch (err) {
    if (!(err instanceof FormulaError)) throw err;
    return err.reason;
  }
}

function checkFallback(so: ScaledObject, findings: Findings): void {
  const fallback = so.spec.fallback;
  if (!fallback) return;
  const modifiers = so.spec.advanced?.scalingModifiers;
  const withFormula = usesScalingModifiers(modifiers) && (modifiers.formula?.trim() ?? '') !== '';
  if (fallback.behavior === 'scalingModifiers' && !withFormula) {
    findings.error('spec.fallback.behavior', 'fallback behavior "scalingModifiers" requires spec.advanced.scalingModifiers.formula');
  }
  if (!withFormula && so.spec.triggers.every((t) => isResourceTrigger(t.type))) {
    findings.error('spec.fallback', 'fallback requires at least one trigger that is not cpu or memory');
  }
  if (withFormula && !/^[+-]?\d+$/.test(modifiers.target?.trim() ?? '')) {
    findings.warn('spec.fallback', 'fallback is ignored because spec.advanced.scalingModifiers.target is not an integer');
  }
}

/** The HPA refuses a negative tolerance; the schema only knows it is a quantity. */
function checkBehavior(so: ScaledObject, findings: Findings): void {
  const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  for (const direction of ['scaleUp', 'scaleDown'] as const) {
    const tolerance = behavior?.[direction]?.tolerance;
    if (tolerance === undefined) continue;
    if ((quantityValue(tolerance) ?? 0) < 0) {
      findings.error(
        `spec.advanced.horizontalPodAutoscalerConfig.behavior.${direction}.tolerance`,
        `must be greater than or equal to 0 (is ${String(tolerance)})`,
      );
    }
  }
}

function checkPauseAnnotations(annotations: Record<string, string> | undefined, kind: 'ScaledObject' | 'ScaledJob', findings: Findings): void {
  if (!annotations) return;
  const paused = annotations[KedaAnnotations.paused];
  if (paused !== undefined && parseGoBool(paused) === undefined) {
    findings.warn(annotationPath(KedaAnnotations.paused), `"${paused}" is not a boolean; any value other than false pauses the ${kind}`);
  }
  if (kind === 'ScaledJob') return;
  const replicas = annotations[KedaAnnotations.pausedReplicas];
  if (replicas !== undefined) {
    const parsed = parseGoInt32(replicas);
    if (parsed === undefined) findings.error(annotationPath(KedaAnnotations.pausedReplicas), `"${replicas}" is not an integer`);
    else if (parsed < 0) findings.error(annotationPath(KedaAnnotations.pausedReplicas), `must not be negative (is ${parsed})`);
  }
  for (const key of [KedaAnnotations.pausedScaleIn, KedaAnnotations.pausedScaleOut, KedaAnnotations.forceActivation]) {
    const value = annotations[key];
    if (value !== undefined && parseGoBool(value) === undefined) findings.warn(annotationPath(key), `"${value}" is not a boolean and is ignored`);
  }
}

function checkIrrelevantTimers(so: ScaledObject, findings: Findings): void {
  const { minReplicaCount, idleReplicaCount, pollingInterval, cooldownPeriod, triggers } = so.spec;
  if ((minReplicaCount ?? 0) === 0 || idleReplicaCount !== undefined) return;
  const why = 'minReplicaCount is above 0 and there is no idleReplicaCount, so the HPA alone scales this target';
  if (pollingInterval !== undefined && !triggers.some((t) => t.useCachedMetrics)) findings.warn('spec.pollingInterval', `is not relevant: ${why}`);
  if (cooldownPeriod !== undefined) findings.warn('spec.cooldownPeriod', `is not relevant: ${why}`);
}

function checkPodIdentity(path: string, identity: PodIdentity, findings: Findings): void {
  if (identity.provider === 'azure-workload') {
    if (identity.identityId === '') findings.error(`${path}.identityId`, 'identityId of azure-workload cannot be empty');
    if (identity.identityTenantId === '') findings.error(`${path}.identityTenantId`, 'identityTenantId of azure-workload cannot be empty');
    if (identity.identityAuthorityHost && !identity.identityTenantId) {
      findings.error(`${path}.identityAuthorityHost`, 'identityAuthorityHost requires identityTenantId');
    }
  }
  if (identity.provider === 'aws' || identity.provider === 'aws-eks') {
    if (identity.roleArn && identity.identityOwner === 'workload')
      findings.error(`${path}.roleArn`, 'roleArn cannot be used together with identityOwner "workload"');
    if (identity.externalID && !identity.roleArn) findings.error(`${path}.externalID`, 'externalID requires roleArn');
  }
}

/** Go's strconv.ParseFloat accepts what JavaScript's Number does, minus the empty string and hex/binary forms. */
export function isGoFloat(value: string): boolean {
  return /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value.trim());
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
