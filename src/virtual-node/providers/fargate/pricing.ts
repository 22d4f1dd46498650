import type { FargateSize } from './size.js';

// Fargate list prices per vCPU-hour and GB-hour (us-east-1, Linux), by CPU architecture. Spot capacity is
// priced as a share of on-demand because its price moves; the share is a flag.

export type CpuArchitecture = 'X86_64' | 'ARM64';
export type CapacityProvider = 'FARGATE' | 'FARGATE_SPOT';

export interface HourlyRates {
  readonly vcpuHour: number;
  /** Per GB-hour, where Fargate's GB is 1024 MiB. */
  readonly gibHour: number;
}

export const fargateOnDemandRates: Readonly<Record<CpuArchitecture, HourlyRates>> = {
  X86_64: { vcpuHour: 0.04048, gibHour: 0.004445 },
  ARM64: { vcpuHour: 0.03238, gibHour: 0.00356 },
};

export interface FargatePriceOptions {
  /** On-demand rates per architecture; default the us-east-1 list prices. */
  readonly onDemand?: Readonly<Record<CpuArchitecture, HourlyRates>>;
  /** Spot price as a share of on-demand, 0..1. */
  readonly spotShare: number;
}

export function fargateRates(architecture: CpuArchitecture, capacityProvider: CapacityProvider, options: FargatePriceOptions): HourlyRates {
  const base = (options.onDemand ?? fargateOnDemandRates)[architecture];
  const share = capacityProvider === 'FARGATE_SPOT' ? options.spotShare : 1;
  return { vcpuHour: base.vcpuHour * share, gibHour: base.gibHour * share };
}

/** Dollars per hour of a task of `size`. */
export function hourlyPrice(size: FargateSize, rates: HourlyRates): number {
  return (size.cpuUnits / 1024) * rates.vcpuHour + (size.memoryMiB / 1024) * rates.gibHour;
}
