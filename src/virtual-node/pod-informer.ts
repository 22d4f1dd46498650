import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { CancelTimer, Clock } from './clock.js';
import type { Logger } from '../log.js';

// The pods bound to one node, kept current by list+watch. client-node's ListWatch relists on 410 Gone but
// stops for good on any other error; this wrapper restarts it with exponential back-off and jitter, and also
// re-establishes the watch periodically because a silently dead connection delivers no error at all.

export interface PodInformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly nodeName: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** Told the key of every pod that was added, changed or deleted. */
  readonly onChange: (namespace: string, name: string) => void;
  /** Re-watch this often even without errors; default 5 minutes (jittered). */
  readonly rewatchMs?: number;
}

export class PodInformer {
  private readonly listWatch: ListWatch<V1Pod>;
  private failures = 0;
  private erroredSinceStart = false;
  private stopped = false;
  private restartTimer: CancelTimer | undefined;
  private rewatchTimer: CancelTimer | undefined;
  private resolveSynced: () => void = () => undefined;
  /** Resolves once the first list succeeded and its pods are in the cache. */
  readonly synced: Promise<void>;

  constructor(private readonly options: PodInformerOptions) {
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.listWatch = new ListWatch<V1Pod>('/api/v1/pods', new Watch(options.kubeConfig), () => core.listPodForAllNamespaces({ fieldSelector }), false, undefined, fieldSelector);
    const changed = (pod: V1Pod) => options.onChange(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    this.listWatch.on('add', changed);
    this.listWatch.on('update', changed);
    this.listWatch.on('delete', changed);
    this.listWatch.on('error', (error: unknown) => this.failed(error));
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restartTimer?.();
    this.rewatchTimer?.();
    await this.listWatch.stop();
  }

  get(namespace: string, name: string): V1Pod | undefined {
    return this.listWatch.get(name, namespace);
  }

  list(): readonly V1Pod[] {
    return this.listWatch.list();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.erroredSinceStart = false;
    try {
      await this.listWatch.start();
    } catch (error) {
      this.failed(error);
      return;
    }
    if (this.erroredSinceStart || this.stopped) return;
    this.failures = 0;
    this.resolveSynced();
    const every = this.options.rewatchMs ?? 300_000;
    this.rewatchTimer?.();
    this.rewatchTimer = this.options.clock.setTimer(() => void this.rewatch(), every * (0.75 + Math.random() * 0.5));
  }

  private async rewatch(): Promise<void> {
    if (this.stopped) return;
    await this.listWatch.stop();
    await this.run();
  }

  private failed(error: unknown): void {
    // Stopping the watch ourselves (stop, re-watch, restart) aborts its request; that is not a failure.
    if (this.stopped || (error instanceof Error && error.name === 'AbortError')) return;
    this.erroredSinceStart = true;
    this.failures++;
    const base = Math.min(30_000, 1000 * 2 ** (this.failures - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    this.options.log.warn({ err: error, retryInMs: Math.round(delay), failures: this.failures }, 'pod watch failed; restarting');
    this.restartTimer?.();
    this.rewatchTimer?.();
    this.restartTimer = this.options.clock.setTimer(() => {
      void this.listWatch.stop().then(() => this.run());
    }, delay);
  }
}
