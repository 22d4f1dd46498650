import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';

/**
 * The serving certificate and its key, and the CA bundle that clients (the aggregator, the apiserver calling
 * webhooks) trust it by; all PEM. `caPem` may hold several CAs while one replaces another; the first is the one
 * that signs. A generated bundle also carries the CA's key, so that the serving certificate can be renewed
 * without changing the CA.
 */
export interface ServingBundle {
  readonly caPem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly caPrivateKeyPem?: string;
}

/** Where the servers are reached: the Services in front of them, plus names for local runs. */
export interface ServingIdentity {
  readonly serviceName: string;
  readonly namespace: string;
  /** Further Services in the same namespace that route to the same process (the webhooks beside the metrics API). */
  readonly additionalServiceNames?: readonly string[];
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
 * keep: serve it until `renewAt`. reissue: a new serving certificate from the same CA, so every published
 * caBundle (and every replica's trust) stays as it is. regenerate: a new CA too.
 */
export type BundleAssessment = { action: 'keep'; renewAt: Date } | { action: 'reissue'; reason: string } | { action: 'regenerate'; reason: string };

/** Every DNS name of every Service of the identity, then the local names. */
export function servingDnsNames(identity: ServingIdentity): string[] {
  const ns = identity.namespace;
  const domain = identity.clusterDomain ?? 'cluster.local';
  const services = [identity.serviceName, ...(identity.additionalServiceNames ?? [])];
  const serviceNames = services.flatMap((svc) => [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.${domain}`]);
  return [...new Set([...serviceNames, ...(identity.extraDnsNames ?? ['localhost'])])];
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
  const ca = await createCertificateAuthority({
    commonName: `${identity.serviceName}-ca@${Math.floor(now.getTime() / 1000)}`,
    now,
    validityDays: policy.caValidityDays ?? 3650,
  });
  const stillTrusted = parseCertificates(previousCaPem).filter((c) => c.ca && Date.parse(c.validTo) > now.getTime());
  const caPem = [ca.certificatePem.trim(), ...stillTrusted.map((c) => c.toString().trim())].join('\n') + '\n';
  return issueServing({ caPem, caPrivateKeyPem: ca.privateKeyPem }, ca.certificatePem, identity, now, policy);
}

/** Issues a new serving certificate from the bundle's own CA (its first), keeping the trust bundle as is. */
export async function reissueServingCertificate(
  bundle: ServingBundle,
  identity: ServingIdentity,
  now: Date,
  policy: RenewalPolicy = {},
): Promise<ServingBundle> {
  const signer = parseCertificates(bundle.caPem)[0];
  if (!signer || !bundle.caPrivateKeyPem) throw new Error('serving certificate: the stored bundle has no CA key to renew with');
  return issueServing({ caPem: bundle.caPem, caPrivateKeyPem: bundle.caPrivateKeyPem }, signer.toString(), identity, now, policy);
}

async function issueServing(
  ca: { caPem: string; caPrivateKeyPem: string },
  signerPem: string,
  identity: ServingIdentity,
  now: Date,
  policy: RenewalPolicy,
): Promise<ServingBundle> {
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

/** Whether the private key is the one whose public half the certificate carries. */
export function keyMatches(privateKeyPem: string, certificate: X509Certificate): boolean {
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

export function sameBundle(a: ServingBundle | undefined, b: ServingBundle): boolean {
  // The CA key is not compared: it changes nothing about what is served or trusted.
  return a !== undefined && a.certificatePem === b.certificatePem && a.privateKeyPem === b.privateKeyPem && a.caPem === b.caPem;
}
