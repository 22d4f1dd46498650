/** Annotation and label keys KEDA users already put on their objects; swell reads the same keys. */
export const KedaAnnotations = {
  paused: 'autoscaling.keda.sh/paused',
  pausedReplicas: 'autoscaling.keda.sh/paused-replicas',
  pausedScaleIn: 'autoscaling.keda.sh/paused-scale-in',
  pausedScaleOut: 'autoscaling.keda.sh/paused-scale-out',
  forceActivation: 'autoscaling.keda.sh/force-activation',
  transferHpaOwnership: 'scaledobject.keda.sh/transfer-hpa-ownership',
  hpaOwnershipValidation: 'validations.keda.sh/hpa-ownership',
  hpaExcludedLabels: 'scaledobject.keda.sh/hpa-excluded-labels',
  jobExcludedLabels: 'scaledjob.keda.sh/job-excluded-labels',
  jobGeneration: 'scaledjob.keda.sh/generation',
} as const;

export const KedaLabels = {
  scaledObjectName: 'scaledobject.keda.sh/name',
  scaledJobName: 'scaledjob.keda.sh/name',
} as const;

export const KedaFinalizer = 'finalizer.keda.sh';

const goTrue = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const goFalse = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool, which KEDA uses for every boolean annotation; undefined when unparsable. */
export function parseGoBool(value: string): boolean | undefined {
  if (goTrue.has(value)) return true;
  if (goFalse.has(value)) return false;
  return undefined;
}

/** Go's strconv.ParseInt(value, 10, 32): an optional sign and decimal digits, within int32. */
export function parseGoInt32(value: string): number | undefined {
  if (!/^[+-]?\d+$/.test(value)) return undefined;
  const parsed = Number(value);
  return parsed >= -2147483648 && parsed <= 2147483647 ? parsed : undefined;
}

export interface PauseState {
  /** The scale loop stops and the HPA is removed (`paused` true or unparsable, or `paused-replicas` present). */
  paused: boolean;
  /** Replicas to hold the target at while paused; absent means "freeze at the current count". */
  pausedReplicas?: number;
  /** The raw `paused-replicas` value did not parse as an int32; KEDA then fails the reconcile. */
  invalidPausedReplicas?: string;
  pausedScaleIn: boolean;
  pausedScaleOut: boolean;
  forceActivation: boolean;
}

type Annotations = Readonly<Record<string, string>> | undefined;

function flag(annotations: Annotations, key: string): boolean {
  const raw = annotations?.[key];
  return raw !== undefined && parseGoBool(raw) === true;
}

/**
 * Reads the pause family of annotations the way KEDA does: `paused` counts as true when its value does not parse
 * (only an explicit false value unpauses), `paused-replicas` pauses by mere presence and wins over `paused`, and
 * the scale-in/scale-out/force-activation flags are true only for a true value.
 */
export function readPauseState(annotations: Annotations): PauseState {
  const pausedRaw = annotations?.[KedaAnnotations.paused];
  const replicasRaw = annotations?.[KedaAnnotations.pausedReplicas];
  const pausedReplicas = replicasRaw === undefined ? undefined : parseGoInt32(replicasRaw);
  return {
    paused: replicasRaw !== undefined || (pausedRaw !== undefined && parseGoBool(pausedRaw) !== false),
    ...(pausedReplicas !== undefined ? { pausedReplicas } : {}),
    ...(replicasRaw !== undefined && pausedReplicas === undefined ? { invalidPausedReplicas: replicasRaw } : {}),
    pausedScaleIn: flag(annotations, KedaAnnotations.pausedScaleIn),
    pausedScaleOut: flag(annotations, KedaAnnotations.pausedScaleOut),
    forceActivation: flag(annotations, KedaAnnotations.forceActivation),
  };
}

/** Comma-separated label keys listed in an exclusion annotation. */
export function excludedLabelKeys(annotations: Annotations, key: string): Set<string> {
  const raw = annotations?.[key];
  if (!raw) return new Set();
  return new Set(
    raw
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0),
  );
}
