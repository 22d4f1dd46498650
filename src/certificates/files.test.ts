import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { generateServingBundle, type ServingBundle, type ServingIdentity } from './bundle.js';
import { FileServingCertificate } from './files.js';

const silent = pino({ level: 'silent' });
const issuedAt = new Date('2030-01-01T00:00:00Z');
const identity: ServingIdentity = { serviceName: 'swell-metrics', namespace: 'swell-system' };

let bundle: ServingBundle;
beforeAll(async () => {
  bundle = await generateServingBundle(identity, issuedAt);
});

describe('FileServingCertificate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swell-certs-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('loads the files, reloads them when they change, and skips a mismatched pair', async () => {
    const files = { certificateFile: join(dir, 'tls.crt'), privateKeyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
    const write = (b: ServingBundle) =>
      Promise.all([writeFile(files.certificateFile, b.certificatePem), writeFile(files.privateKeyFile, b.privateKeyPem), writeFile(files.caFile, b.caPem)]);
    const { caPrivateKeyPem: _, ...asMounted } = bundle;
    await write(asMounted);
    const applied: ServingBundle[] = [];
    const source = new FileServingCertificate({ files, apply: (b) => void applied.push(b), log: silent, clock: new FakeClock(), intervalMs: 60_000 });
    expect(await source.start()).toEqual(asMounted);
    await source.reload();
    expect(applied).toHaveLength(1);

    const { caPrivateKeyPem: __, ...next } = await generateServingBundle(identity, issuedAt);
    await writeFile(files.certificateFile, next.certificatePem);
    await source.reload();
    expect(applied).toHaveLength(1);

    await write(next);
    await source.reload();
    source.stop();
    expect(applied).toEqual([asMounted, next]);
  });

  it('fails to start with a message naming the broken file', async () => {
    const files = { certificateFile: join(dir, 'bad.crt'), privateKeyFile: join(dir, 'bad.key') };
    await writeFile(files.certificateFile, 'not a certificate');
    await writeFile(files.privateKeyFile, bundle.privateKeyPem);
    const source = new FileServingCertificate({ files, apply: () => {}, log: silent, clock: new FakeClock() });
    await expect(source.start()).rejects.toThrow(/bad\.crt: not a PEM certificate/);
  });

  it('re-reads the files on its interval of the clock and stops once stopped', async () => {
    const files = { certificateFile: join(dir, 'timed.crt'), privateKeyFile: join(dir, 'timed.key') };
    const write = (b: ServingBundle) => Promise.all([writeFile(files.certificateFile, b.certificatePem), writeFile(files.privateKeyFile, b.privateKeyPem)]);
    await write(bundle);
    const clock = new FakeClock();
    const applied: string[] = [];
    const source = new FileServingCertificate({ files, apply: (b) => void applied.push(b.certificatePem), log: silent, clock, intervalMs: 60_000 });
    await source.start();
    expect(clock.nextTimerDelay()).toBe(60_000);
    const next = await generateServingBundle(identity, issuedAt);
    await write(next);
    await clock.advance(60_000);
    // The reload reads files, which takes real I/O time after the timer fired.
    await vi.waitFor(() => expect(applied).toEqual([bundle.certificatePem, next.certificatePem]));
    await vi.waitFor(() => expect(clock.nextTimerDelay()).toBe(60_000));
    source.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
