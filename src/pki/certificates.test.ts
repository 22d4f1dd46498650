import { X509Certificate, createPrivateKey, createPublicKey, createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  generateKeyPair,
  issueClientCertificate,
  issueServerCertificate,
  publicKeyPemOf,
  type CertifiedKey,
  type KeyAlgorithm,
} from './index.js';

const algorithms: KeyAlgorithm[] = ['ecdsa-p256', 'rsa-2048'];

describe.each(algorithms)('certificates with %s keys', (keyAlgorithm) => {
  let ca: CertifiedKey;
  let caCert: X509Certificate;

  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'sandbox-ca', keyAlgorithm });
    caCert = new X509Certificate(ca.certificatePem);
  });

  it('creates a self-signed CA whose key matches its certificate', () => {
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toBe('CN=sandbox-ca');
    expect(caCert.issuer).toBe('CN=sandbox-ca');
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(caCert.checkPrivateKey(createPrivateKey(ca.privateKeyPem))).toBe(true);
    expect(caCert.publicKey.asymmetricKeyType).toBe(keyAlgorithm === 'rsa-2048' ? 'rsa' : 'ec');
  });

  it('issues a server certificate with DNS and IP SANs and the serverAuth usage', async () => {
    const server = await issueServerCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const cert = new X509Certificate(server.certificatePem);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkPrivateKey(createPrivateKey(server.privateKeyPem))).toBe(true);
    expect(cert.checkHost('kubernetes.default.svc')).toBe('kubernetes.default.svc');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('issues a client certificate carrying user (CN) and groups (O) with the clientAuth usage', async () => {
    const client = await issueClientCertificate(ca, { commonName: 'sandbox-admin', organizations: ['system:masters', 'ops'] });
    const cert = new X509Certificate(client.certificatePem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.subject.split('\n')).toEqual(['O=system:masters', 'O=ops', 'CN=sandbox-admin']);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.subjectAltName).toBeUndefined();
  });

  it('serves and authenticates mutual TLS with the issued pair', async () => {
    const server = await issueServerCertificate(ca, { commonName: 'test-server', ipAddresses: ['127.0.0.1'] });
    const client = await issueClientCertificate(ca, { commonName: 'tester', organizations: ['testers'] });
    const options: ServerOptions = {
      key: server.privateKeyPem,
      cert: server.certificatePem,
      ca: ca.certificatePem,
      requestCert: true,
      rejectUnauthorized: true,
    };
    const https = createServer(options, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(peer.subject.CN);
    });
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    try {
      const { port } = https.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/', ca: ca.certificatePem, key: client.privateKeyPem, cert: client.certificatePem }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('tester');
    } finally {
      https.close();
    }
  });
});

describe('certificate validity and serials', () => {
  it('starts an hour before `now` and lasts validityDays', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const ca = await createCertificateAuthority({ commonName: 'dated', now, validityDays: 10 });
    const cert = new X509Certificate(ca.certificatePem);
    expect(new Date(cert.validFrom).toISOString()).toBe('2029-12-31T23:00:00.000Z');
    expect(new Date(cert.validTo).toISOString()).toBe('2030-01-11T00:00:00.000Z');
  });

  it('gives every certificate a distinct positive serial number', async () => {
    const ca = await createCertificateAuthority({ commonName: 'serials' });
    const serials = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => new X509Certificate((await issueClientCertificate(ca, { commonName: `u${i}` })).certificatePem).serialNumber),
    );
    expect(new Set(serials).size).toBe(5);
    for (const serial of serials) expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('signs with a CA key given as PKCS#1 or SEC1 PEM (as other tools write them)', async () => {
    const ca = await createCertificateAuthority({ commonName: 'converted', keyAlgorithm: 'rsa-2048' });
    const pkcs1 = createPrivateKey(ca.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('BEGIN RSA PRIVATE KEY');
    const leaf = await issueClientCertificate({ certificatePem: ca.certificatePem, privateKeyPem: pkcs1 }, { commonName: 'x' });
    expect(new X509Certificate(leaf.certificatePem).verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);
  });
});

describe('bad input names the field', () => {
  const cases: { name: string; run: (ca: CertifiedKey) => Promise<unknown>; error: RegExp }[] = [
    { name: 'empty CN', run: (ca) => issueClientCertificate(ca, { commonName: ' ' }), error: /client certificate: commonName must be a non-empty string/ },
    {
      name: 'no SANs',
      run: (ca) => issueServerCertificate(ca, { commonName: 's' }),
      error: /server certificate "s": needs at least one of dnsNames or ipAddresses/,
    },
    {
      name: 'bad IP',
      run: (ca) => issueServerCertificate(ca, { commonName: 's', ipAddresses: ['127.0.0.1', '300.1.1.1'] }),
      error: /ipAddresses\[1\] "300.1.1.1" is not an IP address/,
    },
    {
      name: 'bad DNS',
      run: (ca) => issueServerCertificate(ca, { commonName: 's', dnsNames: ['under_score.local'] }),
      error: /dnsNames\[0\] "under_score.local" is not a valid DNS name/,
    },
    { name: 'empty O', run: (ca) => issueClientCertificate(ca, { commonName: 'c', organizations: [''] }), error: /organizations\[0\] is empty/ },
    { name: 'bad validity', run: (ca) => issueClientCertificate(ca, { commonName: 'c', validityDays: 0 }), error: /validityDays must be a positive number/ },
    { name: 'garbage CA key', run: (ca) => issueClientCertificate({ ...ca, privateKeyPem: 'nope' }, { commonName: 'c' }), error: /not a PEM private key/ },
    {
      name: 'garbage CA cert',
      run: (ca) => issueClientCertificate({ ...ca, certificatePem: 'nope' }, { commonName: 'c' }),
      error: /CA certificate is not a PEM certificate/,
    },
  ];
  let ca: CertifiedKey;
  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'errors' });
  });

  it.each(cases)('$name', async ({ run, error }) => {
    await expect(run(ca)).rejects.toThrow(error);
  });

  it('refuses to sign with a leaf certificate', async () => {
    const leaf = await issueServerCertificate(ca, { commonName: 'leaf', dnsNames: ['leaf.local'] });
    await expect(issueClientCertificate(leaf, { commonName: 'c' })).rejects.toThrow(/is not a CA/);
  });

  it('refuses a key type it cannot sign with', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(issueClientCertificate({ ...ca, privateKeyPem: pem }, { commonName: 'c' })).rejects.toThrow(/unsupported private key: ec \(secp384r1\)/);
  });
});

describe.each(algorithms)('service-account key pair (%s)', (algorithm) => {
  it('signs with the private key and verifies with the public key', async () => {
    const pair = await generateKeyPair(algorithm);
    expect(pair.privateKeyPem).toContain('BEGIN PRIVATE KEY');
    expect(pair.publicKeyPem).toContain('BEGIN PUBLIC KEY');
    expect(publicKeyPemOf(pair.privateKeyPem)).toBe(pair.publicKeyPem);
    const signature = createSign('SHA256').update('token').sign(pair.privateKeyPem);
    expect(createVerify('SHA256').update('token').verify(createPublicKey(pair.publicKeyPem), signature)).toBe(true);
    expect(createVerify('SHA256').update('tampered').verify(createPublicKey(pair.publicKeyPem), signature)).toBe(false);
  });
});
