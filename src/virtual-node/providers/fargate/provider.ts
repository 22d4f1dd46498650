import { Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ECSClient,
  type RunTaskCommandInput,
  type Task,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { backoffDelayMs } from '../../../controller/backoff.js';
import type { Clock, Timer } from '../../../controller/clock.js';
import type { Logger } from '../../../log.js';
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
} from '../../provider.js';
import { fargateCapacity } from './capacity.js';
import { readLogStream } from './logs.js';
import { chunks, describeTasksBatch, Pacer } from './pacing.js';
import { fargateRates, type CapacityProvider, type CpuArchitecture, type FargatePriceOptions, type HourlyRates } from './pricing.js';
import { fargateAnnotations, podPlacement, type TaskPlacement } from './settings.js';
import { formatFargateSize, podNeed, roundToFargateSize, type FargateSize } from './size.js';
import { containerOverrides, logStreamName, renderTaskDefinition } from './task-definition.js';
import { containerState, taskEnded, taskPrivateIp, taskTags, terminatedState } from './task-status.js';

// Runs each pod as an ECS task on Fargate. A pod's spec becomes a task definition (shared by every pod with
// the same spec) and a RunTask call tagged with the pod's identity; one timer describes all tasks in batches
// of 100 and turns their state into container states. Tasks outlive this program: on start, the tasks it
// started (startedBy = node name) are found again by their tags and re-adopted, and the node stops those
// whose pod is gone.

export interface FargateProviderOptions {
  readonly ecs: ECSClient;
  readonly logs: CloudWatchLogsClient;
  readonly clock: Clock;
  readonly log: Logger;
  readonly random: () => number;
  readonly nodeName: string;
  readonly cluster: string;
  readonly region: string;
  readonly logGroup: string;
  /** Defaults for every pod; annotations override them per pod. */
  readonly placement: TaskPlacement;
  /** The account's Fargate vCPU quota: what the node advertises. */
  readonly vcpuQuota: number;
  readonly prices: FargatePriceOptions;
  /** How often all tasks are described. */
  readonly statusIntervalMs: number;
  /** ECS calls per second (token bucket) and burst. */
  readonly callsPerSecond: number;
  readonly callBurst: number;
  /** First delay before a failed RunTask is retried or a stopped task restarted; doubles up to 5 minutes. */
  readonly retryBaseMs?: number;
  /** How often a followed log stream is polled. */
  readonly logPollMs?: number;
}

type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

interface ContainerSpec {
  readonly name: string;
  readonly image: string;
}

interface FargatePod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly restartPolicy: RestartPolicy;
  readonly initContainers: readonly ContainerSpec[];
  readonly containers: readonly ContainerSpec[];
  readonly size: FargateSize;
  readonly rates: HourlyRates;
  readonly acceptedAt: number;
  /** RunTask parameters without the idempotency token; a restart runs the same again. */
  readonly launch: Omit<RunTaskCommandInput, 'clientToken' | 'taskDefinition'>;
  readonly family: string;
  /** The task definition to run; resolved before the first RunTask. */
  taskDefinition?: string;
  /** Number of RunTask calls made for this pod; part of the idempotency token. */
  attempts: number;
  task?: Task;
  previousTask?: Task;
  restartCount: number;
  lastTermination?: Map<string, TerminatedState>;
  launchError?: { readonly reason: string; readonly message: string };
  /** Failed RunTask attempts in a row. */
  launchFailures: number;
  /** Tasks that stopped in a row without running 10 minutes; the restart back-off grows with it. */
  crashes: number;
  /** When the current task was started, to reset the back-off after a long run, as the kubelet does. */
  runningSince?: number;
  retryAt?: number;
  /** The back-off armed last, shown in the CrashLoopBackOff message (which stays the same while it lasts). */
  retryDelayMs?: number;
  retryTimer?: Timer;
  launching: boolean;
  stopping: boolean;
}

/** Tags every task carries, so a restarted node finds its pods again. */
export const taskTagKeys = {
  namespace: 'swell.dev/pod-namespace',
  name: 'swell.dev/pod-name',
  uid: 'swell.dev/pod-uid',
  restartPolicy: 'swell.dev/restart-policy',
  node: 'swell.dev/node',
  /** When the node accepted the pod (ms since the epoch): where billing starts, also after a restart. */
  acceptedAt: 'swell.dev/accepted-at',
} as const;

const maxRetryMs = 300_000;
/** A task that ran this long starts the restart back-off over (kubelet: 10 minutes). */
const backOffResetMs = 600_000;

export class FargateProvider implements Provider {
  readonly name = 'fargate';
  readonly survivesRestart = true;
  private readonly pods = new Map<string, FargatePod>();
  private readonly listeners: PodChangeListener[] = [];
  private readonly definitions = new Map<string, Promise<string>>();
  private readonly pacer: Pacer;
  private statusTimer: Timer | undefined;
  private closed = false;
  /** ECS calls made, by operation, for the API-call report. */
  readonly calls = new Map<string, number>();

  private constructor(private readonly options: FargateProviderOptions) {
    this.pacer = new Pacer({
      clock: options.clock,
      perSecond: options.callsPerSecond,
      burst: options.callBurst,
      maxRetries: 8,
      backoff: { initialMs: 500, maxMs: 30_000 },
      random: options.random,
    });
  }

  /** Finds the tasks this node started before (by tag) and re-adopts them, then starts the status timer. */
  static async open(options: FargateProviderOptions): Promise<FargateProvider> {
    const provider = new FargateProvider(options);
    await provider.adopt();
    provider.scheduleStatus();
    return provider;
  }

  async createPod(pod: V1Pod): Promise<void> {
    const { namespace, name, uid } = identity(pod);
    const existing = this.pods.get(podKey(namespace, name));
    if (existing?.uid === uid) return;
    if (existing) this.forget(existing);
    const fargatePod = this.plan(pod);
    this.pods.set(podKey(namespace, name), fargatePod);
    this.notify(fargatePod);
    await Promise.resolve();
    void this.start(fargatePod);
  }

  /** Everything RunTask needs, decided up front so that a spec Fargate cannot run fails the pod at once. */
  private plan(pod: V1Pod): FargatePod {
    const { namespace, name, uid } = identity(pod);
    const where = `pod ${namespace}/${name}`;
    const need = podNeed(pod);
    const size = roundToFargateSize(need);
    if (!size) {
      throw new PodSpecError(
        'TooLargeForFargate',
        `${where} needs ${need.vcpu} vCPU and ${Math.ceil(need.memoryMiB)} MiB; the largest Fargate task has 16 vCPU and 120 GiB`,
      );
    }
    const placement = podPlacement(pod, this.options.placement);
    const rendered = renderTaskDefinition(pod, {
      size,
      architecture: placement.architecture,
      logGroup: this.options.logGroup,
      region: this.options.region,
      ...(placement.executionRoleArn ? { executionRoleArn: placement.executionRoleArn } : {}),
      ...(placement.taskRoleArn ? { taskRoleArn: placement.taskRoleArn } : {}),
    });
    const family = rendered.family;
    if (!this.definitions.has(family)) this.definitions.set(family, this.ensureTaskDefinition(family, rendered.input));
    const restartPolicy = (pod.spec?.restartPolicy ?? 'Always') as RestartPolicy;
    const overrides = containerOverrides(pod);
    const acceptedAt = this.options.clock.now();
    return {
      namespace,
      name,
      uid,
      restartPolicy,
      initContainers: (pod.spec?.initContainers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
      containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
      size,
      rates: fargateRates(placement.architecture, placement.capacityProvider ?? 'FARGATE', this.options.prices),
      acceptedAt,
      family,
      launch: {
        cluster: this.options.cluster,
        ...(placement.capacityProvider
          ? { capacityProviderStrategy: [{ capacityProvider: placement.capacityProvider, weight: 1 }] }
          : { launchType: 'FARGATE' as const }),
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: [...placement.subnets],
            securityGroups: [...placement.securityGroups],
            assignPublicIp: placement.assignPublicIp ? 'ENABLED' : 'DISABLED',
          },
        },
        ...(overrides.length > 0 ? { overrides: { containerOverrides: overrides } } : {}),
        startedBy: startedBy(this.options.nodeName),
        enableExecuteCommand: false,
        tags: [
          { key: taskTagKeys.namespace, value: namespace },
          { key: taskTagKeys.name, value: name },
          { key: taskTagKeys.uid, value: uid },
          { key: taskTagKeys.restartPolicy, value: restartPolicy },
          { key: taskTagKeys.node, value: this.options.nodeName },
          { key: taskTagKeys.acceptedAt, value: String(acceptedAt) },
        ],
      },
      attempts: 0,
      restartCount: 0,
      launchFailures: 0,
      crashes: 0,
      launching: false,
      stopping: false,
    };
  }

  /** Reuses the family's registration when it exists (same family, same content), else registers it. */
  private async ensureTaskDefinition(family: string, input: RegisterTaskDefinitionCommand['input']): Promise<string> {
    try {
      const found = await this.call('DescribeTaskDefinition', () => this.options.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: family })));
      const arn = found.taskDefinition?.taskDefinitionArn;
      if (arn && found.taskDefinition?.status === 'ACTIVE') return arn;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ClientException') throw error;
    }
    const registered = await this.call('RegisterTaskDefinition', () => this.options.ecs.send(new RegisterTaskDefinitionCommand(input)));
    const arn = registered.taskDefinition?.taskDefinitionArn;
    if (!arn) throw new Error(`RegisterTaskDefinition of ${family} returned no ARN`);
    this.options.log.info({ family, arn }, 'registered task definition');
    return arn;
  }

  /** Runs a task for the pod; failures are shown on the pod and retried with back-off, as a kubelet retries. */
  private async start(pod: FargatePod): Promise<void> {
    if (pod.launching || this.closed) return;
    pod.launching = true;
    const key = podKey(pod.namespace, pod.name);
    try {
      pod.taskDefinition ??= await this.taskDefinitionFor(pod);
      if (this.pods.get(key) !== pod || pod.stopping) return;
      pod.attempts++;
      const result = await this.call('RunTask', () =>
        this.options.ecs.send(new RunTaskCommand({ ...pod.launch, taskDefinition: pod.taskDefinition, clientToken: `${pod.uid}-${pod.attempts}` })),
      );
      const task = result.tasks?.[0];
      if (!task?.taskArn) {
        const failures = (result.failures ?? []).map((f) => [f.reason, f.detail].filter(Boolean).join(': ')).join('; ');
        throw new RunTaskFailure(failures || 'RunTask started no task and reported no failure');
      }
      if (this.pods.get(key) !== pod || pod.stopping) {
        // Deleted while RunTask was in flight: the task must not outlive its pod.
        await this.stopTask(task.taskArn, `pod ${key} was deleted while its task started`);
        return;
      }
      pod.task = task;
      pod.launchError = undefined;
      pod.launchFailures = 0;
      pod.runningSince = this.options.clock.now();
      this.options.log.info({ pod: key, task: task.taskArn, size: formatFargateSize(pod.size) }, 'task started');
    } catch (error) {
      const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
      pod.launchError = { reason: 'RunTaskFailed', message: `RunTask failed: ${message}` };
      pod.launchFailures++;
      this.options.log.warn({ pod: key, message }, 'RunTask failed; will retry');
      this.retryLater(pod, pod.launchFailures);
    } finally {
      pod.launching = false;
      this.notify(pod);
    }
  }

  private taskDefinitionFor(pod: FargatePod): Promise<string> {
    const pending = this.definitions.get(pod.family);
    if (!pending) throw new Error(`no task definition planned for ${pod.family}`);
    // A failed registration is tried again by the next attempt, not cached.
    pending.catch(() => this.definitions.get(pod.family) === pending && this.definitions.delete(pod.family));
    return pending;
  }

  /** Arms the next attempt after the `attempt`-th failure in a row. */
  private retryLater(pod: FargatePod, attempt: number): void {
    const delay = backoffDelayMs(attempt - 1, { initialMs: this.options.retryBaseMs ?? 10_000, maxMs: maxRetryMs }, this.options.random);
    this.armRetry(pod, delay);
  }

  private armRetry(pod: FargatePod, delayMs: number): void {
    pod.retryTimer?.cancel();
    pod.retryAt = this.options.clock.now() + delayMs;
    pod.retryDelayMs = delayMs;
    pod.retryTimer = this.options.clock.setTimeout(() => {
      pod.retryTimer = undefined;
      pod.retryAt = undefined;
      if (pod.task && !taskEnded(pod.task)) return;
      if (pod.task) {
        pod.previousTask = pod.task;
        pod.task = undefined;
        pod.restartCount++;
      }
      void this.start(pod);
    }, delayMs);
  }

  updatePod(): Promise<void> {
    // A running task cannot change its definition; a new spec means a new pod.
    return Promise.resolve();
  }

  async deletePod(pod: V1Pod): Promise<void> {
    const { namespace, name, uid } = identity(pod);
    const fargatePod = this.pods.get(podKey(namespace, name));
    if (!fargatePod || fargatePod.uid !== uid || fargatePod.stopping) return;
    fargatePod.stopping = true;
    fargatePod.retryTimer?.cancel();
    fargatePod.retryAt = undefined;
    const task = fargatePod.task;
    // ECS gives each container the stopTimeout its task definition got from terminationGracePeriodSeconds.
    if (task?.taskArn && !taskEnded(task)) {
      const stopped = await this.stopTask(task.taskArn, `pod ${namespace}/${name} deleted`);
      if (stopped && fargatePod.task?.taskArn === stopped.taskArn) fargatePod.task = stopped;
    }
    this.notify(fargatePod);
  }

  private async stopTask(taskArn: string, reason: string): Promise<Task | undefined> {
    const result = await this.call('StopTask', () => this.options.ecs.send(new StopTaskCommand({ cluster: this.options.cluster, task: taskArn, reason })));
    return result.task;
  }

  releasePod(namespace: string, name: string): Promise<void> {
    const pod = this.pods.get(podKey(namespace, name));
    if (pod) this.forget(pod);
    return Promise.resolve();
  }

  getPod(namespace: string, name: string): Promise<ProviderPod | undefined> {
    const pod = this.pods.get(podKey(namespace, name));
    return Promise.resolve(pod ? this.report(pod) : undefined);
  }

  listPods(): Promise<readonly ProviderPod[]> {
    return Promise.resolve([...this.pods.values()].map((p) => this.report(p)));
  }

  getContainerLogs(namespace: string, name: string, container: string, options: LogOptions): Promise<Readable> {
    const pod = this.pods.get(podKey(namespace, name));
    if (!pod || ![...pod.initContainers, ...pod.containers].some((c) => c.name === container)) {
      return Promise.reject(new PodNotFoundError(`container ${container} of pod ${namespace}/${name}`));
    }
    const task = options.previous ? pod.previousTask : pod.task;
    if (options.previous && !task) return Promise.reject(new PodNotFoundError(`previous run of container ${container} of pod ${namespace}/${name}`));
    if (!task?.taskArn) return Promise.resolve(Readable.from([]));
    const taskArn = task.taskArn;
    return Promise.resolve(
      readLogStream(
        {
          logs: this.options.logs,
          pacer: this.pacer,
          clock: this.options.clock,
          logGroup: this.options.logGroup,
          logStream: logStreamName(container, taskArn),
          ended: () => {
            const current = this.pods.get(podKey(namespace, name));
            const now = current?.task?.taskArn === taskArn ? current.task : undefined;
            return !now || taskEnded(now);
          },
          pollMs: this.options.logPollMs ?? 2000,
        },
        options,
      ),
    );
  }

  async healthCheck(): Promise<void> {
    const result = await this.call('DescribeClusters', () => this.options.ecs.send(new DescribeClustersCommand({ clusters: [this.options.cluster] })));
    const cluster = result.clusters?.[0];
    if (cluster?.status !== 'ACTIVE') {
      throw new Error(`ECS cluster ${this.options.cluster} is ${cluster?.status ?? 'not found'} in ${this.options.region}`);
    }
  }

  capacity(): NodeResources {
    return fargateCapacity(this.options.vcpuQuota);
  }

  watch(listener: PodChangeListener): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    // Tasks keep running; the next start re-adopts them.
    this.closed = true;
    this.statusTimer?.cancel();
    for (const pod of this.pods.values()) pod.retryTimer?.cancel();
    return Promise.resolve();
  }

  private report(pod: FargatePod): ProviderPod {
    const now = new Date(this.options.clock.now());
    const task = pod.task;
    const backingOff = pod.retryAt !== undefined && task !== undefined && taskEnded(task);
    const status = (spec: ContainerSpec): ProviderContainerStatus => {
      let state: ContainerState;
      if (!task) {
        state =
          pod.launchError && !pod.stopping
            ? { kind: 'waiting', ...pod.launchError }
            : pod.stopping
              ? { kind: 'terminated', exitCode: 0, reason: 'Completed', finishedAt: now }
              : { kind: 'waiting', reason: 'ContainerCreating' };
      } else if (backingOff && !pod.stopping) {
        const seconds = Math.ceil((pod.retryDelayMs ?? 0) / 1000);
        state = { kind: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${seconds}s restarting the task of container ${spec.name}` };
      } else {
        state = containerState(task, spec.name, now);
      }
      const previous = backingOff && task ? terminatedState(task, spec.name, now) : pod.lastTermination?.get(spec.name);
      return {
        name: spec.name,
        image: spec.image,
        ...(task?.taskArn ? { containerId: `${taskId(task.taskArn)}/${spec.name}` } : {}),
        state,
        ...(previous ? { lastTermination: previous } : {}),
        restartCount: pod.restartCount + (backingOff ? 1 : 0),
      };
    };
    const podIP = task ? taskPrivateIp(task) : undefined;
    return {
      namespace: pod.namespace,
      name: pod.name,
      uid: pod.uid,
      startTime: new Date(pod.acceptedAt),
      ...(podIP ? { podIP } : {}),
      initContainers: pod.initContainers.map(status),
      containers: pod.containers.map(status),
      stopping: pod.stopping,
      billing: { vcpu: pod.size.cpuUnits / 1024, memoryGiB: pod.size.memoryMiB / 1024, vcpuHour: pod.rates.vcpuHour, gibHour: pod.rates.gibHour },
      annotations: {
        [fargateAnnotations.capacityProvisioned]: formatFargateSize(pod.size),
        ...(task?.taskArn ? { [fargateAnnotations.taskArn]: task.taskArn } : {}),
      },
    };
  }

  private scheduleStatus(): void {
    if (this.closed) return;
    this.statusTimer = this.options.clock.setTimeout(() => {
      void this.refreshStatus()
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'DescribeTasks failed'))
        .finally(() => this.scheduleStatus());
    }, this.options.statusIntervalMs);
  }

  /** One pass over every live task, 100 per DescribeTasks call. */
  async refreshStatus(): Promise<void> {
    const byArn = new Map<string, FargatePod>();
    for (const pod of this.pods.values()) if (pod.task?.taskArn && !taskEnded(pod.task)) byArn.set(pod.task.taskArn, pod);
    for (const batch of chunks([...byArn.keys()], describeTasksBatch)) {
      const result = await this.describe(batch);
      for (const task of result.tasks) {
        const pod = task.taskArn ? byArn.get(task.taskArn) : undefined;
        if (pod) this.observe(pod, task);
      }
      for (const arn of result.missing) {
        const pod = byArn.get(arn);
        if (pod?.task)
          this.observe(pod, {
            ...pod.task,
            lastStatus: 'STOPPED',
            stoppedReason: 'the task is no longer known to ECS',
            stoppedAt: new Date(this.options.clock.now()),
          });
      }
    }
  }

  private async describe(arns: string[]): Promise<{ tasks: Task[]; missing: string[] }> {
    const result = await this.call('DescribeTasks', () =>
      this.options.ecs.send(new DescribeTasksCommand({ cluster: this.options.cluster, tasks: arns, include: ['TAGS'] })),
    );
    return { tasks: result.tasks ?? [], missing: (result.failures ?? []).filter((f) => f.reason === 'MISSING' && f.arn).map((f) => f.arn ?? '') };
  }

  /** Records a task's latest state; a stopped task of a pod that should keep running is replaced after a back-off. */
  private observe(pod: FargatePod, task: Task): void {
    const before = pod.task;
    if (this.pods.get(podKey(pod.namespace, pod.name)) !== pod || before?.taskArn !== task.taskArn) return;
    pod.task = task;
    if (fingerprint(before) === fingerprint(task)) return;
    if (taskEnded(task) && !pod.stopping && this.shouldRestart(pod, task)) {
      pod.lastTermination = this.terminations(pod, task);
      this.crashed(pod);
    }
    this.notify(pod);
  }

  private crashed(pod: FargatePod): void {
    const now = this.options.clock.now();
    if (pod.runningSince !== undefined && now - pod.runningSince >= backOffResetMs) pod.crashes = 0;
    pod.crashes++;
    this.retryLater(pod, pod.crashes);
  }

  private terminations(pod: FargatePod, task: Task): Map<string, TerminatedState> {
    const now = new Date(this.options.clock.now());
    return new Map([...pod.initContainers, ...pod.containers].map((c) => [c.name, terminatedState(task, c.name, now)]));
  }

  private shouldRestart(pod: FargatePod, task: Task): boolean {
    if (pod.restartPolicy === 'Always') return true;
    if (pod.restartPolicy === 'Never') return false;
    const now = new Date(this.options.clock.now());
    return pod.containers.some((c) => terminatedState(task, c.name, now).exitCode !== 0);
  }

  /**
   * The tasks this node started, running or recently stopped, grouped by pod UID: the newest becomes the pod's
   * task, so a pod that finished while the node was down is not run again.
   */
  private async adopt(): Promise<void> {
    const arns: string[] = [];
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      let nextToken: string | undefined;
      do {
        const page = await this.call('ListTasks', () =>
          this.options.ecs.send(
            new ListTasksCommand({
              cluster: this.options.cluster,
              startedBy: startedBy(this.options.nodeName),
              desiredStatus,
              ...(nextToken ? { nextToken } : {}),
            }),
          ),
        );
        arns.push(...(page.taskArns ?? []));
        nextToken = page.nextToken;
      } while (nextToken);
    }
    const tasks: Task[] = [];
    for (const batch of chunks([...new Set(arns)], describeTasksBatch)) tasks.push(...(await this.describe(batch)).tasks);
    const byPod = new Map<string, Task[]>();
    for (const task of tasks) {
      const tags = taskTags(task);
      const uid = tags.get(taskTagKeys.uid);
      if (!uid || tags.get(taskTagKeys.node) !== this.options.nodeName) continue;
      byPod.set(uid, [...(byPod.get(uid) ?? []), task]);
    }
    for (const podTasks of byPod.values()) {
      podTasks.sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
      const adopted = await this.adoptPod(podTasks);
      if (!adopted) continue;
      const key = podKey(adopted.namespace, adopted.name);
      const other = this.pods.get(key);
      // Two pods of one name: the newer one is the pod; the older one's task is stopped by the node as an orphan.
      if (other && other.acceptedAt > adopted.acceptedAt) continue;
      this.pods.set(key, adopted);
      const task = adopted.task;
      if (task && taskEnded(task) && !adopted.stopping && this.shouldRestart(adopted, task)) {
        adopted.lastTermination = this.terminations(adopted, task);
        this.crashed(adopted);
      }
    }
    this.options.log.info({ tasks: tasks.length, pods: this.pods.size }, 're-adopted tasks started by this node');
  }

  private async adoptPod(tasks: readonly Task[]): Promise<FargatePod | undefined> {
    const task = tasks[tasks.length - 1];
    if (!task?.taskDefinitionArn) return undefined;
    const tags = taskTags(task);
    const definition = await this.describeDefinition(task.taskDefinitionArn);
    if (!definition) return undefined;
    const containers = definition.containerDefinitions ?? [];
    const architecture: CpuArchitecture = definition.runtimePlatform?.cpuArchitecture === 'ARM64' ? 'ARM64' : 'X86_64';
    const capacityProvider: CapacityProvider = task.capacityProviderName === 'FARGATE_SPOT' ? 'FARGATE_SPOT' : 'FARGATE';
    const size = { cpuUnits: Number(definition.cpu ?? task.cpu ?? 256), memoryMiB: Number(definition.memory ?? task.memory ?? 512) };
    const spec = (c: { name?: string; image?: string }) => ({ name: c.name ?? '', image: c.image ?? '' });
    const previous = tasks.length > 1 ? tasks[tasks.length - 2] : undefined;
    const restartPolicy = (tags.get(taskTagKeys.restartPolicy) ?? 'Always') as RestartPolicy;
    const subnetTasks =
      task.attachments
        ?.flatMap((a) => a.details ?? [])
        .filter((d) => d.name === 'subnetId' && d.value)
        .map((d) => d.value ?? '') ?? [];
    const pod: FargatePod = {
      namespace: tags.get(taskTagKeys.namespace) ?? 'default',
      name: tags.get(taskTagKeys.name) ?? '',
      uid: tags.get(taskTagKeys.uid) ?? '',
      restartPolicy,
      initContainers: containers.filter((c) => c.essential === false).map(spec),
      containers: containers.filter((c) => c.essential !== false).map(spec),
      size,
      rates: fargateRates(architecture, capacityProvider, this.options.prices),
      acceptedAt: Number(tags.get(taskTagKeys.acceptedAt)) || (tasks[0]?.createdAt ?? new Date(this.options.clock.now())).getTime(),
      family: definition.family ?? '',
      taskDefinition: task.taskDefinitionArn,
      launch: {
        cluster: this.options.cluster,
        ...(task.capacityProviderName
          ? { capacityProviderStrategy: [{ capacityProvider: task.capacityProviderName, weight: 1 }] }
          : { launchType: 'FARGATE' as const }),
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: subnetTasks.length > 0 ? subnetTasks : [...this.options.placement.subnets],
            securityGroups: [...this.options.placement.securityGroups],
            assignPublicIp: this.options.placement.assignPublicIp ? 'ENABLED' : 'DISABLED',
          },
        },
        ...(task.overrides?.containerOverrides?.length ? { overrides: { containerOverrides: task.overrides.containerOverrides } } : {}),
        startedBy: startedBy(this.options.nodeName),
        enableExecuteCommand: false,
        tags: task.tags ?? [],
      },
      attempts: tasks.length,
      task,
      ...(task.startedAt ? { runningSince: task.startedAt.getTime() } : {}),
      ...(previous ? { previousTask: previous } : {}),
      restartCount: tasks.length - 1,
      launchFailures: 0,
      crashes: 0,
      launching: false,
      stopping: task.desiredStatus === 'STOPPED' && !taskEnded(task),
    };
    return pod;
  }

  private readonly describedDefinitions = new Map<string, Promise<TaskDefinition | undefined>>();

  private describeDefinition(arn: string): Promise<TaskDefinition | undefined> {
    let pending = this.describedDefinitions.get(arn);
    if (!pending) {
      pending = this.call('DescribeTaskDefinition', () => this.options.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }))).then(
        (r) => r.taskDefinition,
      );
      this.describedDefinitions.set(arn, pending);
    }
    return pending;
  }

  private call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    return this.pacer.run(() => {
      this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
      return send();
    });
  }

  private notify(pod: FargatePod): void {
    for (const listener of this.listeners) listener(pod.namespace, pod.name);
  }

  private forget(pod: FargatePod): void {
    pod.retryTimer?.cancel();
    this.pods.delete(podKey(pod.namespace, pod.name));
  }
}

class RunTaskFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunTaskFailure';
  }
}

/** What about a task matters for the pod; equal fingerprints mean nothing to publish. */
function fingerprint(task: Task | undefined): string {
  if (!task) return '';
  return JSON.stringify([
    task.lastStatus,
    task.desiredStatus,
    task.stoppedReason,
    taskPrivateIp(task),
    task.containers?.map((c) => [c.name, c.lastStatus, c.exitCode, c.reason]),
  ]);
}

function taskId(arn: string): string {
  return arn.split('/').pop() ?? arn;
}

/** ECS's startedBy allows letters, digits, hyphens and underscores, up to 128 of them. */
function startedBy(nodeName: string): string {
  return nodeName.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
}

function identity(pod: V1Pod): { namespace: string; name: string; uid: string } {
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' };
}
