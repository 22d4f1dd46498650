import type { V1Pod } from '@kubernetes/client-node';
import type { Clock, Timer } from '../controller/clock.js';
import { runController } from '../controller/controller.js';
import { ExponentialFailureRateLimiter } from '../controller/rate-limiter.js';
import { WorkQueue } from '../controller/workqueue.js';
import type { CostMeter, PricingRates, Workload } from './cost/metering.js';
import { podResources } from './cost/metering.js';
import { resolveWorkload, type OwnerLookup } from './cost/owner.js';
import { resolvePodEnvironment, type ConfigReader } from './environment.js';
import type { Logger } from '../log.js';
import { buildPodStatus, podStatusChanged, type PodStatusDocument } from './pod-status.js';
import { podKey, PodSpecError, type PodFailure, type Provider, type ProviderContainerStatus, type ProviderPod } from './provider.js';

// Keeps the provider in line with the pods the API binds to this node, and the API in line with what the
// provider reports. Level-triggered: every change (a watch event, a provider notification, the periodic
// resync) only queues the pod's key, and `reconcile` works out what to do from the current state of both sides.

/** The pods bound to this node, as last seen by the watch, by `namespace/name` (an informer's cache). */
export interface PodSource {
  get(key: string): V1Pod | undefined;
  list(): readonly V1Pod[];
}

/** The writes the controller makes to the API. */
export interface PodWriter {
  /** Writes pods/status; returns the pod's new resourceVersion. */
  patchStatus(namespace: string, name: string, status: PodStatusDocument): Promise<string | undefined>;
  /** Deletes the pod object at once (grace period 0) if it still has this UID; a missing pod is not an error. */
  deleteNow(namespace: string, name: string, uid: string): Promise<void>;
  /** Merges annotations into the pod's metadata (facts the provider shows on the pod). */
  annotate?(namespace: string, name: string, annotations: Readonly<Record<string, string>>): Promise<void>;
  /** Records a Warning Event on the pod; never fails the caller. */
  warn?(pod: { namespace: string; name: string; uid: string }, reason: string, message: string): void;
}

export interface PodControllerOptions {
  readonly nodeIP: string;
  readonly provider: Provider;
  readonly pods: PodSource;
  readonly writer: PodWriter;
  readonly config: ConfigReader;
  readonly owners: OwnerLookup;
  readonly meter: CostMeter;
  readonly rates: PricingRates;
  readonly clock: Clock;
  readonly log: Logger;
  /** Every key is reconciled at least this often; default 30 s. */
  readonly resyncMs?: number;
  readonly concurrency?: number;
}

/** A pod deleted from the API while its containers still run gets this long to stop. */
const orphanGracePeriodSeconds = 30;

export class PodController {
  private readonly queue: WorkQueue;
  /** Pods the provider refused for good, by UID: they fail and are never offered again. */
  private readonly rejections = new Map<string, PodFailure>();
  private readonly providerErrors = new Map<string, string>();
  private readonly written = new Map<string, { json: string; resourceVersion: string | undefined }>();
  private readonly workloads = new Map<string, Workload>();
  /** The last problem reported as an Event, per pod UID, so each is reported once. */
  private readonly warned = new Map<string, string>();
  private resyncTimer: Timer | undefined;
  private readonly stopping = new AbortController();
  private workers: Promise<void> | undefined;

  constructor(private readonly options: PodControllerOptions) {
    // A provider error is usually a cloud API hiccup: retry soon, but never wait longer than 30 s.
    this.queue = new WorkQueue({ name: 'virtual-node-pods', clock: options.clock, rateLimiter: new ExponentialFailureRateLimiter(500, 30_000) });
  }

  /** Starts reconciling; call once the pod source has synced, so that no bound pod looks deleted. */
  start(): void {
    this.options.provider.watch((namespace, name) => this.enqueue(namespace, name));
    this.workers = runController({
      name: 'virtual-node-pods',
      queue: this.queue,
      reconcile: (key) => this.reconcile(key),
      workers: this.options.concurrency ?? 4,
      log: this.options.log,
      signal: this.stopping.signal,
      clock: this.options.clock,
    });
    void this.resync();
  }

  /** Stops taking keys and resolves once the reconciles under way have returned. */
  async stop(): Promise<void> {
    this.resyncTimer?.cancel();
    this.stopping.abort();
    await this.workers;
  }

  enqueue(namespace: string, name: string): void {
    this.enqueueKey(podKey(namespace, name));
  }

  enqueueKey(key: string): void {
    this.queue.add(key);
  }

  /** Resolves when no reconcile is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async resync(): Promise<void> {
    try {
      for (const pod of this.options.pods.list()) this.enqueue(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
      for (const pod of await this.options.provider.listPods()) this.enqueue(pod.namespace, pod.name);
    } catch (error) {
      this.options.log.warn({ err: error }, 'resync failed');
    }
    if (!this.stopping.signal.aborted) this.resyncTimer = this.options.clock.setTimeout(() => void this.resync(), this.options.resyncMs ?? 30_000);
  }

  async reconcile(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const pod = this.options.pods.get(key);
    let running = await this.options.provider.getPod(namespace, name);
    if (running && pod && running.uid !== pod.metadata?.uid) {
      // The provider still holds an older pod of the same name: that one is gone from the API.
      await this.cleanUp(running);
      running = await this.options.provider.getPod(namespace, name);
      if (running && running.uid !== pod.metadata?.uid) return;
    }
    if (!pod) {
      if (running) await this.cleanUp(running);
      return;
    }
    if (pod.metadata?.deletionTimestamp) {
      await this.terminate(pod, running);
      return;
    }
    const phase = pod.status?.phase;
    // A pod that ended is never run again, even if the provider forgot it (e.g. across a restart).
    if (!running && (phase === 'Succeeded' || phase === 'Failed')) return;
    if (!running && !this.rejections.has(uid(pod))) running = await this.create(pod);
    await this.publish(pod, running);
  }

  private async create(pod: V1Pod): Promise<ProviderPod | undefined> {
    const { namespace = 'default', name = '' } = pod.metadata ?? {};
    try {
      const resolved = await resolvePodEnvironment(pod, this.options.config, this.options.nodeIP);
      await this.options.provider.createPod(resolved);
      this.providerErrors.delete(uid(pod));
      this.options.log.info({ pod: podKey(namespace, name) }, 'pod started in provider');
      return await this.options.provider.getPod(namespace, name);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof PodSpecError) {
        this.options.log.warn({ pod: podKey(namespace, name), reason: error.reason, message }, 'pod cannot run on this node');
        this.rejections.set(uid(pod), { reason: error.reason, message });
        return undefined;
      }
      // Show why the pod is stuck, then let the queue retry with back-off.
      this.providerErrors.set(uid(pod), message);
      await this.publish(pod, undefined);
      throw error;
    }
  }

  /** Writes the pod's status if it changed, and keeps the cost meter up to date. */
  private async publish(pod: V1Pod, running: ProviderPod | undefined): Promise<void> {
    const { namespace = 'default', name = '' } = pod.metadata ?? {};
    const id = uid(pod);
    const rejection = this.rejections.get(id);
    const providerError = this.providerErrors.get(id);
    const status = buildPodStatus({
      pod,
      ...(running ? { providerPod: running } : {}),
      ...(rejection ? { rejection } : {}),
      ...(providerError ? { providerError } : {}),
      providerName: this.options.provider.name,
      nodeIP: this.options.nodeIP,
      now: new Date(this.options.clock.now()),
    });
    if (running) {
      await this.meter(pod, running, status.phase);
      await this.annotate(pod, running);
      this.warnAbout(pod, running);
    }
    if (!podStatusChanged(pod, status)) return;
    const json = JSON.stringify(status);
    const last = this.written.get(id);
    // The watch may not have delivered our own last write yet; writing the same status again is pointless.
    if (last?.json === json && olderThan(pod.metadata?.resourceVersion, last.resourceVersion)) return;
    const resourceVersion = await this.options.writer.patchStatus(namespace, name, status);
    this.written.set(id, { json, resourceVersion });
  }

  /** Shows the provider's facts about the pod (its billed size, its backend id) as annotations. */
  private async annotate(pod: V1Pod, running: ProviderPod): Promise<void> {
    const wanted = running.annotations ?? {};
    const current = pod.metadata?.annotations ?? {};
    const missing = Object.fromEntries(Object.entries(wanted).filter(([key, value]) => current[key] !== value));
    if (Object.keys(missing).length === 0 || !this.options.writer.annotate) return;
    await this.options.writer.annotate(running.namespace, running.name, missing);
  }

  /** A container held back by the provider (a failed launch, a crash loop) is reported once per reason and message. */
  private warnAbout(pod: V1Pod, running: ProviderPod): void {
    const id = uid(pod);
    const problem =
      running.failure ??
      [...running.initContainers, ...running.containers]
        .map((c) => c.state)
        .find((s): s is Extract<ProviderContainerStatus['state'], { kind: 'waiting' }> => s.kind === 'waiting' && !quietWaitingReasons.has(s.reason));
    if (!problem) return;
    const text = `${problem.reason}: ${problem.message ?? ''}`;
    if (this.warned.get(id) === text) return;
    this.warned.set(id, text);
    this.options.writer.warn?.({ namespace: running.namespace, name: running.name, uid: id }, problem.reason, problem.message ?? problem.reason);
  }

  private async meter(pod: V1Pod, running: ProviderPod, phase: string): Promise<void> {
    const id = uid(pod);
    let workload = this.workloads.get(id);
    if (!workload) {
      workload = await resolveWorkload(pod, this.options.owners);
      this.workloads.set(id, workload);
    }
    const ended = phase === 'Succeeded' || phase === 'Failed';
    const finishedAt = Math.max(
      0,
      ...[...running.initContainers, ...running.containers].map((c) => (c.state.kind === 'terminated' ? c.state.finishedAt.getTime() : 0)),
    );
    let resources;
    try {
      resources = running.billing ?? podResources(pod, this.options.rates);
    } catch (error) {
      this.options.log.warn({ pod: podKey(running.namespace, running.name), err: error }, 'cannot meter pod');
      return;
    }
    this.options.meter.observe({
      uid: id,
      namespace: running.namespace,
      workload,
      resources: { vcpu: resources.vcpu, memoryGiB: resources.memoryGiB },
      ...(running.billing ? { rates: { vcpuHour: running.billing.vcpuHour, gibHour: running.billing.gibHour } } : {}),
      start: running.startTime,
      ...(ended ? { end: new Date(finishedAt || this.options.clock.now()) } : {}),
    });
  }

  /** Graceful deletion: stop within the grace period, report the final status, then remove the object. */
  private async terminate(pod: V1Pod, running: ProviderPod | undefined): Promise<void> {
    const { namespace = 'default', name = '' } = pod.metadata ?? {};
    if (running && hasRunningContainers(running)) {
      const deadline = toMillis(pod.metadata?.deletionTimestamp) ?? this.options.clock.now();
      const remainingSeconds = Math.max(0, Math.ceil((deadline - this.options.clock.now()) / 1000));
      if (!running.stopping) {
        this.options.log.info({ pod: podKey(namespace, name), gracePeriodSeconds: remainingSeconds }, 'stopping pod');
        await this.options.provider.deletePod(pod, remainingSeconds);
        running = await this.options.provider.getPod(namespace, name);
      }
      await this.publish(pod, running);
      // The provider says when the containers are down; this is only a safety net.
      if (running && hasRunningContainers(running)) {
        this.queue.addAfter(podKey(namespace, name), 1000);
        return;
      }
    }
    if (running) await this.publish(pod, running).catch((error: unknown) => this.options.log.debug({ err: error }, 'final status not written'));
    await this.options.writer.deleteNow(namespace, name, uid(pod));
    this.options.log.info({ pod: podKey(namespace, name) }, 'pod deleted');
    if (running) await this.cleanUp(running);
    this.forget(uid(pod));
  }

  /** The pod is gone from the API: stop what still runs, then release it from the provider. */
  private async cleanUp(running: ProviderPod): Promise<void> {
    const { provider } = this.options;
    if (!running.stopping && hasRunningContainers(running)) {
      const pod: V1Pod = { metadata: { namespace: running.namespace, name: running.name, uid: running.uid } };
      this.options.log.info({ pod: podKey(running.namespace, running.name) }, 'stopping pod that is no longer bound to this node');
      await provider.deletePod(pod, orphanGracePeriodSeconds);
      running = (await provider.getPod(running.namespace, running.name)) ?? running;
    }
    if (hasRunningContainers(running)) {
      this.queue.addAfter(podKey(running.namespace, running.name), 1000);
      return;
    }
    this.options.meter.forget(running.uid);
    await provider.releasePod(running.namespace, running.name);
    this.forget(running.uid);
  }

  private forget(id: string): void {
    this.rejections.delete(id);
    this.providerErrors.delete(id);
    this.written.delete(id);
    this.workloads.delete(id);
    this.warned.delete(id);
  }
}

/** Waiting reasons that are progress, not problems. */
const quietWaitingReasons = new Set(['ContainerCreating', 'PodInitializing']);

function hasRunningContainers(pod: ProviderPod): boolean {
  // A restarting container (back-off) counts as running: it would start again unless stopped.
  return [...pod.initContainers, ...pod.containers].some(
    (c) => c.state.kind === 'running' || (!pod.stopping && c.state.kind === 'waiting' && c.state.reason === 'CrashLoopBackOff'),
  );
}

function uid(pod: V1Pod): string {
  return pod.metadata?.uid ?? '';
}

function toMillis(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return new Date(value).getTime();
  return undefined;
}

/** resourceVersions are opaque, but etcd's are increasing integers; when they are not, assume "not older". */
function olderThan(current: string | undefined, written: string | undefined): boolean {
  if (!current || !written || !/^\d+$/.test(current) || !/^\d+$/.test(written)) return false;
  return BigInt(current) < BigInt(written);
}
