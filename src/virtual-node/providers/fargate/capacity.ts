import type { NodeResources } from '../../provider.js';

/**
 * What a node backed by an account's Fargate vCPU quota can hold: the quota in vCPU, 8 GiB per vCPU (the most
 * memory any Fargate size gives per vCPU) and four pods per vCPU (the smallest task is 0.25 vCPU).
 */
export function fargateCapacity(vcpuQuota: number): NodeResources {
  return { cpu: String(vcpuQuota), memory: `${vcpuQuota * 8}Gi`, pods: String(Math.floor(vcpuQuota * 4)) };
}
