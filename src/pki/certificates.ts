import 'reflect-metadata';
import { isIP } from 'node:net';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { defaultKeyAlgorithm, generateCryptoKeyPair, importSigningKey, privateKeyToPem, type KeyAlgorithm } from './keys.js';

/** A certificate and its private key, both PEM. A CA is one of these too: it signs the certificates it issues. */
export interface CertifiedKey {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface CertificateOptions {
  /** Key type of the new certificate's key pair; default ECDSA P-256. */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Lifetime from `now`; default 3650 days for a CA and 365 for a leaf certificate. */
  readonly validityDays?: number;
  /** Issue time; default the current time. Validity starts one hour earlier to tolerate clock skew. */
  readonly now?: Date;
}

export interface AuthorityOptions extends CertificateOptions {
  readonly commonName: string;
}

export interface ServerCertificateOptions extends CertificateOptions {
  readonly commonName: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Also allow the key to authenticate as a TLS client (some servers also dial their peers with it). */
  readonly clientAuth?: boolean;
}

export interface ClientCertificateOptions extends CertificateOptions {
  /** The user name Kubernetes sees, e.g. `system:kube-scheduler`. */
  readonly commonName: string;
  /** The groups Kubernetes sees, e.g. `system:masters`. */
  readonly organizations?: readonly string[];
}

const crypto = webcrypto;
const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
// RFC 1123 host names, optionally with one leading wildcard label.
const dnsNamePattern = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

/** Creates a self-signed certificate authority (basicConstraints CA:TRUE, keyCertSign). */
export async function createCertificateAuthority(options: AuthorityOptions): Promise<CertifiedKey> {
  requireCommonName('certificate authority', options.commonName);
  const keys = await generateCryptoKeyPair(options.keyAlgorithm ?? defaultKeyAlgorithm);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      ...validity(options, 3650),
      serialNumber: randomSerialNumber(),
      name: [{ CN: [options.commonName] }],
      keys,
      signingAlgorithm: signingAlgorithm(keys.privateKey.algorithm.name),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certificatePem: certificate.toString('pem'), privateKeyPem: privateKeyToPem(keys.privateKey) };
}

/** Issues a TLS server certificate for the given host names and IP addresses, signed by `ca`. */
export async function issueServerCertificate(ca: CertifiedKey, options: ServerCertificateOptions): Promise<CertifiedKey> {
  const what = `server certificate "${options.commonName}"`;
  requireCommonName(what, options.commonName);
  const names = subjectAlternativeNames(what, options.dnsNames ?? [], options.ipAddresses ?? []);
  const usages = options.clientAuth ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth];
  return issue(ca, options, [{ CN: [options.commonName] }], usages, [new x509.SubjectAlternativeNameExtension(names, false)]);
}

/** Issues a TLS client certificate: Kubernetes reads the user from CN and the groups from O. */
export async function issueClientCertificate(ca: CertifiedKey, options: ClientCertificateOptions): Promise<CertifiedKey> {
  requireCommonName('client certificate', options.commonName);
  const organizations = options.organizations ?? [];
  organizations.forEach((o, i) => {
    if (o.trim() === '') throw new Error(`client certificate "${options.commonName}": organizations[${i}] is empty`);
  });
  // One RDN per group, as openssl and Go write them, rather than one multi-valued RDN.
  const subject: x509.JsonName = [...organizations.map((o) => ({ O: [o] })), { CN: [options.commonName] }];
  return issue(ca, options, subject, [x509.ExtendedKeyUsage.clientAuth], []);
}

async function issue(
  ca: CertifiedKey,
  options: CertificateOptions,
  subject: x509.JsonName,
  extendedUsages: x509.ExtendedKeyUsage[],
  extraExtensions: x509.Extension[],
): Promise<CertifiedKey> {
  const issuer = parseAuthority(ca);
  const signer = await importSigningKey(ca.privateKeyPem);
  const keys = await generateCryptoKeyPair(options.keyAlgorithm ?? defaultKeyAlgorithm);
  // RSA keys also encipher the TLS key exchange in old cipher suites; ECDSA keys only sign.
  const keyUsage =
    keys.publicKey.algorithm.name === 'ECDSA' ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  const certificate = await x509.X509CertificateGenerator.create(
    {
      ...validity(options, 365),
      serialNumber: randomSerialNumber(),
      subject,
      issuer: issuer.subjectName,
      publicKey: keys.publicKey,
      signingKey: signer.key,
      signingAlgorithm: signingAlgorithm(signer.key.algorithm.name),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(keyUsage, true),
        new x509.ExtendedKeyUsageExtension(extendedUsages, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey, false, crypto),
        ...extraExtensions,
      ],
    },
    crypto,
  );
  return { certificatePem: certificate.toString('pem'), privateKeyPem: privateKeyToPem(keys.privateKey) };
}

function parseAuthority(ca: CertifiedKey): x509.X509Certificate {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(ca.certificatePem);
  } catch (error) {
    throw new Error(`CA certificate is not a PEM certificate: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new Error(`certificate "${certificate.subject}" is not a CA (basicConstraints CA:TRUE missing)`);
  return certificate;
}

function subjectAlternativeNames(what: string, dnsNames: readonly string[], ipAddresses: readonly string[]): x509.JsonGeneralNames {
  if (dnsNames.length + ipAddresses.length === 0) throw new Error(`${what}: needs at least one of dnsNames or ipAddresses`);
  dnsNames.forEach((name, i) => {
    if (!dnsNamePattern.test(name) || name.length > 253) throw new Error(`${what}: dnsNames[${i}] "${name}" is not a valid DNS name`);
  });
  ipAddresses.forEach((address, i) => {
    if (isIP(address) === 0) throw new Error(`${what}: ipAddresses[${i}] "${address}" is not an IP address`);
  });
  return [...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ipAddresses.map((value) => ({ type: 'ip' as const, value }))];
}

function requireCommonName(what: string, commonName: string): void {
  if (typeof commonName !== 'string' || commonName.trim() === '') throw new Error(`${what}: commonName must be a non-empty string`);
}

function validity(options: CertificateOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = options.validityDays ?? defaultDays;
  if (!Number.isFinite(days) || days <= 0) throw new Error(`validityDays must be a positive number, got ${days}`);
  const now = (options.now ?? new Date()).getTime();
  return { notBefore: new Date(now - hourMs), notAfter: new Date(now + days * dayMs) };
}

function signingAlgorithm(keyAlgorithmName: string): webcrypto.EcdsaParams | webcrypto.Algorithm {
  return keyAlgorithmName === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
}

/** 16 random bytes with the top bit clear: positive, as Go's x509 parser requires, and non-zero in practice. */
function randomSerialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
