import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Clock, Timer } from '../controller/clock.js';
import type { Logger } from '../log.js';
import { keyMatches, sameBundle, type ServingBundle } from './bundle.js';
import type { ServingCertificate } from './managed.js';

export interface CertificateFiles {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  /** Optional CA to publish as a caBundle (cert-manager's ca.crt); without it the CA is managed elsewhere. */
  readonly caFile?: string;
}

export interface FileCertificateOptions {
  readonly files: CertificateFiles;
  readonly apply: (bundle: ServingBundle) => Promise<void> | void;
  readonly log: Logger;
  readonly clock: Clock;
  /** How often to re-read the files; default 10 s. Polling also sees Secret volume updates (symlink swaps). */
  readonly intervalMs?: number;
}

/**
 * Serves user-provided certificate files (e.g. a cert-manager Secret mounted as a volume) and reloads them
 * when their content changes. A half-written or mismatched pair is skipped until it is whole again.
 */
export class FileServingCertificate implements ServingCertificate {
  private applied: ServingBundle | undefined;
  private timer: Timer | undefined;
  private stopped = false;

  constructor(private readonly options: FileCertificateOptions) {}

  async start(): Promise<ServingBundle> {
    this.stopped = false;
    const bundle = await this.load();
    await this.applyIfChanged(bundle);
    this.schedule();
    return bundle;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Re-reads the files once, applying them when they changed; keeps the old pair when the new one is broken. */
  async reload(): Promise<void> {
    try {
      await this.applyIfChanged(await this.load());
    } catch (error) {
      this.options.log.warn({ err: error }, 'cannot reload serving certificate files; keeping the current ones');
    }
  }

  private async load(): Promise<ServingBundle> {
    const { certificateFile, privateKeyFile, caFile } = this.options.files;
    const [certificatePem, privateKeyPem, caPem] = await Promise.all([
      readFile(certificateFile, 'utf8'),
      readFile(privateKeyFile, 'utf8'),
      caFile ? readFile(caFile, 'utf8') : Promise.resolve(''),
    ]);
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(certificatePem);
    } catch (error) {
      throw new Error(`${certificateFile}: not a PEM certificate: ${(error as Error).message}`, { cause: error });
    }
    if (!keyMatches(privateKeyPem, certificate)) throw new Error(`${privateKeyFile}: the private key does not belong to the certificate in ${certificateFile}`);
    return { caPem, certificatePem, privateKeyPem };
  }

  private async applyIfChanged(bundle: ServingBundle): Promise<void> {
    if (sameBundle(this.applied, bundle)) return;
    await this.options.apply(bundle);
    this.applied = bundle;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(
      () => {
        void this.reload().finally(() => this.schedule());
      },
      this.options.intervalMs ?? 10_000,
      { unref: true },
    );
  }
}
