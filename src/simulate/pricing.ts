import { billedSeconds, fargatePricing, usageFor, type PodResources, type PricingRates } from '../virtual-node/cost/metering.js';

/*
 * What capacity costs in the simulation. Burst pods are billed with the virtual node's own metering (per second,
 * one-minute minimum) after rounding their size up the way EKS on Fargate does; nodes are billed per second
 * (with a minimum) or per started hour for as long as they exist.
 */

export { fargatePricing, type PodResources, type PricingRates };

/** Memory EKS adds to every Fargate pod for kubelet, kube-proxy and containerd. */
const fargateOverheadGiB = 0.25;

/** Fargate's vCPU sizes with the memory (GiB) each allows, from the smallest. */
const fargateSizes: readonly { vcpu: number; memoryGiB: readonly number[] }[] = [
  { vcpu: 0.25, memoryGiB: [0.5, 1, 2] },
  { vcpu: 0.5, memoryGiB: range(1, 4, 1) },
  { vcpu: 1, memoryGiB: range(2, 8, 1) },
  { vcpu: 2, memoryGiB: range(4, 16, 1) },
  { vcpu: 4, memoryGiB: range(8, 30, 1) },
  { vcpu: 8, memoryGiB: range(16, 60, 4) },
  { vcpu: 16, memoryGiB: range(32, 120, 8) },
];

function range(from: number, to: number, step: number): number[] {
  return Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
}

/**
 * The size a pod is billed at on Fargate: requests plus the 256 MiB overhead, rounded up to the cheapest valid
 * vCPU/memory combination that holds both. Undefined when the pod is larger than any Fargate size.
 */
export function fargateBilledSize(requested: PodResources): PodResources | undefined {
  const memory = requested.memoryGiB + fargateOverheadGiB;
  let best: PodResources | undefined;
  for (const size of fargateSizes) {
    if (size.vcpu < requested.vcpu - 1e-9) continue;
    const fit = size.memoryGiB.find((m) => m >= memory - 1e-9);
    if (fit === undefined) continue;
    const candidate = { vcpu: size.vcpu, memoryGiB: fit };
    if (!best || price(candidate) < price(best)) best = candidate;
  }
  return best;
}

function price(size: PodResources): number {
  return size.vcpu * fargatePricing.vcpuHour + size.memoryGiB * fargatePricing.gibHour;
}

/** Dollars for one burst pod that ran `runMs` at `size` (already rounded). */
export function burstPodCost(size: PodResources, runMs: number, rates: PricingRates): number {
  return usageFor(size, billedSeconds(runMs, rates), rates).dollars;
}

export interface NodePricing {
  pricePerHour: number;
  /** `second`: per second with `minimumSeconds`; `hour`: every started hour in full. */
  billing: 'second' | 'hour';
  minimumSeconds: number;
}

/** Dollars for one node that existed `lifetimeMs`, from the request to the cloud until it was removed. */
export function nodeCost(lifetimeMs: number, pricing: NodePricing): number {
  if (pricing.billing === 'hour') return Math.max(1, Math.ceil(lifetimeMs / 3_600_000 - 1e-9)) * pricing.pricePerHour;
  const seconds = Math.max(Math.ceil(Math.max(0, lifetimeMs) / 1000 - 1e-9), pricing.minimumSeconds);
  return (seconds * pricing.pricePerHour) / 3600;
}
