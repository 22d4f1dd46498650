import type { Clock, Timer } from '../controller/clock.js';
import type { Logger } from '../log.js';
import { frontProxyTrust, parseRequestHeaderConfig, type FrontProxyTrust } from './front-proxy.js';

export interface FrontProxyConfigWatcherOptions {
  /** Reads the data of ConfigMap kube-system/extension-apiserver-authentication (undefined when absent). */
  readonly read: () => Promise<Readonly<Record<string, string>> | undefined>;
  readonly log: Logger;
  readonly clock: Clock;
  /** Told every new trust, e.g. to give the server's TLS layer a new CA. */
  readonly onTrust?: (trust: FrontProxyTrust) => void;
  /** How often to re-read; default 30 s. CA rotations on the apiserver side are rare and slow. */
  readonly intervalMs?: number;
}

/**
 * Keeps the front-proxy trust current by re-reading the ConfigMap on a timer (level-triggered: each read
 * replaces the whole state). A failed or malformed read keeps the last good trust, so a flaky apiserver
 * does not lock the HPA out.
 */
export class FrontProxyConfigWatcher {
  private current: FrontProxyTrust | undefined;
  private currentJson = '';
  private problem: string | undefined = 'not read yet';
  private timer: Timer | undefined;
  private stopped = false;

  constructor(private readonly options: FrontProxyConfigWatcherOptions) {}

  /** The trust to verify clients with; undefined until the first successful read. */
  readonly trust = (): FrontProxyTrust | undefined => this.current;

  /** Why there is no trust yet, or undefined once there is. */
  notReadyReason(): string | undefined {
    return this.current ? undefined : this.problem;
  }

  /** Reads once (resolving after the first attempt, whatever its outcome) and keeps re-reading until stopped. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  async refresh(): Promise<void> {
    try {
      const config = parseRequestHeaderConfig(await this.options.read());
      const json = JSON.stringify(config);
      if (json === this.currentJson) return;
      this.current = frontProxyTrust(config);
      this.currentJson = json;
      this.problem = undefined;
      this.options.onTrust?.(this.current);
      this.options.log.info({ allowedNames: config.allowedNames, usernameHeaders: config.usernameHeaders }, 'front-proxy authentication configuration loaded');
    } catch (error) {
      this.problem = (error as Error).message;
      this.options.log.warn(
        { err: error },
        this.current ? 'cannot re-read front-proxy configuration; keeping the previous one' : 'cannot read front-proxy configuration',
      );
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => void this.refresh().finally(() => this.schedule()), this.options.intervalMs ?? 30_000, { unref: true });
  }
}
