import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../controller/clock.js';
import { bytesPerGiB, parseNonNegativeQuantity } from '../../kube/quantity.js';

// What burst pods cost, computed the way serverless container platforms bill: the pod's requested vCPU and
// memory, times how long it ran, per second, with a minimum charge.

export interface PricingRates {
  /** Dollars per vCPU-hour. */
  readonly vcpuHour: number;
  /** Dollars per GiB-hour of memory. */
  readonly gibHour: number;
  /** Every pod is billed at least this long. */
  readonly minimumSeconds: number;
  /** What a pod without requests is billed as (the smallest size the platform runs). */
  readonly defaultVcpu: number;
  readonly defaultMemoryGiB: number;
}

/** AWS Fargate, Linux/x86, us-east-1 list prices; per-second billing with a one-minute minimum. */
export const fargatePricing: PricingRates = { vcpuHour: 0.04048, gibHour: 0.004445, minimumSeconds: 60, defaultVcpu: 0.25, defaultMemoryGiB: 0.5 };

export interface PodResources {
  readonly vcpu: number;
  readonly memoryGiB: number;
}

export interface Workload {
  /** "Deployment", "Job", "StatefulSet", ... or "Pod" for a bare pod. */
  readonly kind: string;
  readonly name: string;
}

export interface Usage {
  readonly vcpuSeconds: number;
  readonly gibSeconds: number;
  readonly dollars: number;
}

/**
 * The size a pod is billed for: the larger of the sum of its containers' requests and its largest init
 * container request (init containers run one at a time, before the others), per resource. A request that is
 * absent falls back to the limit, then to the platform's smallest size.
 */
export function podResources(pod: V1Pod, rates: PricingRates): PodResources {
  const where = `pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  const amount = (containers: V1Container[] | undefined, resource: 'cpu' | 'memory', init: boolean) =>
    (containers ?? []).map((c, i) => {
      const value = c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource];
      const field = `${where}: spec.${init ? 'initContainers' : 'containers'}[${i}].resources.requests.${resource}`;
      return value === undefined ? 0 : parseNonNegativeQuantity(value, field);
    });
  const effective = (resource: 'cpu' | 'memory') => {
    const main = amount(pod.spec?.containers, resource, false).reduce((a, b) => a + b, 0);
    const init = Math.max(0, ...amount(pod.spec?.initContainers, resource, true));
    return Math.max(main, init);
  };
  const vcpu = effective('cpu');
  const memoryGiB = effective('memory') / bytesPerGiB;
  return { vcpu: vcpu > 0 ? vcpu : rates.defaultVcpu, memoryGiB: memoryGiB > 0 ? memoryGiB : rates.defaultMemoryGiB };
}

/** Seconds billed for a run: rounded up to the next whole second, never below the minimum. */
export function billedSeconds(runMs: number, rates: PricingRates): number {
  return Math.max(Math.ceil(Math.max(0, runMs) / 1000), rates.minimumSeconds);
}

export function usageFor(resources: PodResources, seconds: number, rates: PricingRates): Usage {
  const vcpuSeconds = resources.vcpu * seconds;
  const gibSeconds = resources.memoryGiB * seconds;
  return { vcpuSeconds, gibSeconds, dollars: (vcpuSeconds * rates.vcpuHour + gibSeconds * rates.gibHour) / 3600 };
}

/** One pod the meter follows, from the moment the provider accepted it until its containers ended. */
export interface MeteredPod {
  readonly uid: string;
  readonly namespace: string;
  readonly workload: Workload;
  readonly resources: PodResources;
  /** This pod's own prices (its architecture, spot or on-demand); absent: the meter's rates. */
  readonly rates?: { readonly vcpuHour: number; readonly gibHour: number };
  readonly start: Date;
  /** When the last container ended; absent while it runs. */
  readonly end?: Date;
}

export interface CostRow extends Usage {
  readonly namespace: string;
  readonly workload: Workload;
  /** Pods currently billed (started, not yet ended). */
  readonly running: number;
  /** Pods billed in total, running or ended. */
  readonly pods: number;
}

/**
 * Accumulates usage per namespace and workload. Pods that are still running are billed up to `clock.now()`;
 * pods that are forgotten keep counting in their workload's totals, so totals only grow.
 */
export class CostMeter {
  private readonly live = new Map<string, MeteredPod>();
  private readonly settled = new Map<string, { namespace: string; workload: Workload; usage: Usage; pods: number }>();

  constructor(
    private readonly rates: PricingRates,
    private readonly clock: Clock,
  ) {}

  /** Records the latest facts about a pod (idempotent). */
  observe(pod: MeteredPod): void {
    this.live.set(pod.uid, pod);
  }

  /** The pod is gone: its usage so far is settled into its workload's totals. */
  forget(uid: string): void {
    const pod = this.live.get(uid);
    if (!pod) return;
    this.live.delete(uid);
    const key = rowKey(pod.namespace, pod.workload);
    const row = this.settled.get(key) ?? { namespace: pod.namespace, workload: pod.workload, usage: zero, pods: 0 };
    this.settled.set(key, { ...row, usage: add(row.usage, this.usageOf(pod)), pods: row.pods + 1 });
  }

  rows(): CostRow[] {
    const rows = new Map<string, CostRow>();
    for (const s of this.settled.values()) {
      rows.set(rowKey(s.namespace, s.workload), { namespace: s.namespace, workload: s.workload, ...s.usage, running: 0, pods: s.pods });
    }
    for (const pod of this.live.values()) {
      const key = rowKey(pod.namespace, pod.workload);
      const row = rows.get(key) ?? { namespace: pod.namespace, workload: pod.workload, ...zero, running: 0, pods: 0 };
      rows.set(key, { ...row, ...add(row, this.usageOf(pod)), running: row.running + (pod.end ? 0 : 1), pods: row.pods + 1 });
    }
    return [...rows.values()].sort((a, b) => rowKey(a.namespace, a.workload).localeCompare(rowKey(b.namespace, b.workload)));
  }

  private usageOf(pod: MeteredPod): Usage {
    const end = pod.end?.getTime() ?? this.clock.now();
    return usageFor(pod.resources, billedSeconds(end - pod.start.getTime(), this.rates), { ...this.rates, ...pod.rates });
  }
}

const zero: Usage = { vcpuSeconds: 0, gibSeconds: 0, dollars: 0 };

function add(a: Usage, b: Usage): Usage {
  return { vcpuSeconds: a.vcpuSeconds + b.vcpuSeconds, gibSeconds: a.gibSeconds + b.gibSeconds, dollars: a.dollars + b.dollars };
}

function rowKey(namespace: string, workload: Workload): string {
  return `${namespace}/${workload.kind}/${workload.name}`;
}
