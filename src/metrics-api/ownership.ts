import { LabelSelectorError, equalityRequirements, scaledObjectLabel } from './label-selector.js';

/** The parts of a ScaledObject that say which metric names swell serves for it. */
export interface ScaledObjectMetrics {
  readonly metadata: { readonly namespace?: string; readonly name?: string };
  readonly status?: { readonly externalMetricNames?: readonly string[]; readonly compositeScalerName?: string | null };
}

/** A metric request, as far as ownership is concerned. */
export interface MetricQuestion {
  readonly namespace: string;
  readonly metricName: string;
  readonly labelSelector: string | undefined;
}

/**
 * Which metrics are swell's when another adapter serves the rest: every metric name a ScaledObject in the
 * namespace lists in its status, and any request whose selector names a ScaledObject swell knows (the HPA
 * swell creates asks that way before the status is written). Everything else belongs upstream.
 */
export class MetricOwnership {
  /** namespace/name → that ScaledObject's metric names. */
  private readonly byObject = new Map<string, readonly string[]>();
  /** namespace → metric name → how many ScaledObjects serve it. */
  private readonly byNamespace = new Map<string, Map<string, number>>();

  /** Records (or replaces) what a ScaledObject serves. */
  upsert(scaledObject: ScaledObjectMetrics): void {
    const key = keyOf(scaledObject);
    if (!key) return;
    this.remove(scaledObject);
    const names = metricNamesOf(scaledObject);
    this.byObject.set(key, names);
    const counts = this.countsIn(scaledObject.metadata.namespace ?? '');
    for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  }

  remove(scaledObject: ScaledObjectMetrics): void {
    const key = keyOf(scaledObject);
    const names = key ? this.byObject.get(key) : undefined;
    if (!key || !names) return;
    this.byObject.delete(key);
    const namespace = scaledObject.metadata.namespace ?? '';
    const counts = this.countsIn(namespace);
    for (const name of names) {
      const left = (counts.get(name) ?? 0) - 1;
      if (left > 0) counts.set(name, left);
      else counts.delete(name);
    }
    if (counts.size === 0) this.byNamespace.delete(namespace);
  }

  /** True when swell answers this request itself. */
  owns(question: MetricQuestion): boolean {
    if (this.byNamespace.get(question.namespace)?.has(question.metricName)) return true;
    const named = scaledObjectNamed(question.labelSelector);
    return named !== undefined && this.byObject.has(`${question.namespace}/${named}`);
  }

  /** Every metric name swell serves, once each, sorted; for discovery. */
  metricNames(): string[] {
    const names = new Set<string>();
    for (const counts of this.byNamespace.values()) for (const name of counts.keys()) names.add(name);
    return [...names].sort();
  }

  private countsIn(namespace: string): Map<string, number> {
    let counts = this.byNamespace.get(namespace);
    if (!counts) {
      counts = new Map();
      this.byNamespace.set(namespace, counts);
    }
    return counts;
  }
}

function keyOf(scaledObject: ScaledObjectMetrics): string | undefined {
  const { namespace, name } = scaledObject.metadata;
  return namespace && name ? `${namespace}/${name}` : undefined;
}

function metricNamesOf(scaledObject: ScaledObjectMetrics): string[] {
  const names = new Set(scaledObject.status?.externalMetricNames ?? []);
  const composite = scaledObject.status?.compositeScalerName;
  if (composite) names.add(composite);
  return [...names];
}

/** The ScaledObject a selector names; a malformed selector names none (the owner of the metric says why). */
function scaledObjectNamed(labelSelector: string | undefined): string | undefined {
  if (!labelSelector?.includes(scaledObjectLabel)) return undefined;
  try {
    return equalityRequirements(labelSelector).get(scaledObjectLabel);
  } catch (error) {
    if (error instanceof LabelSelectorError) return undefined;
    throw error;
  }
}
