import { createHash } from 'node:crypto';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerDefinition, ContainerOverride, RegisterTaskDefinitionCommandInput } from '@aws-sdk/client-ecs';
import { PodSpecError } from '../../provider.js';
import type { CpuArchitecture } from './pricing.js';
import type { FargateSize } from './size.js';

// A pod becomes a task definition plus per-task overrides. Everything that is the same for every replica of a
// workload (images, commands, ports, size, roles, log settings) goes into the task definition, which is named
// from the owner and a hash of that content, so replicas share one registration. What differs per pod (env
// values, which carry the pod's name and UID through the downward API) goes into RunTask's overrides.

export interface TaskDefinitionSettings {
  readonly size: FargateSize;
  readonly architecture: CpuArchitecture;
  readonly executionRoleArn?: string;
  readonly taskRoleArn?: string;
  readonly logGroup: string;
  readonly region: string;
}

export interface RenderedTaskDefinition {
  readonly family: string;
  /** Hash of everything but the family; equal hashes mean one registration serves both pods. */
  readonly specHash: string;
  readonly input: RegisterTaskDefinitionCommandInput;
}

/** The awslogs stream prefix; a container's stream is `<prefix>/<container>/<task id>`. */
export const logStreamPrefix = 'swell';
/** Fargate's ceiling for a container's stop timeout (SIGTERM to SIGKILL). */
const maxStopTimeoutSeconds = 120;

export function logStreamName(container: string, taskArn: string): string {
  return `${logStreamPrefix}/${container}/${taskArn.split('/').pop() ?? taskArn}`;
}

export function renderTaskDefinition(pod: V1Pod, settings: TaskDefinitionSettings): RenderedTaskDefinition {
  const where = `pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  checkSupported(pod, where);
  const spec = pod.spec;
  const containers = spec?.containers ?? [];
  if (containers.length === 0) throw new PodSpecError('NoContainers', `${where} has no containers`);
  const initContainers = spec?.initContainers ?? [];
  const volumes = podVolumes(pod);
  const stopTimeout = Math.min(maxStopTimeoutSeconds, Math.max(2, spec?.terminationGracePeriodSeconds ?? 30));
  const share = shares(containers, settings.size);
  // Init containers run one after another, and the app containers only once they all succeeded.
  const definitions: ContainerDefinition[] = [
    ...initContainers.map((c, i) => ({
      ...containerDefinition(c, settings, volumes, stopTimeout, { cpu: 0, memoryMiB: Math.floor(settings.size.memoryMiB / 4) }),
      essential: false,
      ...(i > 0 ? { dependsOn: [{ containerName: initContainers[i - 1]?.name ?? '', condition: 'SUCCESS' as const }] } : {}),
    })),
    ...containers.map((c, i) => ({
      ...containerDefinition(c, settings, volumes, stopTimeout, share[i] ?? { cpu: 0, memoryMiB: 6 }),
      essential: true,
      ...(initContainers.length > 0 ? { dependsOn: initContainers.map((init) => ({ containerName: init.name, condition: 'SUCCESS' as const })) } : {}),
    })),
  ];
  const body: Omit<RegisterTaskDefinitionCommandInput, 'family'> = {
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: String(settings.size.cpuUnits),
    memory: String(settings.size.memoryMiB),
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: settings.architecture },
    ...(settings.executionRoleArn ? { executionRoleArn: settings.executionRoleArn } : {}),
    ...(settings.taskRoleArn ? { taskRoleArn: settings.taskRoleArn } : {}),
    containerDefinitions: definitions,
    ...(volumes.size > 0 ? { volumes: [...volumes].map((name) => ({ name })) } : {}),
  };
  const specHash = createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 12);
  const family = familyName(pod, specHash);
  return { family, specHash, input: { family, ...body, tags: [{ key: 'swell.dev/spec-hash', value: specHash }] } };
}

/** Per-container env for RunTask: the node resolved every value, so only literals remain. */
export function containerOverrides(pod: V1Pod): ContainerOverride[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
    .filter((c) => (c.env ?? []).length > 0)
    .map((c) => ({ name: c.name, environment: (c.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' })) }));
}

/** `swell-<namespace>-<owner>-<hash>`, in the characters ECS allows, at most 255 of them. */
export function familyName(pod: V1Pod, specHash: string): string {
  const owner = pod.metadata?.ownerReferences?.find((r) => r.controller)?.name ?? pod.metadata?.name ?? 'pod';
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '-');
  return `swell-${clean(pod.metadata?.namespace ?? 'default')}-${clean(owner)}`.slice(0, 255 - specHash.length - 1) + `-${specHash}`;
}

function containerDefinition(
  c: V1Container,
  settings: TaskDefinitionSettings,
  volumes: ReadonlySet<string>,
  stopTimeout: number,
  share: { cpu: number; memoryMiB: number },
): ContainerDefinition {
  return {
    name: c.name,
    image: c.image ?? '',
    ...(c.command ? { entryPoint: c.command } : {}),
    ...(c.args ? { command: c.args } : {}),
    ...(c.workingDir ? { workingDirectory: c.workingDir } : {}),
    cpu: share.cpu,
    // A soft reservation: containers share the task's memory; the task size is the hard ceiling.
    memoryReservation: Math.max(6, share.memoryMiB),
    portMappings: (c.ports ?? []).map((p) => ({ containerPort: p.containerPort, protocol: p.protocol === 'UDP' ? ('udp' as const) : ('tcp' as const) })),
    mountPoints: (c.volumeMounts ?? [])
      .filter((m) => volumes.has(m.name))
      .map((m) => ({ sourceVolume: m.name, containerPath: m.mountPath, readOnly: m.readOnly ?? false })),
    stopTimeout,
    logConfiguration: {
      logDriver: 'awslogs',
      options: { 'awslogs-group': settings.logGroup, 'awslogs-region': settings.region, 'awslogs-stream-prefix': logStreamPrefix },
    },
  };
}

/** Splits the task's CPU and memory among the app containers in proportion to what each asks for. */
function shares(containers: readonly V1Container[], size: FargateSize): { cpu: number; memoryMiB: number }[] {
  const asked = containers.map((c) => ({
    cpu: c.resources?.requests?.cpu ?? c.resources?.limits?.cpu,
    memory: c.resources?.requests?.memory ?? c.resources?.limits?.memory,
  }));
  const even = 1 / containers.length;
  const weight = (key: 'cpu' | 'memory') => {
    const present = asked.map((a): number => (a[key] === undefined ? 0 : 1));
    const count = present.reduce((a, b) => a + b, 0);
    return present.map((p) => (count === 0 ? even : p / count));
  };
  const cpu = weight('cpu');
  const memory = weight('memory');
  return containers.map((_, i) => ({ cpu: Math.floor(size.cpuUnits * (cpu[i] ?? even)), memoryMiB: Math.floor(size.memoryMiB * (memory[i] ?? even)) }));
}

/** emptyDir volumes become task-scoped volumes; the service account token volume is dropped (no API access). */
function podVolumes(pod: V1Pod): Set<string> {
  const names = new Set<string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.emptyDir) names.add(volume.name);
  }
  return names;
}

function checkSupported(pod: V1Pod, where: string): void {
  const spec = pod.spec;
  if (spec?.hostNetwork) throw new PodSpecError('UnsupportedPodSpec', `${where}: hostNetwork is not available on Fargate`);
  for (const volume of spec?.volumes ?? []) {
    if (volume.emptyDir || isServiceAccountToken(volume.projected?.sources)) continue;
    throw new PodSpecError('UnsupportedVolume', `${where}: volume "${volume.name}" is not an emptyDir; Fargate tasks here get emptyDir volumes only`);
  }
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    if (c.securityContext?.privileged)
      throw new PodSpecError('UnsupportedPodSpec', `${where}: container "${c.name}" is privileged, which Fargate does not allow`);
    for (const port of c.ports ?? []) {
      if (port.hostPort !== undefined && port.hostPort !== port.containerPort) {
        throw new PodSpecError(
          'UnsupportedPodSpec',
          `${where}: container "${c.name}" maps hostPort ${port.hostPort} to ${port.containerPort}; Fargate tasks own their network interface, so only equal ports work`,
        );
      }
    }
  }
}

/** The projected volume Kubernetes adds for API access (token, CA, namespace). */
function isServiceAccountToken(sources: readonly { serviceAccountToken?: unknown; configMap?: unknown; downwardAPI?: unknown }[] | undefined): boolean {
  return sources !== undefined && sources.some((s) => s.serviceAccountToken) && sources.every((s) => s.serviceAccountToken || s.configMap || s.downwardAPI);
}

/** JSON with object keys sorted, so equal content always hashes the same. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
