import type { Task } from '@aws-sdk/client-ecs';
import type { ContainerState, TerminatedState } from '../../provider.js';

// What an ECS task's state means for the pod's containers. ECS reports the task's lifecycle (PROVISIONING,
// PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED) and, per container, PENDING,
// RUNNING or STOPPED with an exit code. A container missing from the report follows the task.

const starting = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);

/** The state of container `name` in `task`; `now` stands in for times ECS did not report yet. */
export function containerState(task: Task, name: string, now: Date): ContainerState {
  const container = task.containers?.find((c) => c.name === name);
  const taskStatus = task.lastStatus ?? 'PROVISIONING';
  if (taskStatus === 'STOPPED' || container?.lastStatus === 'STOPPED') return terminatedState(task, name, now);
  if (starting.has(taskStatus)) {
    return { kind: 'waiting', reason: 'ContainerCreating', ...(task.pullStartedAt && !task.pullStoppedAt ? { message: 'pulling image' } : {}) };
  }
  // RUNNING, or on its way down (DEACTIVATING, STOPPING, DEPROVISIONING): the container runs until it is reported stopped.
  return { kind: 'running', startedAt: task.startedAt ?? task.pullStoppedAt ?? task.createdAt ?? now };
}

/**
 * How a container of a stopped task ended. Without an exit code the container never ran (image pull or
 * network setup failed) and the task's stoppedReason says why.
 */
export function terminatedState(task: Task, name: string, now: Date): TerminatedState {
  const container = task.containers?.find((c) => c.name === name);
  const finishedAt = task.stoppedAt ?? task.executionStoppedAt ?? task.stoppingAt ?? now;
  const startedAt = task.startedAt;
  const exitCode = container?.exitCode;
  const message = [container?.reason, task.stoppedReason].filter((m): m is string => Boolean(m)).join('; ');
  if (exitCode === undefined) {
    return {
      kind: 'terminated',
      exitCode: 128,
      reason: startFailureReason(task),
      ...(message ? { message } : {}),
      ...(startedAt ? { startedAt } : {}),
      finishedAt,
    };
  }
  const oom = /OutOfMemory/i.test(container?.reason ?? '');
  return {
    kind: 'terminated',
    exitCode,
    reason: oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
    ...(message ? { message } : {}),
    ...(startedAt ? { startedAt } : {}),
    finishedAt,
  };
}

/** Kubelet-like reasons for a task that stopped before its containers ran. */
function startFailureReason(task: Task): string {
  if (/CannotPull|pull image/i.test(`${task.stoppedReason ?? ''} ${task.containers?.map((c) => c.reason ?? '').join(' ') ?? ''}`)) return 'ErrImagePull';
  if (task.stopCode === 'UserInitiated') return 'Stopped';
  return 'StartError';
}

/** The task's private IPv4 address, from its elastic network interface; undefined until it has one. */
export function taskPrivateIp(task: Task): string | undefined {
  for (const attachment of task.attachments ?? []) {
    if (attachment.type !== 'ElasticNetworkInterface') continue;
    const ip = attachment.details?.find((d) => d.name === 'privateIPv4Address')?.value;
    if (ip) return ip;
  }
  return task.containers?.flatMap((c) => c.networkInterfaces ?? []).find((n) => n.privateIpv4Address)?.privateIpv4Address;
}

/** True once ECS will not run the task any more. */
export function taskEnded(task: Task): boolean {
  return task.lastStatus === 'STOPPED' || task.lastStatus === 'DELETED';
}

/** The tags a task carries, as a map. */
export function taskTags(task: Task): Map<string, string> {
  return new Map((task.tags ?? []).flatMap((t) => (t.key !== undefined && t.value !== undefined ? [[t.key, t.value] as const] : [])));
}
