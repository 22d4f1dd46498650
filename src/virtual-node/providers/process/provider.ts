import type { Readable } from 'node:stream';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Clock, Timer } from '../../../controller/clock.js';
import type { Logger } from '../../../log.js';
import { settle } from '../../settle.js';
import {
  podKey,
  PodNotFoundError,
  PodSpecError,
  type LogOptions,
  type NodeResources,
  type PodChangeListener,
  type Provider,
  type ProviderPod,
} from '../../provider.js';
import { readLogFile } from '../log-files.js';
import {
  beginStop,
  describePod,
  exitOf,
  nextSteps,
  runSettled,
  runsOf,
  type ContainerRun,
  type ContainerSpec,
  type PodRecord,
  type RestartPolicy,
} from './restart-policy.js';
import { PodStateStore } from './state-store.js';
import { commandPid, findExecutable, isAlive, isDirectory, launch, recordedExitCode, signal } from './supervisor.js';

// Runs each container's command and args as a local process: no image is pulled, so the command must exist on
// this machine. The processes are started in their own session so they outlive the program, and their state is
// kept on disk: on start the provider re-adopts the processes that still run and records how the others ended.

export interface ProcessProviderOptions {
  readonly stateDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly capacity: NodeResources;
  /** First restart delay of a crashing container; doubles per restart up to 5 minutes (kubelet: 10 s). */
  readonly restartBackoffMs?: number;
  /** How often liveness of adopted processes is checked. */
  readonly pollMs?: number;
}

export class ProcessProvider implements Provider {
  readonly name = 'process';
  readonly survivesRestart = true;
  private readonly pods = new Map<string, PodRecord>();
  /** Pending restart and kill timers, per pod and purpose, so that re-arming the same one is a no-op. */
  private readonly timers = new Map<string, Map<string, { at: number; timer: Timer }>>();
  private closed = false;
  private readonly listeners: PodChangeListener[] = [];
  private poller: Timer | undefined;

  private constructor(
    private readonly options: ProcessProviderOptions,
    private readonly store: PodStateStore,
  ) {}

  /** Opens the state directory and re-adopts the pods recorded there. */
  static open(options: ProcessProviderOptions): ProcessProvider {
    const provider = new ProcessProvider(options, new PodStateStore(options.stateDir));
    for (const pod of provider.store.load(options.log)) provider.pods.set(podKey(pod.namespace, pod.name), pod);
    for (const pod of provider.pods.values()) provider.advance(pod);
    provider.schedulePoll();
    return provider;
  }

  createPod(pod: V1Pod): Promise<void> {
    return settle(() => {
      const { namespace, name, uid } = identity(pod);
      const existing = this.pods.get(podKey(namespace, name));
      if (existing?.uid === uid) return;
      if (existing) this.destroy(existing);
      const where = `pod ${namespace}/${name}`;
      const record: PodRecord = {
        namespace,
        name,
        uid,
        startTime: this.options.clock.now(),
        restartPolicy: (pod.spec?.restartPolicy ?? 'Always') as RestartPolicy,
        initContainers: (pod.spec?.initContainers ?? []).map((c) => ({ spec: containerSpec(c, where), restartCount: 0 })),
        containers: (pod.spec?.containers ?? []).map((c) => ({ spec: containerSpec(c, where), restartCount: 0 })),
      };
      if (record.containers.length === 0) throw new PodSpecError('NoContainers', `${where} has no containers`);
      for (const run of runsOf(record)) checkRunnable(run.spec, where);
      this.store.create(record);
      this.pods.set(podKey(namespace, name), record);
      this.advance(record);
    });
  }

  updatePod(): Promise<void> {
    // Local processes cannot swap their image; nothing else of a running pod maps onto a process.
    return Promise.resolve();
  }

  deletePod(pod: V1Pod, gracePeriodSeconds: number): Promise<void> {
    return settle(() => {
      const { namespace, name, uid } = identity(pod);
      const record = this.pods.get(podKey(namespace, name));
      if (!record || record.uid !== uid || record.stopping) return;
      for (const run of beginStop(record, this.options.clock.now(), gracePeriodSeconds)) {
        if (run.pid !== undefined) this.terminate(record, run, run.pid);
      }
      this.save(record);
      this.advance(record);
    });
  }

  /** SIGTERM to the command itself; its pid is recorded a moment after the start, so wait for it if needed. */
  private terminate(pod: PodRecord, run: ContainerRun, wrapperPid: number): void {
    if (this.closed || run.pid !== wrapperPid || !isAlive({ pid: wrapperPid, pidStart: run.pidStart })) return;
    const pid = commandPid(this.store.exitFile(pod, run.spec.name, run.restartCount), wrapperPid);
    if (pid !== undefined) {
      signal(pid, 'SIGTERM');
      return;
    }
    this.options.clock.setTimeout(() => this.terminate(pod, run, wrapperPid), 20);
  }

  async releasePod(namespace: string, name: string): Promise<void> {
    const record = this.pods.get(podKey(namespace, name));
    if (!record) return;
    this.destroy(record);
    await this.store.remove(record);
  }

  getPod(namespace: string, name: string): Promise<ProviderPod | undefined> {
    const record = this.pods.get(podKey(namespace, name));
    return Promise.resolve(record ? describePod(record) : undefined);
  }

  listPods(): Promise<readonly ProviderPod[]> {
    return Promise.resolve([...this.pods.values()].map(describePod));
  }

  getContainerLogs(namespace: string, name: string, container: string, options: LogOptions): Promise<Readable> {
    return settle(() => {
      const record = this.pods.get(podKey(namespace, name));
      const run = record && runsOf(record).find((r) => r.spec.name === container);
      if (!record || !run) throw new PodNotFoundError(`container ${container} of pod ${namespace}/${name}`);
      const attempt = options.previous ? run.restartCount - 1 : run.restartCount;
      if (attempt < 0) throw new PodNotFoundError(`previous run of container ${container} of pod ${namespace}/${name}`);
      return readLogFile(this.store.logFile(record, container, attempt), {
        follow: options.follow,
        ...(options.tailLines === undefined ? {} : { tailLines: options.tailLines }),
        ...(options.limitBytes === undefined ? {} : { limitBytes: options.limitBytes }),
        finished: () => this.pods.get(podKey(namespace, name)) !== record || run.restartCount !== attempt || runSettled(record, run),
        signal: options.signal,
      });
    });
  }

  async healthCheck(): Promise<void> {
    await this.store.checkWritable();
  }

  capacity(): NodeResources {
    return this.options.capacity;
  }

  watch(listener: PodChangeListener): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    // The processes keep running; the next start re-adopts them.
    this.closed = true;
    this.poller?.cancel();
    for (const timers of this.timers.values()) for (const { timer } of timers.values()) timer.cancel();
    this.timers.clear();
    return Promise.resolve();
  }

  /** Moves a pod forward: records ended processes, starts what should run next, arms restart and kill timers. */
  private advance(pod: PodRecord): void {
    if (this.closed || this.pods.get(podKey(pod.namespace, pod.name)) !== pod) return;
    let changed = false;
    for (const run of runsOf(pod)) changed = this.reap(pod, run) || changed;
    if (pod.stopping) {
      this.armTimer(pod, 'kill', pod.stopping.deadline, () => this.kill(pod));
    } else {
      const steps = nextSteps(pod, this.options.clock.now(), this.options.restartBackoffMs ?? 10_000);
      for (const { run, at } of steps.wakeAt) this.armTimer(pod, `restart:${run.spec.name}`, at, () => this.advance(pod));
      for (const run of steps.start) this.start(pod, run);
      changed = steps.changed || changed;
    }
    if (changed) {
      this.save(pod);
      this.notify(pod);
    }
  }

  private start(pod: PodRecord, run: ContainerRun): void {
    const now = this.options.clock.now();
    const { spec } = run;
    const executable = findExecutable(spec.argv[0] ?? '', spec.env.PATH);
    if (!executable) {
      run.exit = { code: 127, reason: 'StartError', message: `executable "${spec.argv[0] ?? ''}" not found in PATH`, finishedAt: now };
      return;
    }
    const handle = launch({
      executable,
      args: spec.argv.slice(1),
      cwd: spec.workingDir ?? this.store.podDir(pod),
      env: { HOSTNAME: pod.name, ...spec.env },
      logFile: this.store.logFile(pod, spec.name, run.restartCount),
      exitFile: this.store.exitFile(pod, spec.name, run.restartCount),
      onExit: () => this.advance(pod),
      onError: (error) => this.options.log.warn({ pod: podKey(pod.namespace, pod.name), container: spec.name, err: error }, 'container process error'),
    });
    if (!handle) {
      run.exit = { code: 128, reason: 'StartError', message: 'the process could not be started', finishedAt: now };
      return;
    }
    run.pid = handle.pid;
    run.pidStart = handle.pidStart;
    run.startedAt = now;
    run.signalled = undefined;
  }

  /** Records the exit of a run whose process is gone; true when something changed. */
  private reap(pod: PodRecord, run: ContainerRun): boolean {
    if (run.pid === undefined || isAlive({ pid: run.pid, pidStart: run.pidStart })) return false;
    run.exit = exitOf(run, recordedExitCode(this.store.exitFile(pod, run.spec.name, run.restartCount)), this.options.clock.now());
    run.pid = undefined;
    run.pidStart = undefined;
    return true;
  }

  /** The grace period is over: SIGKILL whatever is left, with everything it started. */
  private kill(pod: PodRecord): void {
    for (const run of runsOf(pod)) {
      if (run.pid === undefined || !isAlive({ pid: run.pid, pidStart: run.pidStart })) continue;
      run.signalled = 'SIGKILL';
      signal(-run.pid, 'SIGKILL');
    }
    this.save(pod);
  }

  private armTimer(pod: PodRecord, purpose: string, at: number, action: () => void): void {
    const key = podKey(pod.namespace, pod.name);
    const timers = this.timers.get(key) ?? new Map<string, { at: number; timer: Timer }>();
    this.timers.set(key, timers);
    const existing = timers.get(purpose);
    if (existing?.at === at) return;
    existing?.timer.cancel();
    const timer = this.options.clock.setTimeout(() => {
      timers.delete(purpose);
      action();
    }, at - this.options.clock.now());
    timers.set(purpose, { at, timer });
  }

  private schedulePoll(): void {
    this.poller = this.options.clock.setTimeout(() => {
      for (const pod of this.pods.values()) this.advance(pod);
      this.schedulePoll();
    }, this.options.pollMs ?? 1000);
  }

  private destroy(pod: PodRecord): void {
    const key = podKey(pod.namespace, pod.name);
    for (const { timer } of this.timers.get(key)?.values() ?? []) timer.cancel();
    this.timers.delete(key);
    for (const run of runsOf(pod)) if (run.pid !== undefined && isAlive({ pid: run.pid, pidStart: run.pidStart })) signal(-run.pid, 'SIGKILL');
    this.pods.delete(key);
  }

  private save(pod: PodRecord): void {
    if (this.pods.get(podKey(pod.namespace, pod.name)) === pod) this.store.save(pod);
  }

  private notify(pod: PodRecord): void {
    for (const listener of this.listeners) listener(pod.namespace, pod.name);
  }
}

/** Fails the pod at creation when a command cannot run here, rather than crash-looping it forever. */
function checkRunnable(spec: ContainerSpec, where: string): void {
  if (spec.argv.length === 0) {
    throw new PodSpecError(
      'NoCommand',
      `${where}: container "${spec.name}" has no command; the process provider runs spec.containers[].command locally and cannot run an image's entrypoint`,
    );
  }
  const command = spec.argv[0] ?? '';
  if (!findExecutable(command, spec.env.PATH)) {
    throw new PodSpecError(
      'CommandNotFound',
      `${where}: container "${spec.name}": executable "${command}" not found in PATH (images are not pulled; the command must exist on the node)`,
    );
  }
  if (spec.workingDir !== undefined && !isDirectory(spec.workingDir)) {
    throw new PodSpecError('WorkingDirNotFound', `${where}: container "${spec.name}": workingDir "${spec.workingDir}" does not exist on the node`);
  }
}

function containerSpec(container: V1Container, where: string): ContainerSpec {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  for (const variable of container.env ?? []) {
    if (variable.valueFrom) {
      throw new PodSpecError('UnresolvedEnv', `${where}: container "${container.name}": env ${variable.name} uses valueFrom, which the node did not resolve`);
    }
    env[variable.name] = variable.value ?? '';
  }
  return {
    name: container.name,
    image: container.image ?? '',
    argv: [...(container.command ?? []), ...(container.args ?? [])],
    env,
    ...(container.workingDir ? { workingDir: container.workingDir } : {}),
  };
}

function identity(pod: V1Pod): { namespace: string; name: string; uid: string } {
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' };
}
