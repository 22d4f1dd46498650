import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import { generateServingBundle, type ServingBundle } from './bundle.js';
import { FileServingCertificate } from './files.js';
import { certificateSecretName, servingCertificateFrom } from './source.js';

const silent = pino({ level: 'silent' });
const identity = { serviceName: 'swell-metrics-apiserver', namespace: 'swell-system' };

describe('certificateSecretName', () => {
  it.each([
    [undefined, 'swell-metrics-apiserver-certs'],
    ['swell-certs', 'swell-certs'],
  ])('secretName %s: %s', (secretName, expected) => {
    expect(certificateSecretName({ kind: 'generated', identity, ...(secretName ? { secretName } : {}) })).toBe(expected);
  });
});

describe('servingCertificateFrom', () => {
  let dir: string;
  let bundle: ServingBundle;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swell-source-'));
    bundle = await generateServingBundle(identity, new Date());
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ['with a CA file', true],
    ['without one', false],
  ])('serves files and publishes their CA %s', async (_, withCa) => {
    const files = { certificateFile: join(dir, 'tls.crt'), privateKeyFile: join(dir, 'tls.key'), ...(withCa ? { caFile: join(dir, 'ca.crt') } : {}) };
    await Promise.all([
      writeFile(files.certificateFile, bundle.certificatePem),
      writeFile(files.privateKeyFile, bundle.privateKeyPem),
      writeFile(join(dir, 'ca.crt'), bundle.caPem),
    ]);
    const applied: string[] = [];
    const publishedCas: string[] = [];
    const source = servingCertificateFrom(
      { kind: 'files', files },
      {
        client: new FakeKubeClient(),
        apply: (b) => void applied.push(b.certificatePem),
        publish: (b) => Promise.resolve(void publishedCas.push(b.caPem)),
        log: silent,
        clock: new FakeClock(),
      },
    );
    expect(source).toBeInstanceOf(FileServingCertificate);
    await source.start();
    source.stop();
    expect(applied).toEqual([bundle.certificatePem]);
    expect(publishedCas).toEqual(withCa ? [bundle.caPem] : []);
  });
});
