import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerState, PodFailure, ProviderContainerStatus, ProviderPod, TerminatedState } from './provider.js';

// Turns what a provider reports into the status a kubelet would write to pods/status. Pure: the same inputs
// always give the same status, so "write only when changed" is a comparison of two canonical documents.

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';
type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** The JSON the node sends as pods/status (a strategic merge patch of `status`). Times are RFC 3339 strings. */
export interface PodStatusDocument {
  phase: PodPhase;
  reason?: string;
  message?: string;
  hostIP: string;
  hostIPs: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  conditions: ConditionDocument[];
  initContainerStatuses?: ContainerStatusDocument[];
  containerStatuses: ContainerStatusDocument[];
}

export interface ConditionDocument {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastTransitionTime: string;
}

export interface ContainerStatusDocument {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: StateDocument;
  lastState: StateDocument;
}

interface StateDocument {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt: string; containerID?: string };
}

export interface PodStatusInput {
  readonly pod: V1Pod;
  /** What the provider runs under this pod's UID; absent before creation or when creation failed. */
  readonly providerPod?: ProviderPod;
  /** createPod refused the spec for good. */
  readonly rejection?: PodFailure;
  /** The last transient createPod error, shown while the node retries. */
  readonly providerError?: string;
  readonly providerName: string;
  readonly nodeIP: string;
  readonly now: Date;
}

/** RFC 3339 with whole seconds, which is what the API server stores for metav1.Time. */
export function rfc3339(date: Date): string {
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Phase from container facts, following the kubelet: a container that is waiting without ever having run
 * keeps the pod Pending; a restarting container counts as stopped; stopped containers end the pod according
 * to its restartPolicy, or for good when the pod is being deleted.
 */
export function derivePhase(restartPolicy: RestartPolicy, providerPod: ProviderPod): PodPhase {
  if (providerPod.failure) return 'Failed';
  const init = providerPod.initContainers;
  const initFailed = init.some((c) => lastExit(c) !== undefined && lastExit(c) !== 0);
  const initDone = init.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0);
  if (!initDone) return initFailed && (restartPolicy === 'Never' || providerPod.stopping) ? 'Failed' : 'Pending';

  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let failed = 0;
  for (const container of providerPod.containers) {
    const exit = lastExit(container);
    if (container.state.kind === 'running') running++;
    else if (exit === undefined) waiting++;
    else {
      stopped++;
      if (exit !== 0) failed++;
    }
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  if (providerPod.stopping || restartPolicy === 'Never') return failed > 0 ? 'Failed' : 'Succeeded';
  if (restartPolicy === 'OnFailure' && failed === 0) return 'Succeeded';
  return 'Running';
}

/** Exit code of the container's current or previous run, undefined if it never ended. */
function lastExit(container: ProviderContainerStatus): number | undefined {
  if (container.state.kind === 'terminated') return container.state.exitCode;
  return container.lastTermination?.exitCode;
}

export function buildPodStatus(input: PodStatusInput): PodStatusDocument {
  const { pod, providerPod, now } = input;
  const restartPolicy = (pod.spec?.restartPolicy ?? 'Always') as RestartPolicy;
  const previous = previousConditions(pod);
  const specContainers = pod.spec?.containers ?? [];
  const specInit = pod.spec?.initContainers ?? [];

  let phase: PodPhase;
  let failure: PodFailure | undefined;
  let containers: ContainerStatusDocument[];
  let initContainers: ContainerStatusDocument[];
  if (providerPod) {
    phase = derivePhase(restartPolicy, providerPod);
    failure = providerPod.failure;
    containers = specContainers.map((c) => reportContainer(c, providerPod.containers, input.providerName));
    initContainers = specInit.map((c) => reportContainer(c, providerPod.initContainers, input.providerName));
  } else if (input.rejection) {
    phase = 'Failed';
    failure = input.rejection;
    const ended: TerminatedState = { kind: 'terminated', exitCode: 128, reason: input.rejection.reason, message: input.rejection.message, finishedAt: now };
    containers = specContainers.map((c) => containerDocument(c.name, c.image ?? '', undefined, ended, undefined, 0));
    initContainers = specInit.map((c) => containerDocument(c.name, c.image ?? '', undefined, ended, undefined, 0));
  } else {
    phase = 'Pending';
    const waiting: ContainerState = input.providerError
      ? { kind: 'waiting', reason: 'ProviderFailed', message: input.providerError }
      : { kind: 'waiting', reason: 'ContainerCreating' };
    containers = specContainers.map((c) => containerDocument(c.name, c.image ?? '', undefined, waiting, undefined, 0));
    initContainers = specInit.map((c) => containerDocument(c.name, c.image ?? '', undefined, { kind: 'waiting', reason: 'PodInitializing' }, undefined, 0));
  }

  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const initialized = initContainers.every((c) => c.state.terminated?.exitCode === 0);
  const unready = containers.filter((c) => !c.ready).map((c) => c.name);
  const gatesOpen = (pod.spec?.readinessGates ?? []).every((gate) => previous.get(gate.conditionType)?.status === 'True');
  const condition = (type: string, ok: boolean, reason?: string, message?: string): ConditionDocument => {
    const status = ok ? 'True' : 'False';
    const before = previous.get(type);
    const since = before?.status === status && before.lastTransitionTime ? before.lastTransitionTime : rfc3339(now);
    return { type, status, ...(ok ? {} : { reason, message }), lastTransitionTime: since };
  };
  const unreadyMessage = `containers with unready status: [${unready.join(' ')}]`;
  const containersReady = unready.length === 0 && !terminal;
  const conditions = [
    condition('PodReadyToStartContainers', providerPod !== undefined && !terminal),
    condition(
      'Initialized',
      initialized,
      'ContainersNotInitialized',
      `containers with incomplete status: [${initContainers
        .filter((c) => c.state.terminated?.exitCode !== 0)
        .map((c) => c.name)
        .join(' ')}]`,
    ),
    condition('Ready', containersReady && gatesOpen, ...readyReason(terminal, containersReady, unreadyMessage)),
    condition('ContainersReady', containersReady, terminal ? 'PodCompleted' : 'ContainersNotReady', terminal ? undefined : unreadyMessage),
    condition('PodScheduled', true),
  ];

  const podIP = providerPod?.podIP;
  return {
    phase,
    ...(failure ? { reason: failure.reason, message: failure.message } : {}),
    hostIP: input.nodeIP,
    hostIPs: [{ ip: input.nodeIP }],
    ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
    ...(providerPod ? { startTime: rfc3339(providerPod.startTime) } : previousStartTime(pod)),
    conditions,
    ...(initContainers.length > 0 ? { initContainerStatuses: initContainers } : {}),
    containerStatuses: containers,
  };
}

function readyReason(terminal: boolean, containersReady: boolean, unreadyMessage: string): [string, string | undefined] {
  if (terminal) return ['PodCompleted', undefined];
  if (containersReady) return ['ReadinessGatesNotReady', 'the conditions of the pod readiness gates are not all True'];
  return ['ContainersNotReady', unreadyMessage];
}

function reportContainer(spec: V1Container, reported: readonly ProviderContainerStatus[], providerName: string): ContainerStatusDocument {
  const status = reported.find((c) => c.name === spec.name);
  if (!status) return containerDocument(spec.name, spec.image ?? '', undefined, { kind: 'waiting', reason: 'ContainerCreating' }, undefined, 0);
  const id = status.containerId ? `${providerName}://${status.containerId}` : undefined;
  return containerDocument(spec.name, status.image, id, status.state, status.lastTermination, status.restartCount);
}

function containerDocument(
  name: string,
  image: string,
  containerID: string | undefined,
  state: ContainerState,
  last: TerminatedState | undefined,
  restartCount: number,
): ContainerStatusDocument {
  const running = state.kind === 'running';
  return {
    name,
    image,
    imageID: image,
    ...(containerID ? { containerID } : {}),
    ready: running,
    started: running,
    restartCount,
    state: stateDocument(state, containerID),
    lastState: last ? stateDocument(last, undefined) : {},
  };
}

function stateDocument(state: ContainerState, containerID: string | undefined): StateDocument {
  switch (state.kind) {
    case 'waiting':
      return { waiting: { reason: state.reason, ...(state.message ? { message: state.message } : {}) } };
    case 'running':
      return { running: { startedAt: rfc3339(state.startedAt) } };
    case 'terminated':
      return {
        terminated: {
          exitCode: state.exitCode,
          reason: state.reason,
          ...(state.message ? { message: state.message } : {}),
          ...(state.startedAt ? { startedAt: rfc3339(state.startedAt) } : {}),
          finishedAt: rfc3339(state.finishedAt),
          ...(containerID ? { containerID } : {}),
        },
      };
  }
}

interface PreviousCondition {
  status: string;
  lastTransitionTime?: string;
}

function previousConditions(pod: V1Pod): Map<string, PreviousCondition> {
  const result = new Map<string, PreviousCondition>();
  for (const c of pod.status?.conditions ?? []) {
    result.set(c.type, { status: c.status, lastTransitionTime: timeString(c.lastTransitionTime) });
  }
  return result;
}

function previousStartTime(pod: V1Pod): { startTime?: string } {
  const startTime = timeString(pod.status?.startTime);
  return startTime ? { startTime } : {};
}

/** Informer objects carry times as Date (from a list) or as strings (from a watch event). */
function timeString(value: unknown): string | undefined {
  if (value instanceof Date) return rfc3339(value);
  if (typeof value === 'string' && value !== '') return rfc3339(new Date(value));
  return undefined;
}

/**
 * True when `desired` says something the pod's current status does not. Only the fields the node owns are
 * compared, and in one canonical form, so a status read back from the API equals the one that was written.
 */
export function podStatusChanged(pod: V1Pod, desired: PodStatusDocument): boolean {
  return JSON.stringify(canonical(pod.status)) !== JSON.stringify(canonical(desired));
}

function canonical(status: unknown): unknown {
  const s = (status ?? {}) as Record<string, unknown>;
  const ownConditions = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);
  const conditions = asArray(s.conditions)
    .filter((c) => ownConditions.has(String(c.type)))
    .map((c) => ({ type: c.type, status: c.status, reason: c.reason ?? undefined, message: c.message ?? undefined, at: timeString(c.lastTransitionTime) }))
    .sort((a, b) => String(a.type).localeCompare(String(b.type)));
  return {
    phase: s.phase,
    reason: s.reason ?? undefined,
    message: s.message ?? undefined,
    hostIP: s.hostIP,
    podIP: s.podIP ?? undefined,
    startTime: timeString(s.startTime),
    conditions,
    init: asArray(s.initContainerStatuses).map(canonicalContainer),
    containers: asArray(s.containerStatuses).map(canonicalContainer),
  };
}

function canonicalContainer(c: Record<string, unknown>): unknown {
  return {
    name: c.name,
    image: c.image,
    containerID: c.containerID ?? undefined,
    ready: c.ready,
    started: c.started ?? false,
    restartCount: c.restartCount,
    state: canonicalState(c.state),
    lastState: canonicalState(c.lastState),
  };
}

function canonicalState(state: unknown): unknown {
  const s = (state ?? {}) as Record<string, Record<string, unknown> | undefined>;
  if (s.running) return { running: timeString(s.running.startedAt) };
  if (s.waiting) return { waiting: s.waiting.reason, message: s.waiting.message ?? undefined };
  if (s.terminated) {
    const t = s.terminated;
    return {
      exitCode: t.exitCode,
      reason: t.reason,
      message: t.message ?? undefined,
      startedAt: timeString(t.startedAt),
      finishedAt: timeString(t.finishedAt),
    };
  }
  return {};
}

function asArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
}
