import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Clock, Timer } from '../../controller/clock.js';
import { settle } from '../settle.js';
import type { Logger } from '../../log.js';
import {
  podKey,
  PodNotFoundError,
  PodSpecError,
  type ContainerState,
  type LogOptions,
  type NodeResources,
  type PodChangeListener,
  type Provider,
  type ProviderContainerStatus,
  type ProviderPod,
  type TerminatedState,
} from '../provider.js';
import { readLogFile } from './log-files.js';

// Runs each container's command and args as a local process: no image is pulled, so the command must exist on
// this machine. Everything needed to carry on after the node program restarts lives in the state directory,
// one folder per pod (pod.json, one log file per container run, one exit-code file per run), and the processes
// are started in their own session so they outlive the program: on start it re-adopts the processes that still
// run and records how the others ended.

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

type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workingDir?: string;
}

interface Exit {
  readonly code: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt?: number;
  readonly finishedAt: number;
}

interface ContainerRun {
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

interface StoredPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly startTime: number;
  readonly restartPolicy: RestartPolicy;
  readonly initContainers: ContainerRun[];
  readonly containers: ContainerRun[];
  stopping?: { readonly deadline: number };
}

const maxBackoffMs = 300_000;
// Starts the command, records its pid (the node sends SIGTERM to it directly, as a container runtime signals a
// container's first process) and its exit status next to the logs, so the status is known even when nobody
// was watching the process end.
const wrapperScript = [
  'exit_file=$1; shift',
  '"$@" &',
  'echo $! > "$exit_file.pid"',
  'wait $!; code=$?',
  'echo "$code" > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"',
  // As when a container's first process ends: whatever it left behind in its process group goes too.
  'kill -KILL 0',
].join('\n');

export class ProcessProvider implements Provider {
  readonly name = 'process';
  readonly survivesRestart = true;
  private readonly pods = new Map<string, StoredPod>();
  /** Pending restart and kill timers, per pod and purpose, so that re-arming the same one is a no-op. */
  private readonly timers = new Map<string, Map<string, { at: number; timer: Timer }>>();
  private closed = false;
  private readonly listeners: PodChangeListener[] = [];
  private poller: Timer | undefined;

  private constructor(private readonly options: ProcessProviderOptions) {}

  /** Opens the state directory and re-adopts the pods recorded there. */
  static open(options: ProcessProviderOptions): ProcessProvider {
    // Absolute, because the wrapper writes exit files from inside each container's working directory.
    const provider = new ProcessProvider({ ...options, stateDir: resolve(options.stateDir) });
    mkdirSync(provider.podsDir(), { recursive: true });
    for (const entry of readdirSync(provider.podsDir())) {
      const file = join(provider.podsDir(), entry, 'pod.json');
      if (!existsSync(file)) continue;
      try {
        const pod = JSON.parse(readFileSync(file, 'utf8')) as StoredPod;
        provider.pods.set(podKey(pod.namespace, pod.name), pod);
      } catch (error) {
        options.log.warn({ file, err: error }, 'ignoring unreadable pod state');
      }
    }
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
      const stored: StoredPod = {
        namespace,
        name,
        uid,
        startTime: this.options.clock.now(),
        restartPolicy: (pod.spec?.restartPolicy ?? 'Always') as RestartPolicy,
        initContainers: (pod.spec?.initContainers ?? []).map((c) => ({ spec: containerSpec(c, where), restartCount: 0 })),
        containers: (pod.spec?.containers ?? []).map((c) => ({ spec: containerSpec(c, where), restartCount: 0 })),
      };
      if (stored.containers.length === 0) throw new PodSpecError('NoContainers', `${where} has no containers`);
      for (const run of [...stored.initContainers, ...stored.containers]) this.checkRunnable(run.spec, where);
      mkdirSync(this.podDir(stored), { recursive: true });
      this.pods.set(podKey(namespace, name), stored);
      this.advance(stored);
    });
  }

  updatePod(): Promise<void> {
    // Local processes cannot swap their image; nothing else of a running pod maps onto a process.
    return Promise.resolve();
  }

  deletePod(pod: V1Pod, gracePeriodSeconds: number): Promise<void> {
    return settle(() => {
      const { namespace, name, uid } = identity(pod);
      const stored = this.pods.get(podKey(namespace, name));
      if (!stored || stored.uid !== uid || stored.stopping) return;
      stored.stopping = { deadline: this.options.clock.now() + Math.max(0, gracePeriodSeconds) * 1000 };
      for (const run of runs(stored)) {
        run.restartAt = undefined;
        if (run.pid === undefined) continue;
        run.signalled = 'SIGTERM';
        this.terminate(stored, run, run.pid);
      }
      this.save(stored);
      this.advance(stored);
    });
  }

  /** SIGTERM to the command itself; its pid is recorded a moment after the start, so wait for it if needed. */
  private terminate(pod: StoredPod, run: ContainerRun, wrapperPid: number): void {
    if (this.closed || run.pid !== wrapperPid || !isAlive(wrapperPid, run.pidStart)) return;
    const commandPid = readNumber(`${this.exitFile(pod, run.spec.name, run.restartCount)}.pid`);
    if (commandPid !== undefined && procStat(commandPid)?.[1] === String(wrapperPid)) {
      signal(commandPid, 'SIGTERM');
      return;
    }
    this.options.clock.setTimeout(() => this.terminate(pod, run, wrapperPid), 20);
  }

  async releasePod(namespace: string, name: string): Promise<void> {
    const stored = this.pods.get(podKey(namespace, name));
    if (!stored) return;
    this.destroy(stored);
    await rm(this.podDir(stored), { recursive: true, force: true });
  }

  getPod(namespace: string, name: string): Promise<ProviderPod | undefined> {
    const stored = this.pods.get(podKey(namespace, name));
    return Promise.resolve(stored ? this.report(stored) : undefined);
  }

  listPods(): Promise<readonly ProviderPod[]> {
    return Promise.resolve([...this.pods.values()].map((p) => this.report(p)));
  }

  getContainerLogs(namespace: string, name: string, container: string, options: LogOptions): Promise<Readable> {
    return settle(() => {
      const stored = this.pods.get(podKey(namespace, name));
      const run = stored && runs(stored).find((r) => r.spec.name === container);
      if (!stored || !run) throw new PodNotFoundError(`container ${container} of pod ${namespace}/${name}`);
      const attempt = options.previous ? run.restartCount - 1 : run.restartCount;
      if (attempt < 0) throw new PodNotFoundError(`previous run of container ${container} of pod ${namespace}/${name}`);
      return readLogFile(this.logFile(stored, container, attempt), {
        follow: options.follow,
        ...(options.tailLines === undefined ? {} : { tailLines: options.tailLines }),
        ...(options.limitBytes === undefined ? {} : { limitBytes: options.limitBytes }),
        finished: () => this.pods.get(podKey(namespace, name)) !== stored || run.restartCount !== attempt || (run.pid === undefined && run.restartAt === undefined && (run.exit !== undefined || stored.stopping !== undefined)),
        signal: options.signal,
      });
    });
  }

  async healthCheck(): Promise<void> {
    await access(this.podsDir(), constants.W_OK);
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
  private advance(pod: StoredPod): void {
    if (this.closed || this.pods.get(podKey(pod.namespace, pod.name)) !== pod) return;
    let changed = false;
    for (const run of runs(pod)) changed = this.reap(pod, run) || changed;
    if (pod.stopping) {
      this.armTimer(pod, 'kill', pod.stopping.deadline, () => this.kill(pod));
    } else {
      changed = this.startDue(pod) || changed;
    }
    if (changed) {
      this.save(pod);
      this.notify(pod);
    }
  }

  /** Starts the next init container, or the app containers once all init containers succeeded. */
  private startDue(pod: StoredPod): boolean {
    for (const run of pod.initContainers) {
      if (run.exit?.code === 0) continue;
      if (run.pid !== undefined) return false;
      if (run.exit && pod.restartPolicy === 'Never') return false;
      return this.startOrWait(pod, run);
    }
    let changed = false;
    for (const run of pod.containers) {
      if (run.pid !== undefined) continue;
      const exitCode = run.exit?.code;
      if (exitCode !== undefined && (pod.restartPolicy === 'Never' || (pod.restartPolicy === 'OnFailure' && exitCode === 0))) continue;
      changed = this.startOrWait(pod, run) || changed;
    }
    return changed;
  }

  /** Starts a container now, or once its restart back-off has passed; true when its state changed. */
  private startOrWait(pod: StoredPod, run: ContainerRun): boolean {
    const now = this.options.clock.now();
    let changed = false;
    if (run.exit) {
      // Crashed or finished and due for a restart: back off first, as the kubelet does.
      run.lastTermination = run.exit;
      run.exit = undefined;
      run.restartAt = now + Math.min(maxBackoffMs, (this.options.restartBackoffMs ?? 10_000) * 2 ** Math.min(run.restartCount, 16));
      changed = true;
    }
    if (run.restartAt !== undefined && run.restartAt > now) {
      this.armTimer(pod, `restart:${run.spec.name}`, run.restartAt, () => this.advance(pod));
      return changed;
    }
    if (run.restartAt !== undefined) {
      run.restartAt = undefined;
      run.restartCount++;
    }
    this.start(pod, run);
    return true;
  }

  private start(pod: StoredPod, run: ContainerRun): void {
    const now = this.options.clock.now();
    const { spec } = run;
    const executable = findExecutable(spec.argv[0] ?? '', spec.env.PATH);
    if (!executable) {
      run.exit = { code: 127, reason: 'StartError', message: `executable "${spec.argv[0] ?? ''}" not found in PATH`, finishedAt: now };
      return;
    }
    const exitFile = this.exitFile(pod, spec.name, run.restartCount);
    rmSync(exitFile, { force: true });
    rmSync(`${exitFile}.pid`, { force: true });
    const out = openSync(this.logFile(pod, spec.name, run.restartCount), 'a');
    try {
      const child = spawn('/bin/sh', ['-c', wrapperScript, 'swell-container', exitFile, executable, ...spec.argv.slice(1)], {
        cwd: spec.workingDir ?? this.podDir(pod),
        env: { HOSTNAME: pod.name, ...spec.env },
        stdio: ['ignore', out, out],
        detached: true,
      });
      child.unref();
      child.on('error', (error) => this.options.log.warn({ pod: podKey(pod.namespace, pod.name), container: spec.name, err: error }, 'container process error'));
      child.on('exit', () => setImmediate(() => this.advance(pod)));
      if (child.pid === undefined) {
        run.exit = { code: 128, reason: 'StartError', message: 'the process could not be started', finishedAt: now };
        return;
      }
      run.pid = child.pid;
      run.pidStart = processStartTime(child.pid);
      run.startedAt = now;
      run.signalled = undefined;
    } finally {
      closeSync(out);
    }
  }

  /** Records the exit of a run whose process is gone; true when something changed. */
  private reap(pod: StoredPod, run: ContainerRun): boolean {
    if (run.pid === undefined || isAlive(run.pid, run.pidStart)) return false;
    const code = readNumber(this.exitFile(pod, run.spec.name, run.restartCount));
    const now = this.options.clock.now();
    const startedAt = run.startedAt;
    if (code !== undefined) {
      run.exit = { code, reason: code === 0 ? 'Completed' : 'Error', finishedAt: now, ...(startedAt ? { startedAt } : {}) };
    } else if (run.signalled) {
      const code = run.signalled === 'SIGKILL' ? 137 : 143;
      run.exit = { code, reason: 'Error', message: `stopped by ${run.signalled}`, finishedAt: now, ...(startedAt ? { startedAt } : {}) };
    } else {
      run.exit = { code: 137, reason: 'ContainerStatusUnknown', message: 'the process ended without recording its exit status', finishedAt: now, ...(startedAt ? { startedAt } : {}) };
    }
    run.pid = undefined;
    run.pidStart = undefined;
    return true;
  }

  /** The grace period is over: SIGKILL whatever is left, with everything it started. */
  private kill(pod: StoredPod): void {
    for (const run of runs(pod)) {
      if (run.pid === undefined || !isAlive(run.pid, run.pidStart)) continue;
      run.signalled = 'SIGKILL';
      signal(-run.pid, 'SIGKILL');
    }
    this.save(pod);
  }

  private report(pod: StoredPod): ProviderPod {
    const initDone = pod.initContainers.every((r) => r.exit?.code === 0);
    const status = (run: ContainerRun, isInit: boolean): ProviderContainerStatus => ({
      name: run.spec.name,
      image: run.spec.image,
      ...(run.startedAt === undefined ? {} : { containerId: `${pod.uid}-${run.spec.name}-${run.restartCount}` }),
      state: this.stateOf(pod, run, isInit || initDone),
      ...(run.lastTermination ? { lastTermination: terminated(run.lastTermination) } : {}),
      restartCount: run.restartCount,
    });
    const commandMissing = runs(pod).find((r) => r.exit?.reason === 'StartError');
    return {
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      startTime: new Date(pod.startTime),
      // Processes share the host's network.
      podIP: '127.0.0.1',
      initContainers: pod.initContainers.map((r) => status(r, true)),
      containers: pod.containers.map((r) => status(r, false)),
      ...(commandMissing ? { failure: { reason: 'CommandNotFound', message: `container "${commandMissing.spec.name}": ${commandMissing.exit?.message ?? ''}` } } : {}),
      stopping: pod.stopping !== undefined,
    };
  }

  private stateOf(pod: StoredPod, run: ContainerRun, mayStart: boolean): ContainerState {
    if (run.pid !== undefined) return { kind: 'running', startedAt: new Date(run.startedAt ?? pod.startTime) };
    if (run.exit) return terminated(run.exit);
    if (run.restartAt !== undefined && !pod.stopping) {
      const seconds = Math.ceil((run.restartAt - (run.lastTermination?.finishedAt ?? run.restartAt)) / 1000);
      return { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${seconds}s restarting container ${run.spec.name}` };
    }
    if (pod.stopping && run.lastTermination) return terminated(run.lastTermination);
    return { kind: 'waiting', reason: mayStart ? 'ContainerCreating' : 'PodInitializing' };
  }

  /** Fails the pod at creation when a command cannot run here, rather than crash-looping it forever. */
  private checkRunnable(spec: ContainerSpec, where: string): void {
    if (spec.argv.length === 0) {
      throw new PodSpecError(
        'NoCommand',
        `${where}: container "${spec.name}" has no command; the process provider runs spec.containers[].command locally and cannot run an image's entrypoint`,
      );
    }
    const command = spec.argv[0] ?? '';
    if (!findExecutable(command, spec.env.PATH)) {
      throw new PodSpecError('CommandNotFound', `${where}: container "${spec.name}": executable "${command}" not found in PATH (images are not pulled; the command must exist on the node)`);
    }
    if (spec.workingDir !== undefined && !isDirectory(spec.workingDir)) {
      throw new PodSpecError('WorkingDirNotFound', `${where}: container "${spec.name}": workingDir "${spec.workingDir}" does not exist on the node`);
    }
  }

  private armTimer(pod: StoredPod, purpose: string, at: number, action: () => void): void {
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

  private destroy(pod: StoredPod): void {
    const key = podKey(pod.namespace, pod.name);
    for (const { timer } of this.timers.get(key)?.values() ?? []) timer.cancel();
    this.timers.delete(key);
    for (const run of runs(pod)) if (run.pid !== undefined && isAlive(run.pid, run.pidStart)) signal(-run.pid, 'SIGKILL');
    this.pods.delete(key);
  }

  private save(pod: StoredPod): void {
    if (this.pods.get(podKey(pod.namespace, pod.name)) !== pod) return;
    const file = join(this.podDir(pod), 'pod.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(pod));
    renameSync(`${file}.tmp`, file);
  }

  private notify(pod: StoredPod): void {
    for (const listener of this.listeners) listener(pod.namespace, pod.name);
  }

  private podsDir(): string {
    return join(this.options.stateDir, 'pods');
  }

  private podDir(pod: { namespace: string; name: string }): string {
    return join(this.podsDir(), `${pod.namespace}_${pod.name}`);
  }

  private logFile(pod: StoredPod, container: string, attempt: number): string {
    return join(this.podDir(pod), `${container}.${attempt}.log`);
  }

  private exitFile(pod: StoredPod, container: string, attempt: number): string {
    return join(this.podDir(pod), `${container}.${attempt}.exit`);
  }
}

function runs(pod: StoredPod): ContainerRun[] {
  return [...pod.initContainers, ...pod.containers];
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

/** Resolves a command the way execvp does: a path containing "/" as is, a bare name through PATH. */
export function findExecutable(command: string, pathVariable: string | undefined): string | undefined {
  if (command === '') return undefined;
  const candidates = command.includes('/') ? [command] : (pathVariable ?? '').split(delimiter).filter(isAbsolute).map((dir) => join(dir, command));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined where there is no /proc. */
function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): [state, ppid, ...]. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function isAlive(pid: number, startTime: string | undefined): boolean {
  const stat = procStat(pid);
  if (stat) return stat[0] !== 'Z' && (startTime === undefined || stat[19] === startTime);
  if (existsSync('/proc/self/stat')) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function readNumber(file: string): number | undefined {
  try {
    const code = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isNaN(code) ? undefined : code;
  } catch {
    return undefined;
  }
}

function identity(pod: V1Pod): { namespace: string; name: string; uid: string } {
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' };
}
