import { readFile } from 'node:fs/promises';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';

/** The serving key pair and the CA the apiserver trusts it by (the webhook configurations' caBundle); PEM. */
export interface WebhookCertificate {
  readonly caPem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** Certificate files the user manages (cert-manager, a Secret mount): used as they are. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signed certFile; default: certFile itself (a self-signed certificate). */
  readonly caFile?: string;
}

/** Names the generated certificate covers: the in-cluster Service and, for local runs, loopback. */
export interface GeneratedCertificateNames {
  readonly serviceName: string;
  readonly namespace: string;
  readonly ipAddresses?: readonly string[];
}

export type CertificateSource = { files: CertificateFiles } | { generate: GeneratedCertificateNames };

/**
 * A serving certificate for the webhooks: read from files, or a fresh CA plus a certificate for the Service's
 * DNS names, localhost and 127.0.0.1. A generated CA lives only in memory; registration publishes it as caBundle.
 */
export async function loadWebhookCertificate(source: CertificateSource, now = new Date()): Promise<WebhookCertificate> {
  if ('files' in source) {
    const { certFile, keyFile, caFile } = source.files;
    const [certificatePem, privateKeyPem, caPem] = await Promise.all([
      readPem(certFile, 'certificate'),
      readPem(keyFile, 'private key'),
      readPem(caFile ?? certFile, 'CA certificate'),
    ]);
    return { caPem, certificatePem, privateKeyPem };
  }
  const { serviceName, namespace } = source.generate;
  const ca = await createCertificateAuthority({ commonName: `${serviceName}-webhook-ca`, now });
  const serving = await issueServerCertificate(ca, {
    commonName: `${serviceName}.${namespace}.svc`,
    dnsNames: [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`, 'localhost'],
    ipAddresses: [...(source.generate.ipAddresses ?? ['127.0.0.1'])],
    now,
  });
  return { caPem: ca.certificatePem, certificatePem: serving.certificatePem, privateKeyPem: serving.privateKeyPem };
}

async function readPem(file: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`webhook ${what} ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (!text.includes('-----BEGIN ')) throw new Error(`webhook ${what} ${file}: not a PEM file`);
  return text;
}
