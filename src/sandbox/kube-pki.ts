import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createCertificateAuthority, generateKeyPair, issueClientCertificate, issueServerCertificate, type CertifiedKey } from '../pki/index.js';

/** A certificate file and its key file. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** Every file of the sandbox cluster's PKI, all inside one folder. */
export interface ClusterPkiFiles {
  readonly dir: string;
  /** Signs the apiserver's serving cert and every client cert; the apiserver's --client-ca-file. */
  readonly ca: CertFiles;
  readonly apiserver: CertFiles;
  /** Signs only the aggregator's client cert; aggregated API servers trust it for X-Remote-User headers. */
  readonly frontProxyCa: CertFiles;
  readonly frontProxyClient: CertFiles;
  /** The apiserver's identity towards kubelets (`kubectl logs` through a virtual node's kubelet API). */
  readonly apiserverKubeletClient: CertFiles;
  readonly admin: CertFiles;
  readonly controllerManager: CertFiles;
  readonly controllerManagerServing: CertFiles;
  readonly scheduler: CertFiles;
  readonly schedulerServing: CertFiles;
  readonly kwok: CertFiles;
  /** Service-account token signing key pair (private for the apiserver and controller manager, public to verify). */
  readonly serviceAccount: { readonly privateKey: string; readonly publicKey: string };
}

export const frontProxyClientName = 'front-proxy-client';
export const adminUser = 'swell-sandbox-admin';

export function clusterPkiFiles(dir: string): ClusterPkiFiles {
  const pair = (name: string): CertFiles => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  return {
    dir,
    ca: pair('ca'),
    apiserver: pair('apiserver'),
    frontProxyCa: pair('front-proxy-ca'),
    frontProxyClient: pair('front-proxy-client'),
    apiserverKubeletClient: pair('apiserver-kubelet-client'),
    admin: pair('admin'),
    controllerManager: pair('kube-controller-manager'),
    controllerManagerServing: pair('kube-controller-manager-serving'),
    scheduler: pair('kube-scheduler'),
    schedulerServing: pair('kube-scheduler-serving'),
    kwok: pair('kwok'),
    serviceAccount: { privateKey: join(dir, 'sa.key'), publicKey: join(dir, 'sa.pub') },
  };
}

/** The host names and addresses clients use for the apiserver: loopback, and in-cluster names for pods. */
export function apiserverSubjectAltNames(serviceIp: string): { dnsNames: string[]; ipAddresses: string[] } {
  return {
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ipAddresses: ['127.0.0.1', serviceIp],
  };
}

/** Generates a fresh PKI for one sandbox cluster and writes it to `dir` (keys readable by the owner only). */
export async function writeClusterPki(dir: string, serviceIp: string): Promise<ClusterPkiFiles> {
  const files = clusterPkiFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [ca, frontProxyCa, serviceAccount] = await Promise.all([
    createCertificateAuthority({ commonName: 'swell-sandbox-ca' }),
    createCertificateAuthority({ commonName: 'swell-sandbox-front-proxy-ca' }),
    generateKeyPair(),
  ]);
  const loopback = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
  const issued: [CertFiles, Promise<CertifiedKey>][] = [
    [files.apiserver, issueServerCertificate(ca, { commonName: 'kube-apiserver', ...apiserverSubjectAltNames(serviceIp) })],
    [files.frontProxyClient, issueClientCertificate(frontProxyCa, { commonName: frontProxyClientName })],
    [files.admin, issueClientCertificate(ca, { commonName: adminUser, organizations: ['system:masters'] })],
    [files.apiserverKubeletClient, issueClientCertificate(ca, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'] })],
    [files.controllerManager, issueClientCertificate(ca, { commonName: 'system:kube-controller-manager' })],
    [files.controllerManagerServing, issueServerCertificate(ca, { commonName: 'kube-controller-manager', ...loopback })],
    [files.scheduler, issueClientCertificate(ca, { commonName: 'system:kube-scheduler' })],
    [files.schedulerServing, issueServerCertificate(ca, { commonName: 'kube-scheduler', ...loopback })],
    // kwok acts for many nodes and their pods, which no single system:node identity is allowed to do.
    [files.kwok, issueClientCertificate(ca, { commonName: 'swell-sandbox-kwok', organizations: ['system:masters'] })],
  ];
  await Promise.all([
    writePair(files.ca, ca),
    writePair(files.frontProxyCa, frontProxyCa),
    writeSecret(files.serviceAccount.privateKey, serviceAccount.privateKeyPem),
    writeFile(files.serviceAccount.publicKey, serviceAccount.publicKeyPem),
    ...issued.map(async ([target, pending]) => writePair(target, await pending)),
  ]);
  return files;
}

async function writePair(files: CertFiles, pair: CertifiedKey): Promise<void> {
  await Promise.all([writeFile(files.cert, pair.certificatePem), writeSecret(files.key, pair.privateKeyPem)]);
}

async function writeSecret(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
}

export interface KubeconfigSpec {
  readonly server: string;
  readonly caPem: string;
  readonly user: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A self-contained kubeconfig (certificates embedded as *-data), readable by kubectl, client-go and client-node. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'swell-sandbox', cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caPem) } }],
    users: [{ name: spec.user, user: { 'client-certificate-data': b64(spec.certPem), 'client-key-data': b64(spec.keyPem) } }],
    contexts: [{ name: 'swell-sandbox', context: { cluster: 'swell-sandbox', user: spec.user } }],
    'current-context': 'swell-sandbox',
    preferences: {},
  });
}
