import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueClientCertificate, type CertifiedKey } from '../pki/index.js';
import { FakeClock } from '../controller/fake-clock.js';
import { bearerToken, certificateCaller, type AccessCheck, type Caller } from './kubelet-auth.js';
import { startKubeletServer, type KubeletServer } from './kubelet-server.js';
import { SimulatedProvider } from './providers/simulated.js';
import { kubeletServingCertificate } from './serving-cert.js';

// Real TLS on 127.0.0.1; the decision of who may read logs is a table instead of the API server.
const tokens: Record<string, Caller> = { 'good-token': { user: 'alice', groups: ['devs'] }, 'weak-token': { user: 'mallory', groups: [] } };
const access: AccessCheck = {
  authenticate: (req) => Promise.resolve(certificateCaller(req) ?? tokens[bearerToken(req) ?? '']),
  mayReadLogs: (caller) => Promise.resolve(caller.user === 'alice' || caller.groups.includes('system:masters')),
};

let server: KubeletServer;
let servingCa: CertifiedKey;
let clientCert: CertifiedKey;
let strangerCert: CertifiedKey;

beforeAll(async () => {
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const provider = new SimulatedProvider({ clock, startLatencyMs: 0, failureRate: 0, random: () => 1, capacity: { cpu: '1', memory: '1Gi', pods: '1' } });
  await provider.createPod({ metadata: { namespace: 'ns', name: 'web', uid: 'u' }, spec: { containers: [{ name: 'main', image: 'x' }] } });
  await clock.advance(1);
  const clientCa = await createCertificateAuthority({ commonName: 'cluster-ca' });
  clientCert = await issueClientCertificate(clientCa, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'] });
  strangerCert = await issueClientCertificate(await createCertificateAuthority({ commonName: 'other-ca' }), {
    commonName: 'stranger',
    organizations: ['system:masters'],
  });
  const { ca, serving } = await kubeletServingCertificate('vk', '127.0.0.1');
  servingCa = ca;
  server = await startKubeletServer({ provider, access, log: pino({ level: 'silent' }), tls: serving, clientCaPem: clientCa.certificatePem, port: 0 });
});

afterAll(async () => {
  await server.close();
});

function get(path: string, options: { token?: string; cert?: CertifiedKey } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path,
        ca: servingCa.certificatePem,
        ...(options.token ? { headers: { Authorization: `Bearer ${options.token}` } } : {}),
        ...(options.cert ? { cert: options.cert.certificatePem, key: options.cert.privateKeyPem } : {}),
      },
      (res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('kubelet API', () => {
  it('answers /healthz over TLS that verifies against its CA', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
  });

  const refusals: [string, { token?: string; stranger?: boolean }, number][] = [
    ['no credentials', {}, 401],
    ['an unknown token', { token: 'nope' }, 401],
    ['a token without the permission', { token: 'weak-token' }, 403],
    ['a client certificate from another CA', { stranger: true }, 401],
  ];
  it.each(refusals)('refuses logs to a caller with %s', async (_name, credentials, status) => {
    const response = await get('/containerLogs/ns/web/main', {
      ...(credentials.token ? { token: credentials.token } : {}),
      ...(credentials.stranger ? { cert: strangerCert } : {}),
    });
    expect(response.status).toBe(status);
    expect(response.body).not.toContain('simulated container');
  });

  it('serves logs to the API server client certificate (user from CN, groups from O)', async () => {
    const response = await get('/containerLogs/ns/web/main?timestamps=true', { cert: clientCert });
    expect(response).toEqual({ status: 200, body: '2026-01-01T00:00:00Z simulated container main of pod ns/web started\n' });
  });

  it('serves logs to an authorized token', async () => {
    expect((await get('/containerLogs/ns/web/main?tailLines=1', { token: 'good-token' })).body).toBe('simulated container main of pod ns/web started\n');
  });

  it.each([
    ['/containerLogs/ns/web/sidecar', 404, /container sidecar of pod ns\/web not found/],
    ['/containerLogs/ns/web/main?tailLines=lots', 400, /tailLines: "lots" is not a non-negative integer/],
    ['/exec/ns/web/main', 404, /not served/],
  ])('%s answers %d with a clear message', async (path, status, message) => {
    const response = await get(path, { token: 'good-token' });
    expect(response.status).toBe(status);
    expect(response.body).toMatch(message);
  });
});
