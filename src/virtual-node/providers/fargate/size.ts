import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseNonNegativeQuantity } from '../../../kube/quantity.js';

// Fargate runs a task at one of a fixed set of CPU/memory sizes. A pod's size is what its containers ask for,
// rounded up to the cheapest size that holds it; that size is what runs, what the pod's annotation shows and
// what is billed.

/** A Fargate task size: CPU in ECS units (1024 per vCPU) and memory in MiB, as RegisterTaskDefinition takes them. */
export interface FargateSize {
  readonly cpuUnits: number;
  readonly memoryMiB: number;
}

/** What a pod needs, in vCPU and MiB. */
export interface PodNeed {
  readonly vcpu: number;
  readonly memoryMiB: number;
}

const GiB = 1024;
const range = (from: number, to: number, step: number): number[] => Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);

/** The memory sizes Fargate allows for each CPU size (Linux tasks). */
export const fargateSizes: readonly { readonly cpuUnits: number; readonly memoryMiB: readonly number[] }[] = [
  { cpuUnits: 256, memoryMiB: [512, 1024, 2048] },
  { cpuUnits: 512, memoryMiB: range(1 * GiB, 4 * GiB, GiB) },
  { cpuUnits: 1024, memoryMiB: range(2 * GiB, 8 * GiB, GiB) },
  { cpuUnits: 2048, memoryMiB: range(4 * GiB, 16 * GiB, GiB) },
  { cpuUnits: 4096, memoryMiB: range(8 * GiB, 30 * GiB, GiB) },
  { cpuUnits: 8192, memoryMiB: range(16 * GiB, 60 * GiB, 4 * GiB) },
  { cpuUnits: 16384, memoryMiB: range(32 * GiB, 120 * GiB, 8 * GiB) },
];

/**
 * The smallest Fargate size that holds `need`, or undefined when nothing does (more than 16 vCPU or 120 GiB).
 * Sizes are tried by CPU first: a bigger CPU size never allows less memory, so the first fit is the cheapest.
 */
export function roundToFargateSize(need: PodNeed): FargateSize | undefined {
  for (const size of fargateSizes) {
    if (size.cpuUnits < need.vcpu * 1024 - 1e-9) continue;
    const memoryMiB = size.memoryMiB.find((m) => m >= need.memoryMiB - 1e-9);
    if (memoryMiB !== undefined) return { cpuUnits: size.cpuUnits, memoryMiB };
  }
  return undefined;
}

/**
 * What a pod needs: per container the larger of its request and limit (a Fargate task is a hard ceiling, so a
 * limit is only honoured if the task holds it), summed over the app containers, and at least the largest init
 * container (they run one at a time, before the app containers).
 */
export function podNeed(pod: V1Pod): PodNeed {
  const where = `pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  const amount = (c: V1Container, i: number, kind: string, resource: 'cpu' | 'memory'): number => {
    const field = `${where}: spec.${kind}[${i}].resources`;
    const request = c.resources?.requests?.[resource];
    const limit = c.resources?.limits?.[resource];
    return Math.max(
      request === undefined ? 0 : parseNonNegativeQuantity(request, `${field}.requests.${resource}`),
      limit === undefined ? 0 : parseNonNegativeQuantity(limit, `${field}.limits.${resource}`),
    );
  };
  const total = (resource: 'cpu' | 'memory') => {
    const main = (pod.spec?.containers ?? []).reduce((sum, c, i) => sum + amount(c, i, 'containers', resource), 0);
    const init = Math.max(0, ...(pod.spec?.initContainers ?? []).map((c, i) => amount(c, i, 'initContainers', resource)));
    return Math.max(main, init);
  };
  return { vcpu: total('cpu'), memoryMiB: total('memory') / 2 ** 20 };
}

/** How EKS shows a Fargate pod's size ("0.25vCPU 0.5GB"), used for the pod annotation. */
export function formatFargateSize(size: FargateSize): string {
  return `${size.cpuUnits / 1024}vCPU ${size.memoryMiB / 1024}GB`;
}
