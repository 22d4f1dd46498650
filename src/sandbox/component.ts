import type { Logger } from '../log.js';
import type { Requirement } from './prerequisites.js';

/**
 * The servers `swell dev up` can start, in start order; each one is a real server on 127.0.0.1, except the
 * real node, whose kubelet serves on its pod bridge.
 */
export const componentNames = [
  'kube',
  'node',
  'virtual-node',
  'redis',
  'kafka',
  'sqs',
  'prometheus',
  'prometheus-adapter',
  'aws',
  'postgresql',
  'mysql',
  'rabbitmq',
  'nats',
  'azurite',
  'artemis',
] as const;
export type ComponentName = (typeof componentNames)[number];

export interface SandboxPaths {
  /** Build and download cache shared by every checkout, e.g. ~/.cache/swell. Never inside the repository. */
  readonly cacheDir: string;
  /** Per-sandbox state: data directories, logs, pid files, the env file, e.g. <repo>/.swell/dev. */
  readonly stateDir: string;
  /** The repository root, where tools/ holds the Go and Maven recipes. */
  readonly repoDir: string;
}

export interface ComponentContext {
  readonly paths: SandboxPaths;
  readonly log: Logger;
  /** Reports a human-readable step ("building kube-apiserver (first run takes ~15 min)"). */
  readonly progress: (message: string) => void;
  /** Starts a long-running server process that outlives `swell dev up` and is stopped by `swell dev down`. */
  readonly spawn: (spec: DaemonSpec) => Promise<Daemon>;
  /** Env published by components started earlier in this `up` (kube starts first), e.g. KUBECONFIG. */
  readonly env: Readonly<Record<string, string>>;
}

export interface DaemonSpec {
  /** Unique within the sandbox, e.g. "kube-apiserver"; names the pid file and the log file. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Runs the process as this account (servers that refuse to run as root); unset: as the caller. */
  readonly user?: { readonly uid: number; readonly gid: number };
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** True while the process is alive. */
  alive(): boolean;
}

/** Facts a started component publishes: the env variables tests and users read, and endpoints to print. */
export interface ComponentEndpoints {
  readonly env: Readonly<Record<string, string>>;
  readonly endpoints: Readonly<Record<string, string>>;
}

/**
 * One sandbox server (or a group of them, like the control plane). `install` makes its binaries or jars
 * available in the cache and is a no-op when they already are; `start` runs it on free loopback ports and
 * resolves once it answers; `healthy` tells `up` whether a recorded instance still works.
 */
export interface SandboxComponent {
  readonly name: ComponentName;
  /** The env variables this component publishes; when all are already set, the user's server wins. */
  readonly envVars: readonly string[];
  /**
   * What must be on the machine before `install` or `start` (programs, Debian packages), given what the cache
   * already holds; checked for every named component before any of them builds anything.
   */
  requirements(paths: SandboxPaths): Promise<readonly Requirement[]>;
  install(ctx: ComponentContext): Promise<void>;
  start(ctx: ComponentContext): Promise<ComponentEndpoints>;
  healthy(endpoints: ComponentEndpoints): Promise<boolean>;
  /**
   * Undoes what stopping the daemons alone does not (mounts, network setup on the machine), stopping daemons
   * itself where the order matters. Called before the remaining daemons are stopped, also when nothing was
   * recorded, so it must be a cheap no-op when there is nothing to undo.
   */
  stop?(ctx: StopContext): Promise<void>;
}

export interface StopContext {
  readonly paths: SandboxPaths;
  readonly log: Logger;
  /** Stops one of this sandbox's daemons now; false when it was not running. */
  readonly stopDaemon: (name: string) => Promise<boolean>;
}

/** Thrown when a component fails to start: names it, says why, and carries the tail of its log. */
export class ComponentStartError extends Error {
  constructor(
    readonly component: string,
    reason: string,
    readonly logTail: string = '',
  ) {
    super(`${component} failed to start: ${reason}${logTail ? `\n--- last lines of its log ---\n${logTail}` : ''}`);
    this.name = 'ComponentStartError';
  }
}
