import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import type { Clock } from '../../../controller/clock.js';
import type { Logger } from '../../../log.js';
import { FargateProvider } from './provider.js';
import type { CapacityProvider, CpuArchitecture } from './pricing.js';

// The AWS edge of the Fargate provider: SDK clients with the default credential chain (env, shared config,
// IRSA web identity, EKS Pod Identity), the Region, and an optional endpoint for emulators.

export { FargateProvider, taskTagKeys } from './provider.js';
export type { FargateProviderOptions } from './provider.js';
export { fargateAnnotations } from './settings.js';

export interface FargateConfig {
  readonly region: string;
  readonly cluster: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly assignPublicIp: boolean;
  readonly capacityProvider?: CapacityProvider;
  readonly architecture: CpuArchitecture;
  readonly executionRoleArn?: string;
  readonly taskRoleArn?: string;
  readonly logGroup: string;
  readonly vcpuQuota: number;
  readonly statusIntervalMs: number;
  readonly apiRate: number;
  readonly spotPriceShare: number;
  readonly endpoint?: string;
}

export async function openFargateProvider(config: FargateConfig, nodeName: string, clock: Clock, log: Logger): Promise<FargateProvider> {
  // The SDK retries throttling itself too (adaptive mode adds client-side rate limiting on top of our pacer).
  const clientConfig = { region: config.region, maxAttempts: 5, retryMode: 'adaptive', ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  return FargateProvider.open({
    ecs: new ECSClient(clientConfig),
    logs: new CloudWatchLogsClient(clientConfig),
    clock,
    log,
    random: Math.random,
    nodeName,
    cluster: config.cluster,
    region: config.region,
    logGroup: config.logGroup,
    placement: {
      subnets: config.subnets,
      securityGroups: config.securityGroups,
      assignPublicIp: config.assignPublicIp,
      ...(config.capacityProvider ? { capacityProvider: config.capacityProvider } : {}),
      architecture: config.architecture,
      ...(config.executionRoleArn ? { executionRoleArn: config.executionRoleArn } : {}),
      ...(config.taskRoleArn ? { taskRoleArn: config.taskRoleArn } : {}),
    },
    vcpuQuota: config.vcpuQuota,
    prices: { spotShare: config.spotPriceShare },
    statusIntervalMs: config.statusIntervalMs,
    callsPerSecond: config.apiRate,
    callBurst: config.apiRate * 5,
  });
}
