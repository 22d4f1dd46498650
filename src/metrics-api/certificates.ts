import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';

/**
 * The serving certificate and its key, and the CA bundle that clients (the aggregator) trust it by; all PEM.
 * `caPem` may hold several CAs while one replaces another; the first is the one that signs. A generated
 * bundle also carries the CA's key, so that the serving certificate can be renewed without changing the CA.
 */
export interface ServingBundle {
  readonly caPem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly caPrivateKeyPem?: string;
}

/** Where the server is reached: the Service that the APIService names, plus names for local runs. */
export interface ServingIdentity {
  readonly serviceName: string;
  readonly namespace: string;
  /** Default cluster.local. */
  readonly clusterDomain?: string;
  /** Default localhost and 127.0.0.1, for the operator run as a local process. */
  readonly extraDnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

export interface RenewalPolicy {
  /** Lifetime of a generated CA and serving certificate; default 3650 and 365 days. */
  readonly caValidityDays?: number;
  readonly certificateValidityDays?: number;
  /** Renew once this fraction of a certificate's lifetime is left; default 1/3 (four months of a year). */
  readonly renewWhenRemaining?: number;
}

/**
 * keep: serve it until `renewAt`. reissue: a new serving certificate from the same CA, so the APIService
 * caBundle (and every replica's trust) stays as it is. regenerate: a new CA too.
 */
export type BundleAssessment = { action: 'keep'; renewAt: Date } | { action: 'reissue'; reason: string } | { action: 'regenerate'; reason: string };

export function servingDnsNames(identity: ServingIdentity): string[] {
  const { serviceName: svc, namespace: ns } = identity;
  const domain = identity.clusterDomain ?? 'cluster.local';
  return [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.${domain}`, ...(identity.extraDnsNames ?? ['localhost'])];
}

function servingIpAddresses(identity: ServingIdentity): readonly string[] {
  return identity.ipAddresses ?? ['127.0.0.1'];
}

/**
 * Creates a fresh CA and a serving certificate it signs. CAs of `previousCaPem` that are still valid stay in
 * the trust bundle after the new one, so replicas still serving a certificate from the old CA are trusted
 * until they pick up the new one.
 */
export async function generateServingBundle(identity: ServingIdentity, now: Date, policy: RenewalPolicy = {}, previousCaPem = ''): Promise<ServingBundle> {
  const ca = await createCertificateAuthority({ commonName: `${identity.serviceName}-ca@${Math.floor(now.getTime() / 1000)}`, now, validityDays: policy.caValidityDays ?? 3650 });
  const stillTrusted = parseCertificates(previousCaPem).filter((c) => c.ca && Date.parse(c.validTo) > now.getTime());
  const caPem = [ca.certificatePem.trim(), ...stillTrusted.map((c) => c.toString().trim())].join('\n') + '\n';
  return issueServing({ caPem, caPrivateKeyPem: ca.privateKeyPem }, ca.certificatePem, identity, now, policy);
}

/** Issues a new serving certificate from the bundle's own CA (its first), keeping the trust bundle as is. */
export async function reissueServingCertificate(bundle: ServingBundle, identity: ServingIdentity, now: Date, policy: RenewalPolicy = {}): Promise<ServingBundle> {
  const signer = parseCertificates(bundle.caPem)[0];
  if (!signer || !bundle.caPrivateKeyPem) throw new Error('serving certificate: the stored bundle has no CA key to renew with');
  return issueServing({ caPem: bundle.caPem, caPrivateKeyPem: bundle.caPrivateKeyPem }, signer.toString(), identity, now, policy);
}

async function issueServing(ca: { caPem: string; caPrivateKeyPem: string }, signerPem: string, identity: ServingIdentity, now: Date, policy: RenewalPolicy): Promise<ServingBundle> {
  const serving = await issueServerCertificate(
    { certificatePem: signerPem, privateKeyPem: ca.caPrivateKeyPem },
    {
      commonName: `${identity.serviceName}.${identity.namespace}.svc`,
      dnsNames: servingDnsNames(identity),
      ipAddresses: [...servingIpAddresses(identity)],
      now,
      validityDays: policy.certificateValidityDays ?? 365,
    },
  );
  return { caPem: ca.caPem, caPrivateKeyPem: ca.caPrivateKeyPem, certificatePem: serving.certificatePem, privateKeyPem: serving.privateKeyPem };
}

/**
 * Decides what to do with a stored bundle. The serving certificate must parse, match its key, be signed by
 * the bundle's first CA, name every host of the identity, and not be in the last `renewWhenRemaining` of its
 * lifetime; otherwise it is reissued from the same CA when that CA (with its key) has life left, and the whole
 * bundle is regenerated when it has not. Pure: the clock is an argument.
 */
export function assessServingBundle(bundle: ServingBundle | undefined, identity: ServingIdentity, now: Date, policy: RenewalPolicy = {}): BundleAssessment {
  if (!bundle) return { action: 'regenerate', reason: 'no certificate stored' };
  const signer = parseCertificates(bundle.caPem)[0];
  if (!signer?.ca) return { action: 'regenerate', reason: 'stored CA does not parse as a CA certificate' };
  const caRenewAt = renewalTime(signer, policy);
  if (now.getTime() >= caRenewAt) return { action: 'regenerate', reason: `stored CA is due for renewal (expires ${signer.validTo})` };
  const problem = servingProblem(bundle, signer, identity, now, policy);
  if (problem === undefined) return { action: 'keep', renewAt: new Date(Math.min(caRenewAt, leafRenewalTime(bundle, policy))) };
  const canReissue = bundle.caPrivateKeyPem !== undefined && keyMatches(bundle.caPrivateKeyPem, signer);
  return canReissue ? { action: 'reissue', reason: problem } : { action: 'regenerate', reason: `${problem}, and no matching CA key is stored to reissue it` };
}

function servingProblem(bundle: ServingBundle, signer: X509Certificate, identity: ServingIdentity, now: Date, policy: RenewalPolicy): string | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(bundle.certificatePem);
  } catch (error) {
    return `stored certificate does not parse: ${(error as Error).message}`;
  }
  if (!keyMatches(bundle.privateKeyPem, certificate)) return 'stored private key does not belong to the certificate';
  if (!certificate.checkIssued(signer) || !certificate.verify(signer.publicKey)) return 'stored certificate is not signed by the stored CA';
  const missing = missingNames(certificate, identity);
  if (missing.length > 0) return `stored certificate does not cover ${missing.join(', ')}`;
  if (now.getTime() < Date.parse(certificate.validFrom)) return `stored certificate is not valid before ${certificate.validFrom}`;
  const renewAt = renewalTime(certificate, policy);
  if (now.getTime() >= renewAt) return `stored certificate is due for renewal since ${new Date(renewAt).toISOString()} (expires ${certificate.validTo})`;
  return undefined;
}

function leafRenewalTime(bundle: ServingBundle, policy: RenewalPolicy): number {
  return renewalTime(new X509Certificate(bundle.certificatePem), policy);
}

function renewalTime(certificate: X509Certificate, policy: RenewalPolicy): number {
  const from = Date.parse(certificate.validFrom);
  const to = Date.parse(certificate.validTo);
  const remaining = policy.renewWhenRemaining ?? 1 / 3;
  return to - (to - from) * remaining;
}

function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const parsed: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      parsed.push(new X509Certificate(block));
    } catch {
      // A damaged entry is dropped; an empty result makes the caller regenerate.
    }
  }
  return parsed;
}

function keyMatches(privateKeyPem: string, certificate: X509Certificate): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
    return fromKey.equals(certificate.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

function missingNames(certificate: X509Certificate, identity: ServingIdentity): string[] {
  const entries = (certificate.subjectAltName ?? '').split(',').map((s) => s.trim());
  const dns = servingDnsNames(identity).filter((name) => !entries.includes(`DNS:${name}`));
  const ips = servingIpAddresses(identity).filter((ip) => !entries.includes(`IP Address:${ip}`));
  return [...dns, ...ips];
}

/** Where generated bundles are kept so that every replica (and every restart) serves the same CA. */
export interface BundleStore {
  read(): Promise<{ bundle: ServingBundle | undefined; version: string } | undefined>;
  /** Creates the store's object; false when another writer created it first. */
  create(bundle: ServingBundle): Promise<boolean>;
  /** Replaces the bundle if it is still at `version`; false when another writer changed it first. */
  replace(bundle: ServingBundle, version: string): Promise<boolean>;
}

export interface ManagedCertificateOptions {
  readonly store: BundleStore;
  readonly identity: ServingIdentity;
  readonly policy?: RenewalPolicy;
  readonly now: () => Date;
  /** Called with a bundle that differs from the last one applied: reload the server. */
  readonly apply: (bundle: ServingBundle) => Promise<void> | void;
  /**
   * Called after every check with the bundle in use, e.g. to publish the CA in the APIService; idempotent by
   * contract. A failure is logged and retried at the next check rather than stopping the server.
   */
  readonly sync?: (bundle: ServingBundle) => Promise<void>;
  readonly log: Logger;
  /** How often to re-check the store; default 10 minutes (also picks up rotations by other replicas). */
  readonly checkIntervalMs?: number;
}

/**
 * Keeps a generated serving certificate in the store (a Secret) valid. Every replica runs this: each check
 * reads the store, reuses a good bundle, and otherwise writes a new one guarded by the object's version, so
 * two replicas renewing at once converge on whichever write won.
 */
export class ManagedServingCertificate {
  private applied: ServingBundle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: ManagedCertificateOptions) {}

  /** Ensures a valid bundle once and keeps checking in the background; resolves with the bundle in use. */
  async start(): Promise<ServingBundle> {
    this.stopped = false;
    const bundle = await this.ensure();
    this.schedule();
    return bundle;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One level-triggered pass: read, judge, write if needed, apply if changed, then sync. */
  async ensure(): Promise<ServingBundle> {
    const bundle = await this.ensureStored();
    await this.options.sync?.(bundle).catch((error: unknown) => this.options.log.error({ err: error }, 'could not publish the serving CA; will retry at the next check'));
    return bundle;
  }

  private async ensureStored(): Promise<ServingBundle> {
    for (let attempt = 1; ; attempt += 1) {
      const stored = await this.options.store.read();
      const now = this.options.now();
      const verdict = assessServingBundle(stored?.bundle, this.options.identity, now, this.options.policy);
      if (verdict.action === 'keep' && stored?.bundle) {
        await this.applyIfChanged(stored.bundle);
        return stored.bundle;
      }
      const fresh =
        verdict.action === 'reissue' && stored?.bundle
          ? await reissueServingCertificate(stored.bundle, this.options.identity, now, this.options.policy)
          : await generateServingBundle(this.options.identity, now, this.options.policy, stored?.bundle?.caPem);
      const reason = verdict.action === 'keep' ? 'stored bundle unusable' : verdict.reason;
      const written = stored ? await this.options.store.replace(fresh, stored.version) : await this.options.store.create(fresh);
      if (written) {
        this.options.log.info({ reason, newCa: verdict.action !== 'reissue' }, 'issued a new serving certificate');
        await this.applyIfChanged(fresh);
        return fresh;
      }
      if (attempt >= 3) throw new Error(`serving certificate: lost the race to write the store ${attempt} times; giving up for now`);
    }
  }

  private async applyIfChanged(bundle: ServingBundle): Promise<void> {
    if (sameBundle(this.applied, bundle)) return;
    await this.options.apply(bundle);
    this.applied = bundle;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ensure()
        .catch((error: unknown) => this.options.log.error({ err: error }, 'serving certificate check failed; will retry'))
        .finally(() => this.schedule());
    }, this.options.checkIntervalMs ?? 600_000);
    this.timer.unref();
  }
}

export interface CertificateFiles {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  /** Optional CA to publish in the APIService (cert-manager's ca.crt); without it the CA is managed elsewhere. */
  readonly caFile?: string;
}

export interface FileCertificateOptions {
  readonly files: CertificateFiles;
  readonly apply: (bundle: ServingBundle) => Promise<void> | void;
  readonly log: Logger;
  /** How often to re-read the files; default 10 s. Polling also sees Secret volume updates (symlink swaps). */
  readonly intervalMs?: number;
}

/**
 * Serves user-provided certificate files (e.g. a cert-manager Secret mounted as a volume) and reloads them
 * when their content changes. A half-written or mismatched pair is skipped until it is whole again.
 */
export class FileServingCertificate {
  private applied: ServingBundle | undefined;
  private timer: NodeJS.Timeout | undefined;
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
    clearTimeout(this.timer);
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
    const [certificatePem, privateKeyPem, caPem] = await Promise.all([readFile(certificateFile, 'utf8'), readFile(privateKeyFile, 'utf8'), caFile ? readFile(caFile, 'utf8') : Promise.resolve('')]);
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
    this.timer = setTimeout(() => {
      void this.reload().finally(() => this.schedule());
    }, this.options.intervalMs ?? 10_000);
    this.timer.unref();
  }
}

function sameBundle(a: ServingBundle | undefined, b: ServingBundle): boolean {
  // The CA key is not compared: it changes nothing about what is served or trusted.
  return a !== undefined && a.certificatePem === b.certificatePem && a.privateKeyPem === b.privateKeyPem && a.caPem === b.caPem;
}
