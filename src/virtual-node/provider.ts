import type { Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';

// The contract between the virtual node and whatever actually runs pods (a simulation, local processes, ECS
// Fargate, and later others such as Azure Container Instances). The node owns everything that talks
// to Kubernetes: watching pods, writing status, the Node object, its Lease, the kubelet API. A provider only runs
// pods and reports what they are doing, so a new backend is one module that implements `Provider`.
//
// Rules every provider follows:
// - Every method is idempotent and safe to call again after a restart of the node; the node is level-triggered
//   and calls them whenever observed state and desired state differ.
// - A provider never reads the Kubernetes API. Everything a pod needs (env values from Secrets and ConfigMaps,
//   the downward API) is resolved by the node before `createPod`.
// - Status is reported as facts (`ProviderPod`): container states, exit codes, times. The node derives the
//   Kubernetes phase and conditions from them, the same way for every provider.
// - When something about a pod changes, the provider calls the listener given to `watch` so the node can
//   publish the new status without polling; the node still resyncs periodically.

/** Why a container is not running yet, or how it ended. Mirrors core/v1 ContainerState. */
export type ContainerState =
  { readonly kind: 'waiting'; readonly reason: string; readonly message?: string } | { readonly kind: 'running'; readonly startedAt: Date } | TerminatedState;

export interface TerminatedState {
  readonly kind: 'terminated';
  readonly exitCode: number;
  /** "Completed" for exit code 0, "Error" otherwise, or a more precise reason ("OOMKilled", "StartError"). */
  readonly reason: string;
  readonly message?: string;
  readonly startedAt?: Date;
  readonly finishedAt: Date;
}

export interface ProviderContainerStatus {
  readonly name: string;
  readonly image: string;
  /** Provider-specific id, reported as `<provider>://<id>`; absent before the container first starts. */
  readonly containerId?: string;
  readonly state: ContainerState;
  /** The previous run, when the container was restarted. */
  readonly lastTermination?: TerminatedState;
  readonly restartCount: number;
}

/** A pod as the provider runs it. */
export interface ProviderPod {
  readonly namespace: string;
  readonly name: string;
  /** The API object's UID: a pod re-created under the same name is a different pod. */
  readonly uid: string;
  /** When the provider accepted the pod; reported as status.startTime and where billing starts. */
  readonly startTime: Date;
  readonly podIP?: string;
  readonly initContainers: readonly ProviderContainerStatus[];
  readonly containers: readonly ProviderContainerStatus[];
  /** Set when the provider cannot run the pod at all; the pod then fails with this reason and message. */
  readonly failure?: PodFailure;
  /** True once `deletePod` was called: the containers are being (or have been) stopped for good. */
  readonly stopping: boolean;
  /** What the backend bills for this pod, when it differs from the pod's requests (a rounded size, its own prices). */
  readonly billing?: PodBilling;
  /** Facts shown on the pod object as annotations (the size that runs, the backend's id for it). */
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PodBilling {
  readonly vcpu: number;
  readonly memoryGiB: number;
  /** Dollars per vCPU-hour and per GiB-hour for this pod (architecture, spot or on-demand). */
  readonly vcpuHour: number;
  readonly gibHour: number;
}

export interface PodFailure {
  /** CamelCase, like kubelet reasons: "CommandNotFound", "SimulatedFailure", "UnsupportedPodSpec". */
  readonly reason: string;
  readonly message: string;
}

export interface LogOptions {
  /** Keep the stream open and send new output until the container ends or the caller goes away. */
  readonly follow: boolean;
  /** Only the last N lines. */
  readonly tailLines?: number;
  /** Prefix each line with an RFC 3339 timestamp, when the provider knows when the line was written. */
  readonly timestamps: boolean;
  /** Stop after this many bytes. */
  readonly limitBytes?: number;
  /** Read the previous (terminated) run of a restarted container. */
  readonly previous: boolean;
  /** Only lines written at or after this time (sinceSeconds / sinceTime). */
  readonly since?: Date;
  /** Aborted when the caller disconnects; a following stream must end then. */
  readonly signal: AbortSignal;
}

/** Node resources as Kubernetes quantity strings, e.g. { cpu: "1k", memory: "4Ti", pods: "5k" }. */
export interface NodeResources {
  readonly cpu: string;
  readonly memory: string;
  readonly pods: string;
}

export type PodChangeListener = (namespace: string, name: string) => void;

export interface Provider {
  /** Short name; the node's taint is `virtual-kubelet.io/provider=<name>:NoSchedule`. */
  readonly name: string;
  /** True when pods keep running while the node program is stopped and are re-adopted when it starts again. */
  readonly survivesRestart: boolean;

  /** Starts running a pod. Throws `PodSpecError` when the spec can never run here (the pod then fails). */
  createPod(pod: V1Pod): Promise<void>;
  /** Applies the fields Kubernetes lets change on a running pod (images, activeDeadlineSeconds, labels...). */
  updatePod(pod: V1Pod): Promise<void>;
  /**
   * Stops a pod: SIGTERM-like first, forcibly once `gracePeriodSeconds` have passed. Returns at once; the
   * containers report `terminated` when they are down. Unknown pods are ignored.
   */
  deletePod(pod: V1Pod, gracePeriodSeconds: number): Promise<void>;
  /** Forgets a stopped pod for good (logs, state files), once its API object is gone. Unknown pods are ignored. */
  releasePod(namespace: string, name: string): Promise<void>;

  getPod(namespace: string, name: string): Promise<ProviderPod | undefined>;
  listPods(): Promise<readonly ProviderPod[]>;
  /** Throws `PodNotFoundError` when the pod or container is unknown. */
  getContainerLogs(namespace: string, name: string, container: string, options: LogOptions): Promise<Readable>;

  /** Resolves when the backend can run pods; throws with the reason otherwise. Must be cheap: it runs every 10 s. */
  healthCheck(): Promise<void>;
  /** What the backend can hold; the node advertises it unless the operator overrides it. */
  capacity(): NodeResources;
  /** Registers the listener told about every change of a pod's state. Must not block. */
  watch(listener: PodChangeListener): void;
  /** Stops timers; stops the pods too unless `survivesRestart` (then they are re-adopted on the next start). */
  close(): Promise<void>;
}

/** The pod asks for something this provider can never do; retrying will not help. */
export class PodSpecError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'PodSpecError';
  }
}

export class PodNotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'PodNotFoundError';
  }
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
