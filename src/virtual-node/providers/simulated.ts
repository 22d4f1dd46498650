import { Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { Clock, Timer } from '../../controller/clock.js';
import { settle } from '../settle.js';
import { parseDuration } from '../duration.js';
import { rfc3339 } from '../pod-status.js';
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
} from '../provider.js';

// A provider that runs nothing: each pod goes through the states a serverless platform would show, on a
// schedule. It stands in for Fargate or ACI in tests and sandboxes: start latency, bounded run time for
// run-to-completion pods, injected failures. Its state lives in memory; after a restart it re-adopts pods from
// the status the API still holds (see createPod).

/** Per-pod overrides, as pod annotations. */
export const simulationAnnotations = {
  startLatency: 'swell.dev/simulate-start-latency',
  runDuration: 'swell.dev/simulate-run-duration',
  /** "true", or a message: the pod fails once started. */
  failure: 'swell.dev/simulate-failure',
} as const;

export interface SimulatedProviderOptions {
  readonly clock: Clock;
  /** Time from createPod to running containers. */
  readonly startLatencyMs: number;
  /** Each pod waits startLatencyMs plus a random share of this (a 30-60 s spread is what Fargate and ACI show). */
  readonly startLatencySpreadMs?: number;
  /** How long pods with restartPolicy Never/OnFailure (Job pods) run before their containers exit 0; absent: forever. */
  readonly runDurationMs?: number;
  /** Share of pods, 0..1, that fail once started. */
  readonly failureRate: number;
  /** Source of randomness for failureRate; injected so tests decide. */
  readonly random: () => number;
  readonly capacity: NodeResources;
}

interface SimulatedPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly images: { readonly name: string; readonly image: string; readonly init: boolean }[];
  readonly acceptedAt: number;
  readonly startAt: number;
  readonly endAt?: number;
  readonly failure?: string;
  readonly ip: string;
  stoppedAt?: number;
  timers: Timer[];
}

export class SimulatedProvider implements Provider {
  readonly name = 'simulated';
  readonly survivesRestart = false;
  private readonly pods = new Map<string, SimulatedPod>();
  private readonly listeners: PodChangeListener[] = [];
  private nextIp = 1;
  private healthProblem: string | undefined;

  constructor(private readonly options: SimulatedProviderOptions) {}

  createPod(pod: V1Pod): Promise<void> {
    return settle(() => this.accept(pod));
  }

  private accept(pod: V1Pod): void {
    const { namespace, name, uid } = identity(pod);
    const existing = this.pods.get(podKey(namespace, name));
    if (existing?.uid === uid) return;
    if (existing) this.drop(existing);

    const annotations = pod.metadata?.annotations ?? {};
    const where = `pod ${namespace}/${name}: annotation`;
    const latency = durationAnnotation(annotations, simulationAnnotations.startLatency, where) ?? this.defaultLatency();
    const runToCompletion = (pod.spec?.restartPolicy ?? 'Always') !== 'Always';
    const runFor = durationAnnotation(annotations, simulationAnnotations.runDuration, where) ?? (runToCompletion ? this.options.runDurationMs : undefined);
    const failureAnnotation = annotations[simulationAnnotations.failure];
    const failure =
      failureAnnotation !== undefined && failureAnnotation !== 'false'
        ? failureAnnotation === 'true' || failureAnnotation === ''
          ? 'failure requested by annotation'
          : failureAnnotation
        : this.options.random() < this.options.failureRate
          ? `failure injected at rate ${this.options.failureRate}`
          : undefined;

    // A pod the API already reports as started was running before this program restarted: keep its clock.
    const previousStart = pod.status?.startTime ? new Date(pod.status.startTime).getTime() : undefined;
    const now = this.options.clock.now();
    const acceptedAt = previousStart ?? now;
    const startAt = previousStart ?? now + latency;
    const images = [
      ...(pod.spec?.initContainers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', init: true })),
      ...(pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', init: false })),
    ];
    if (images.every((c) => c.init)) throw new PodSpecError('NoContainers', `pod ${namespace}/${name} has no containers`);
    const simulated: SimulatedPod = {
      namespace,
      name,
      uid,
      images,
      acceptedAt,
      startAt,
      ...(runFor === undefined ? {} : { endAt: startAt + runFor }),
      ...(failure ? { failure } : {}),
      ip: pod.status?.podIP ?? this.allocateIp(),
      timers: [],
    };
    this.pods.set(podKey(namespace, name), simulated);
    this.schedule(simulated, [startAt, simulated.endAt]);
    this.notify(simulated);
  }

  updatePod(): Promise<void> {
    return Promise.resolve();
  }

  private defaultLatency(): number {
    const spread = this.options.startLatencySpreadMs ?? 0;
    return this.options.startLatencyMs + (spread > 0 ? Math.round(this.options.random() * spread) : 0);
  }

  deletePod(pod: V1Pod): Promise<void> {
    const { namespace, name, uid } = identity(pod);
    const simulated = this.pods.get(podKey(namespace, name));
    if (!simulated || simulated.uid !== uid || simulated.stoppedAt !== undefined) return Promise.resolve();
    // Simulated containers honour SIGTERM at once.
    simulated.stoppedAt = this.options.clock.now();
    simulated.timers.forEach((timer) => timer.cancel());
    this.notify(simulated);
    return Promise.resolve();
  }

  releasePod(namespace: string, name: string): Promise<void> {
    const simulated = this.pods.get(podKey(namespace, name));
    if (simulated) this.drop(simulated);
    return Promise.resolve();
  }

  getPod(namespace: string, name: string): Promise<ProviderPod | undefined> {
    const simulated = this.pods.get(podKey(namespace, name));
    return Promise.resolve(simulated ? this.report(simulated) : undefined);
  }

  listPods(): Promise<readonly ProviderPod[]> {
    return Promise.resolve([...this.pods.values()].map((p) => this.report(p)));
  }

  getContainerLogs(namespace: string, name: string, container: string, options: LogOptions): Promise<Readable> {
    return settle(() => this.logs(namespace, name, container, options));
  }

  private logs(namespace: string, name: string, container: string, options: LogOptions): Readable {
    const simulated = this.pods.get(podKey(namespace, name));
    const status = simulated ? this.report(simulated) : undefined;
    const containerStatus = status && [...status.containers, ...status.initContainers].find((c) => c.name === container);
    if (!containerStatus) throw new PodNotFoundError(`container ${container} of pod ${namespace}/${name}`);
    const lines: [Date, string][] = [];
    const state = containerStatus.state;
    const started = state.kind === 'running' ? state.startedAt : state.kind === 'terminated' ? state.startedAt : undefined;
    if (started) lines.push([started, `simulated container ${container} of pod ${namespace}/${name} started`]);
    if (state.kind === 'terminated') lines.push([state.finishedAt, `simulated container ${container} exited with code ${state.exitCode}`]);
    const text = (options.tailLines === undefined ? lines : lines.slice(Math.max(0, lines.length - options.tailLines)))
      .map(([at, line]) => `${options.timestamps ? `${rfc3339(at)} ` : ''}${line}\n`)
      .join('');
    return Readable.from(options.limitBytes === undefined ? [text] : [text.slice(0, options.limitBytes)]);
  }

  healthCheck(): Promise<void> {
    return this.healthProblem ? Promise.reject(new Error(this.healthProblem)) : Promise.resolve();
  }

  /** Makes the health check fail with `problem` (or pass again with undefined), to exercise NotReady. */
  setHealthProblem(problem: string | undefined): void {
    this.healthProblem = problem;
  }

  capacity(): NodeResources {
    return this.options.capacity;
  }

  watch(listener: PodChangeListener): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    for (const pod of this.pods.values()) pod.timers.forEach((timer) => timer.cancel());
    this.pods.clear();
    return Promise.resolve();
  }

  private report(pod: SimulatedPod): ProviderPod {
    const now = this.options.clock.now();
    const stopAt = pod.stoppedAt;
    const started = now >= pod.startAt && (stopAt === undefined || stopAt >= pod.startAt);
    const containerState = (): ContainerState => {
      const startedAt = new Date(pod.startAt);
      if (!started) {
        if (stopAt !== undefined) return { kind: 'terminated', exitCode: 0, reason: 'Completed', finishedAt: new Date(stopAt) };
        return { kind: 'waiting', reason: 'ContainerCreating' };
      }
      if (pod.failure) return { kind: 'terminated', exitCode: 1, reason: 'Error', message: pod.failure, startedAt, finishedAt: startedAt };
      const end = Math.min(pod.endAt ?? Infinity, stopAt ?? Infinity);
      if (now >= end) return { kind: 'terminated', exitCode: 0, reason: 'Completed', startedAt, finishedAt: new Date(end) };
      return { kind: 'running', startedAt };
    };
    const initDone: ContainerState = {
      kind: 'terminated',
      exitCode: 0,
      reason: 'Completed',
      startedAt: new Date(pod.acceptedAt),
      finishedAt: new Date(pod.startAt),
    };
    const status = (c: SimulatedPod['images'][number]): ProviderContainerStatus => {
      const state = c.init ? (started ? initDone : { kind: 'waiting' as const, reason: 'PodInitializing' }) : containerState();
      return { name: c.name, image: c.image, ...(started ? { containerId: `${pod.uid}-${c.name}` } : {}), state, restartCount: 0 };
    };
    return {
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      startTime: new Date(pod.acceptedAt),
      podIP: pod.ip,
      initContainers: pod.images.filter((c) => c.init).map(status),
      containers: pod.images.filter((c) => !c.init).map(status),
      ...(pod.failure && started ? { failure: { reason: 'SimulatedFailure', message: pod.failure } } : {}),
      stopping: stopAt !== undefined,
    };
  }

  private schedule(pod: SimulatedPod, times: (number | undefined)[]): void {
    const now = this.options.clock.now();
    for (const at of times) {
      if (at === undefined || at < now) continue;
      pod.timers.push(this.options.clock.setTimeout(() => this.notify(pod), at - now));
    }
  }

  private notify(pod: SimulatedPod): void {
    for (const listener of this.listeners) listener(pod.namespace, pod.name);
  }

  private drop(pod: SimulatedPod): void {
    pod.timers.forEach((timer) => timer.cancel());
    this.pods.delete(podKey(pod.namespace, pod.name));
  }

  /** Pod IPs from 10.250.0.0/16, unique within this provider's lifetime. */
  private allocateIp(): string {
    const n = this.nextIp++;
    return `10.250.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
  }
}

function identity(pod: V1Pod): { namespace: string; name: string; uid: string } {
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' };
}

function durationAnnotation(annotations: Record<string, string>, key: string, where: string): number | undefined {
  const value = annotations[key];
  if (value === undefined) return undefined;
  try {
    return parseDuration(value, `${where} ${key}`);
  } catch (error) {
    throw new PodSpecError('InvalidAnnotation', (error as Error).message);
  }
}
