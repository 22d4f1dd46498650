// @sandbox kube
import { randomBytes, X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagedServingCertificate, secretBundleStore, type BundleStore, type ServingBundle, type ServingIdentity } from '../../src/certificates/index.js';
import { bundleOfSecret } from '../../src/certificates/secret-store.js';
import { createSystemClock, type Clock } from '../../src/controller/clock.js';
import { FakeClock } from '../../src/controller/fake-clock.js';
import { createLogger } from '../../src/log.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { startWebhooks } from '../../src/webhooks/index.js';
import { createNamespace, deleteNamespace, sandboxClient } from './operator-support.js';

/*
 * The certificate every replica's metrics API and webhooks serve: one Secret that managers starting or renewing
 * at the same time converge on, served by the webhooks and published in a webhook configuration they do not own.
 */

const log = createLogger({ name: 'certificates-test', level: 'warn' });
const suffix = randomBytes(3).toString('hex');
const namespace = `certs-${suffix}`;
const secretName = 'swell-certs';
const configurationName = `swell-certs-${suffix}`;
const day = 86_400_000;
// How the operator names them: the metrics API's Service first; a replica listing them the other way round agrees.
const identities: ServingIdentity[] = [
  { serviceName: 'swell-metrics-apiserver', additionalServiceNames: ['swell-webhooks'], namespace },
  { serviceName: 'swell-webhooks', additionalServiceNames: ['swell-metrics-apiserver'], namespace },
];

let admin: KubeClient;
const validatingPath = (name?: string) =>
  resourcePath({ group: 'admissionregistration.k8s.io', version: 'v1', resource: 'validatingwebhookconfigurations', ...(name ? { name } : {}) });

async function storedBundle(): Promise<ServingBundle | undefined> {
  return bundleOfSecret(await admin.request('GET', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace, name: secretName })));
}

/** Managers on the one Secret, as replicas run them, counting the writes tried and the writes that landed. */
function replicas(count: number, clock: Clock): { managers: ManagedServingCertificate[]; writes: { tried: number; landed: number } } {
  const writes = { tried: 0, landed: 0 };
  const counted = async (write: Promise<boolean>) => {
    writes.tried += 1;
    const landed = await write;
    if (landed) writes.landed += 1;
    return landed;
  };
  const managers = Array.from({ length: count }, (_, i) => {
    const secret = secretBundleStore(admin, namespace, secretName);
    const store: BundleStore = { read: () => secret.read(), create: (b) => counted(secret.create(b)), replace: (b, v) => counted(secret.replace(b, v)) };
    return new ManagedServingCertificate({ store, identity: identities[i % 2] as ServingIdentity, clock, apply: () => {}, log });
  });
  return { managers, writes };
}

/** The certificate a TLS server presents, verified against `caPem` for the name `localhost`. */
function presentedCertificate(port: number, caPem: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost', timeout: 5_000 }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer) resolve(peer);
      else reject(new Error('no peer certificate'));
    });
    socket.once('error', reject);
    socket.once('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

beforeAll(async () => {
  ({ client: admin } = sandboxClient());
  await createNamespace(admin, namespace);
});

afterAll(async () => {
  await admin.request('DELETE', validatingPath(configurationName)).catch(() => undefined);
  await deleteNamespace(admin, namespace);
});

describe('one Secret-held certificate for every server of every replica', () => {
  let first: ServingBundle;

  it('converges four managers starting at once on an empty Secret on one CA and one certificate', async () => {
    const { managers, writes } = replicas(4, createSystemClock());
    const served = await Promise.all(managers.map((m) => m.start()));
    managers.forEach((m) => m.stop());
    // They did race: more than one tried to create the Secret, one create landed, the others read the winner's.
    expect(writes.tried).toBeGreaterThan(1);
    expect(writes.landed).toBe(1);
    const stored = await storedBundle();
    expect(stored).toBeDefined();
    first = stored as ServingBundle;
    for (const bundle of served) expect(bundle).toEqual(first);
    expect(first.caPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    const names = new X509Certificate(first.certificatePem).subjectAltName ?? '';
    for (const name of [`swell-metrics-apiserver.${namespace}.svc`, `swell-webhooks.${namespace}.svc`, 'localhost', 'IP Address:127.0.0.1'])
      expect(names).toContain(name);
  });

  it('converges managers renewing at once on one new certificate from the same CA', async () => {
    const later = new Date(Date.now() + 250 * day);
    const { managers, writes } = replicas(3, new FakeClock(later.getTime()));
    const served = await Promise.all(managers.map((m) => m.ensure()));
    expect(writes.tried).toBeGreaterThan(1);
    expect(writes.landed).toBe(1);
    const stored = await storedBundle();
    expect(stored?.certificatePem).not.toBe(first.certificatePem);
    expect(stored?.caPem).toBe(first.caPem);
    for (const bundle of served) expect(bundle).toEqual(stored);
  });

  it('is what the webhooks serve, its CA published in a configuration they patch but never replace or delete', async () => {
    const chartLike = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: configurationName, labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
      webhooks: ['one', 'two'].map((n) => ({
        name: `${n}.certs.swell.dev`,
        clientConfig: { service: { name: 'swell-webhooks', namespace, port: 443, path: `/${n}` } },
        // A group nobody serves, so that no other suite's requests reach this configuration.
        rules: [{ apiGroups: ['certs.swell.dev'], apiVersions: ['v1'], resources: ['things'], operations: ['CREATE'], scope: '*' }],
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 3,
      })),
    };
    const created = await admin.request<{ metadata: { uid: string } }>('POST', validatingPath(), { body: chartLike });
    const webhooks = await startWebhooks({
      client: admin,
      log,
      host: '127.0.0.1',
      port: 0,
      configurationName,
      certificate: { kind: 'generated', identity: identities[1] as ServingIdentity, secretName },
      configurations: 'chart',
    });
    try {
      const stored = (await storedBundle()) as ServingBundle;
      const presented = await presentedCertificate(webhooks.port, stored.caPem);
      expect(presented.fingerprint256).toBe(new X509Certificate(stored.certificatePem).fingerprint256);
      const published = await admin.request<typeof chartLike & { metadata: { uid: string } }>('GET', validatingPath(configurationName));
      expect(published.metadata.uid).toBe(created.metadata.uid);
      expect(published.metadata.labels).toEqual(chartLike.metadata.labels);
      for (const webhook of published.webhooks) {
        const { caBundle, ...clientConfig } = webhook.clientConfig as typeof webhook.clientConfig & { caBundle?: string };
        expect(Buffer.from(caBundle ?? '', 'base64').toString('utf8')).toBe(stored.caPem);
        expect(clientConfig).toEqual(chartLike.webhooks.find((w) => w.name === webhook.name)?.clientConfig);
      }
    } finally {
      await webhooks.stop();
    }
    const afterStop = await admin.request<{ metadata: { uid: string } }>('GET', validatingPath(configurationName));
    expect(afterStop.metadata.uid).toBe(created.metadata.uid);
  });

  it('leaves a configuration whose caBundle cert-manager injects exactly as it is', async () => {
    const injected = 'aW5qZWN0ZWQgYnkgY2VydC1tYW5hZ2Vy';
    const path = validatingPath(configurationName);
    const current = await admin.request<{ metadata: { resourceVersion: string }; webhooks: { clientConfig: Record<string, unknown> }[] }>('GET', path);
    const ops = current.webhooks.map((_, i) => ({ op: 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: injected }));
    const before = await admin.request<{ metadata: { resourceVersion: string } }>('PATCH', path, { body: ops, contentType: 'application/json-patch+json' });
    const webhooks = await startWebhooks({
      client: admin,
      log,
      host: '127.0.0.1',
      port: 0,
      configurationName,
      certificate: { kind: 'generated', identity: identities[0] as ServingIdentity, secretName },
      configurations: 'injected',
    });
    await webhooks.stop();
    const after = await admin.request<{ metadata: { resourceVersion: string }; webhooks: { clientConfig: { caBundle?: string } }[] }>('GET', path);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.webhooks.map((w) => w.clientConfig.caBundle)).toEqual(after.webhooks.map(() => injected));
  });
});
