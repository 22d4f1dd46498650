import type { ContainerState, ProviderContainerStatus, ProviderPod, TerminatedState } from '../../provider.js';

// What a pod's containers should do next under its restartPolicy, as the kubelet decides it: init containers one
// after the other, then the app containers; a container that ended is restarted after a doubling back-off unless the
// policy says it stays ended. Functions here see only the pod record and the time they are given, so every decision
// is table-tested; starting, signalling and storing are the supervisor's and the state store's work.

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workingDir?: string;
}

export interface Exit {
  readonly code: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt?: number;
  readonly finishedAt: number;
}

export interface ContainerRun {
  readonly spec: ContainerSpec;
  restartCount: number;
  pid?: number;
  /** /proc start time of pid, so a recycled pid is never mistaken for the container. */
  pidStart?: string;
  startedAt?: number;
  exit?: Exit;
  lastTermination?: Exit;
  restartAt?: number;
  /** The last signal the node sent, to explain an exit that left no recorded status. */
  signalled?: 'SIGTERM' | 'SIGKILL';
}

export interface PodRecord {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly startTime: number;
  readonly restartPolicy: RestartPolicy;
  readonly initContainers: ContainerRun[];
  readonly containers: ContainerRun[];
  stopping?: { readonly deadline: number };
}

/** What the caller does once the records moved on: start these runs now, wake up at these times. */
export interface NextSteps {
  /** True when a record changed and should be stored and reported. */
  readonly changed: boolean;
  readonly start: readonly ContainerRun[];
  readonly wakeAt: readonly { readonly run: ContainerRun; readonly at: number }[];
}

const maxBackoffMs = 300_000;

export function runsOf(pod: PodRecord): ContainerRun[] {
  return [...pod.initContainers, ...pod.containers];
}

/** Delay before restart number restartCount + 1: doubles per restart up to 5 minutes, as the kubelet's. */
export function restartBackoffMs(restartCount: number, firstBackoffMs: number): number {
  return Math.min(maxBackoffMs, firstBackoffMs * 2 ** Math.min(restartCount, 16));
}

/**
 * Decides which containers start now and which wait for their back-off, and records the back-off on the runs that
 * ended. The next init container runs alone; app containers run once every init container succeeded.
 */
export function nextSteps(pod: PodRecord, now: number, firstBackoffMs: number): NextSteps {
  const start: ContainerRun[] = [];
  const wakeAt: { run: ContainerRun; at: number }[] = [];
  let changed = false;
  const step = (run: ContainerRun): void => {
    if (run.exit) {
      run.lastTermination = run.exit;
      run.exit = undefined;
      run.restartAt = now + restartBackoffMs(run.restartCount, firstBackoffMs);
      changed = true;
    }
    if (run.restartAt !== undefined && run.restartAt > now) {
      wakeAt.push({ run, at: run.restartAt });
      return;
    }
    if (run.restartAt !== undefined) {
      run.restartAt = undefined;
      run.restartCount++;
    }
    start.push(run);
    changed = true;
  };
  if (pod.stopping) return { changed, start, wakeAt };
  const pendingInit = pod.initContainers.find((run) => run.exit?.code !== 0);
  if (pendingInit) {
    if (pendingInit.pid === undefined && !(pendingInit.exit && pod.restartPolicy === 'Never')) step(pendingInit);
    return { changed, start, wakeAt };
  }
  for (const run of pod.containers) if (run.pid === undefined && mayRestart(pod.restartPolicy, run.exit?.code)) step(run);
  return { changed, start, wakeAt };
}

function mayRestart(policy: RestartPolicy, exitCode: number | undefined): boolean {
  if (exitCode === undefined) return true;
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/** Marks a pod as stopping; returns the runs whose processes get SIGTERM now. Nothing restarts from here on. */
export function beginStop(pod: PodRecord, now: number, gracePeriodSeconds: number): ContainerRun[] {
  pod.stopping = { deadline: now + Math.max(0, gracePeriodSeconds) * 1000 };
  const signalled: ContainerRun[] = [];
  for (const run of runsOf(pod)) {
    run.restartAt = undefined;
    if (run.pid === undefined) continue;
    run.signalled = 'SIGTERM';
    signalled.push(run);
  }
  return signalled;
}

/** How a run whose process is gone ended: its recorded exit code, else the signal the node sent, else unknown. */
export function exitOf(run: ContainerRun, recordedCode: number | undefined, now: number): Exit {
  const started = run.startedAt ? { startedAt: run.startedAt } : {};
  if (recordedCode !== undefined) return { code: recordedCode, reason: recordedCode === 0 ? 'Completed' : 'Error', finishedAt: now, ...started };
  if (run.signalled) {
    return { code: run.signalled === 'SIGKILL' ? 137 : 143, reason: 'Error', message: `stopped by ${run.signalled}`, finishedAt: now, ...started };
  }
  return { code: 137, reason: 'ContainerStatusUnknown', message: 'the process ended without recording its exit status', finishedAt: now, ...started };
}

/** The pod's status as facts for the node: one state per container, the last termination, a failure to start. */
export function describePod(pod: PodRecord): ProviderPod {
  const initDone = pod.initContainers.every((r) => r.exit?.code === 0);
  const status = (run: ContainerRun, isInit: boolean): ProviderContainerStatus => ({
    name: run.spec.name,
    image: run.spec.image,
    ...(run.startedAt === undefined ? {} : { containerId: `${pod.uid}-${run.spec.name}-${run.restartCount}` }),
    state: containerState(pod, run, isInit || initDone),
    ...(run.lastTermination ? { lastTermination: terminated(run.lastTermination) } : {}),
    restartCount: run.restartCount,
  });
  const commandMissing = runsOf(pod).find((r) => r.exit?.reason === 'StartError');
  return {
    namespace: pod.namespace,
    name: pod.name,
    uid: pod.uid,
    startTime: new Date(pod.startTime),
    // Processes share the host's network.
    podIP: '127.0.0.1',
    initContainers: pod.initContainers.map((r) => status(r, true)),
    containers: pod.containers.map((r) => status(r, false)),
    ...(commandMissing
      ? { failure: { reason: 'CommandNotFound', message: `container "${commandMissing.spec.name}": ${commandMissing.exit?.message ?? ''}` } }
      : {}),
    stopping: pod.stopping !== undefined,
  };
}

export function containerState(pod: PodRecord, run: ContainerRun, mayStart: boolean): ContainerState {
  if (run.pid !== undefined) return { kind: 'running', startedAt: new Date(run.startedAt ?? pod.startTime) };
  if (run.exit) return terminated(run.exit);
  if (run.restartAt !== undefined && !pod.stopping) {
    const seconds = Math.ceil((run.restartAt - (run.lastTermination?.finishedAt ?? run.restartAt)) / 1000);
    return { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${seconds}s restarting container ${run.spec.name}` };
  }
  if (pod.stopping && run.lastTermination) return terminated(run.lastTermination);
  return { kind: 'waiting', reason: mayStart ? 'ContainerCreating' : 'PodInitializing' };
}

/** True when a run will produce no more output in its current attempt: ended for good, or its pod is stopping. */
export function runSettled(pod: PodRecord, run: ContainerRun): boolean {
  return run.pid === undefined && run.restartAt === undefined && (run.exit !== undefined || pod.stopping !== undefined);
}

function terminated(exit: Exit): TerminatedState {
  return {
    kind: 'terminated',
    exitCode: exit.code,
    reason: exit.reason,
    ...(exit.message ? { message: exit.message } : {}),
    ...(exit.startedAt === undefined ? {} : { startedAt: new Date(exit.startedAt) }),
    finishedAt: new Date(exit.finishedAt),
  };
}
