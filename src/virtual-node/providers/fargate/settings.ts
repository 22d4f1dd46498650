import type { V1Pod } from '@kubernetes/client-node';
import { PodSpecError } from '../../provider.js';
import type { CapacityProvider, CpuArchitecture } from './pricing.js';

// Where a pod's task runs and as whom: the node's flags, overridden per pod by annotations.

export const fargateAnnotations = {
  subnets: 'swell.dev/fargate-subnets',
  securityGroups: 'swell.dev/fargate-security-groups',
  assignPublicIp: 'swell.dev/fargate-assign-public-ip',
  capacityProvider: 'swell.dev/fargate-capacity-provider',
  architecture: 'swell.dev/fargate-architecture',
  executionRoleArn: 'swell.dev/fargate-execution-role-arn',
  taskRoleArn: 'swell.dev/fargate-task-role-arn',
  /** Written by the node: the task size that runs and is billed, e.g. "0.5vCPU 1GB". */
  capacityProvisioned: 'swell.dev/capacity-provisioned',
  /** Written by the node: the ARN of the pod's current task. */
  taskArn: 'swell.dev/fargate-task-arn',
} as const;

export interface TaskPlacement {
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  readonly assignPublicIp: boolean;
  /** Absent: RunTask with launchType FARGATE; present: a capacity provider strategy of that provider alone. */
  readonly capacityProvider?: CapacityProvider;
  readonly architecture: CpuArchitecture;
  readonly executionRoleArn?: string;
  readonly taskRoleArn?: string;
}

/** The placement for `pod`: each annotation present replaces the node's default; bad values fail the pod. */
export function podPlacement(pod: V1Pod, defaults: TaskPlacement): TaskPlacement {
  const where = `pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  const annotations = pod.metadata?.annotations ?? {};
  const list = (key: string) => annotations[key]?.split(/[\s,]+/).filter(Boolean);
  const subnets = list(fargateAnnotations.subnets) ?? defaults.subnets;
  const securityGroups = list(fargateAnnotations.securityGroups) ?? defaults.securityGroups;
  const publicIp = annotations[fargateAnnotations.assignPublicIp];
  if (publicIp !== undefined && !['true', 'false', 'ENABLED', 'DISABLED'].includes(publicIp)) {
    throw new PodSpecError('InvalidAnnotation', `${where}: annotation ${fargateAnnotations.assignPublicIp} is "${publicIp}"; use true or false`);
  }
  const capacityProvider = annotations[fargateAnnotations.capacityProvider] ?? defaults.capacityProvider;
  if (capacityProvider !== undefined && capacityProvider !== 'FARGATE' && capacityProvider !== 'FARGATE_SPOT') {
    throw new PodSpecError(
      'InvalidAnnotation',
      `${where}: annotation ${fargateAnnotations.capacityProvider} is "${capacityProvider}"; use FARGATE or FARGATE_SPOT`,
    );
  }
  const executionRoleArn = annotations[fargateAnnotations.executionRoleArn] ?? defaults.executionRoleArn;
  const taskRoleArn = annotations[fargateAnnotations.taskRoleArn] ?? defaults.taskRoleArn;
  if (subnets.length === 0) {
    throw new PodSpecError(
      'NoSubnets',
      `${where}: no subnets to run the task in; set --subnets on the virtual node or the ${fargateAnnotations.subnets} annotation`,
    );
  }
  return {
    subnets,
    securityGroups,
    assignPublicIp: publicIp === undefined ? defaults.assignPublicIp : publicIp === 'true' || publicIp === 'ENABLED',
    ...(capacityProvider ? { capacityProvider } : {}),
    architecture: podArchitecture(pod, defaults.architecture, where),
    ...(executionRoleArn ? { executionRoleArn } : {}),
    ...(taskRoleArn ? { taskRoleArn } : {}),
  };
}

/** From the annotation, else the pod's kubernetes.io/arch node selector, else the node's default. */
function podArchitecture(pod: V1Pod, fallback: CpuArchitecture, where: string): CpuArchitecture {
  const annotation = pod.metadata?.annotations?.[fargateAnnotations.architecture];
  const selector = pod.spec?.nodeSelector?.['kubernetes.io/arch'];
  const value = annotation ?? selector;
  if (value === undefined) return fallback;
  if (value === 'X86_64' || value === 'amd64') return 'X86_64';
  if (value === 'ARM64' || value === 'arm64') return 'ARM64';
  throw new PodSpecError('UnsupportedArchitecture', `${where}: architecture "${value}" is not one Fargate runs (amd64/X86_64 or arm64/ARM64)`);
}
