import { request } from 'node:https';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';
import type { AdmissionVerdict } from './admission.js';
import { WebhookServer } from './server.js';

const clock = new FakeClock();
let server: WebhookServer;
let caPem: string;
let answer: () => Promise<AdmissionVerdict>;

beforeAll(async () => {
  const ca = await createCertificateAuthority({ commonName: 'webhook-test-ca' });
  const serving = await issueServerCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
  caPem = ca.certificatePem;
  const routes = [{ path: '/validate', kind: 'validating' as const, handler: () => answer() }];
  server = await WebhookServer.start({ routes, servingCertificate: serving, log: pino({ level: 'silent' }), clock, host: '127.0.0.1', port: 0, handlerTimeoutMs: 8_000 });
});

afterAll(() => server.close(0));

const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject' }, operation: 'CREATE' } };

/** POSTs the review; resolves with the response document. */
function post(): Promise<{ response: { uid: string; allowed: boolean; warnings?: string[] } }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(review);
    const outgoing = request({ host: '127.0.0.1', port: server.port, path: '/validate', method: 'POST', ca: caPem, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { response: { uid: string; allowed: boolean; warnings?: string[] } }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

describe('WebhookServer', () => {
  it('answers with the handler verdict when it decides in time', async () => {
    answer = () => Promise.resolve({ allowed: false, message: 'no' });
    await expect(post()).resolves.toMatchObject({ response: { uid: 'u-1', allowed: false } });
  });

  it('allows with a warning a handler that has not decided exactly at the timeout on the clock', async () => {
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    answer = () => {
      started();
      return new Promise<AdmissionVerdict>(() => undefined);
    };
    let reply: Awaited<ReturnType<typeof post>> | undefined;
    const replied = post().then((r) => (reply = r));
    await handlerStarted;
    await clock.advance(7_999);
    expect(reply).toBeUndefined();
    await clock.advance(1);
    await replied;
    expect(reply?.response).toEqual({ uid: 'u-1', allowed: true, warnings: ['swell webhook /validate failed, object not validated: no decision within 8000 ms'] });
    expect(clock.pendingTimers).toBe(0);
  });
});
