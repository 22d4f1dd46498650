import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';
import { FileServingCertificate, ManagedServingCertificate, assessServingBundle, generateServingBundle, reissueServingCertificate, servingDnsNames, type BundleStore, type ServingBundle, type ServingIdentity } from './certificates.js';

const silent = pino({ level: 'silent' });
const day = 86_400_000;
const issuedAt = new Date('2030-01-01T00:00:00Z');
const identity: ServingIdentity = { serviceName: 'swell-metrics', namespace: 'swell-system' };

let bundle: ServingBundle;
beforeAll(async () => {
  bundle = await generateServingBundle(identity, issuedAt);
});

describe('servingDnsNames', () => {
  it('lists every name the Service is reached by, plus localhost', () => {
    expect(servingDnsNames(identity)).toEqual([
      'swell-metrics',
      'swell-metrics.swell-system',
      'swell-metrics.swell-system.svc',
      'swell-metrics.swell-system.svc.cluster.local',
      'localhost',
    ]);
  });
});

describe('generateServingBundle', () => {
  it('issues a one-year certificate for the Service names and 127.0.0.1, signed by a ten-year CA', () => {
    const ca = new X509Certificate(bundle.caPem);
    const certificate = new X509Certificate(bundle.certificatePem);
    expect(ca.ca).toBe(true);
    expect(certificate.verify(ca.publicKey)).toBe(true);
    expect(certificate.subjectAltName).toContain('DNS:swell-metrics.swell-system.svc');
    expect(certificate.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(Math.round((Date.parse(certificate.validTo) - issuedAt.getTime()) / day)).toBe(365);
    expect(Math.round((Date.parse(ca.validTo) - issuedAt.getTime()) / day)).toBe(3650);
  });
});

describe('assessServingBundle', () => {
  // The certificate runs from an hour before issuedAt to 365 days after; renewal is due with a third left.
  const renewAt = issuedAt.getTime() + 365 * day - (365 * day + 3_600_000) / 3;

  it.each([
    ['a fresh bundle', 0, 'keep'],
    ['a bundle half way through its life', 180 * day, 'keep'],
    ['a bundle in its last third', 250 * day, 'reissue'],
    ['an expired serving certificate of a CA with years left', 400 * day, 'reissue'],
  ])('%s: %s', (_, age, action) => {
    expect(assessServingBundle(bundle, identity, new Date(issuedAt.getTime() + age)).action).toBe(action);
  });

  it('regenerates instead of reissuing when the CA key is not stored', () => {
    const { caPrivateKeyPem: _, ...withoutCaKey } = bundle;
    const verdict = assessServingBundle(withoutCaKey, identity, new Date(issuedAt.getTime() + 250 * day));
    expect(verdict).toEqual({ action: 'regenerate', reason: expect.stringMatching(/due for renewal.*no matching CA key is stored/) as unknown });
  });

  it('schedules renewal two thirds into the shorter-lived certificate', () => {
    const verdict = assessServingBundle(bundle, identity, issuedAt);
    expect(verdict.action).toBe('keep');
    expect(verdict.action === 'keep' ? Math.abs(verdict.renewAt.getTime() - renewAt) : Infinity).toBeLessThan(1_000);
  });

  it('honours a custom renewal fraction', () => {
    expect(assessServingBundle(bundle, identity, new Date(issuedAt.getTime() + 250 * day), { renewWhenRemaining: 0.1 }).action).toBe('keep');
  });

  it.each<[string, () => Promise<ServingBundle | undefined>, 'reissue' | 'regenerate', RegExp]>([
    ['nothing stored', () => Promise.resolve(undefined), 'regenerate', /no certificate stored/],
    ['a garbage CA', () => Promise.resolve({ ...bundle, caPem: 'garbage' }), 'regenerate', /CA does not parse/],
    ['a garbage certificate', () => Promise.resolve({ ...bundle, certificatePem: 'garbage' }), 'reissue', /does not parse/],
    ['a key from another pair', async () => ({ ...bundle, privateKeyPem: (await generateServingBundle(identity, issuedAt)).privateKeyPem }), 'reissue', /private key does not belong/],
    [
      'a CA that did not sign it',
      async () => ({ ...bundle, caPem: (await createCertificateAuthority({ commonName: 'x', now: issuedAt })).certificatePem }),
      'regenerate',
      /not signed by the stored CA, and no matching CA key/,
    ],
    ['a service renamed since', () => Promise.resolve(bundle), 'reissue', /does not cover other-name, other-name\.swell-system/],
  ])('handles %s', async (what, stored, action, reason) => {
    const forIdentity = what === 'a service renamed since' ? { ...identity, serviceName: 'other-name' } : identity;
    const verdict = assessServingBundle(await stored(), forIdentity, issuedAt);
    expect(verdict.action).toBe(action);
    expect(verdict.action === 'keep' ? '' : verdict.reason).toMatch(reason);
  });

  it('regenerates when the CA, not the leaf, is near its end', async () => {
    const ca = await createCertificateAuthority({ commonName: 'short-ca', now: issuedAt, validityDays: 30 });
    const leaf = await issueServerCertificate(ca, { commonName: 'x', dnsNames: servingDnsNames(identity), ipAddresses: ['127.0.0.1'], now: issuedAt });
    const shortCa = { caPem: ca.certificatePem, certificatePem: leaf.certificatePem, privateKeyPem: leaf.privateKeyPem };
    expect(assessServingBundle(shortCa, identity, new Date(issuedAt.getTime() + 25 * day)).action).toBe('regenerate');
  });
});

describe('renewal keeps clients trusting', () => {
  it('reissues from the same CA, leaving the trust bundle untouched', async () => {
    const later = new Date(issuedAt.getTime() + 250 * day);
    const renewed = await reissueServingCertificate(bundle, identity, later);
    expect(renewed.caPem).toBe(bundle.caPem);
    expect(renewed.certificatePem).not.toBe(bundle.certificatePem);
    expect(new X509Certificate(renewed.certificatePem).verify(new X509Certificate(bundle.caPem).publicKey)).toBe(true);
    expect(assessServingBundle(renewed, identity, later).action).toBe('keep');
  });

  it('keeps a replaced CA in the trust bundle while it is valid, the new CA first', async () => {
    const later = new Date(issuedAt.getTime() + 100 * day);
    const next = await generateServingBundle(identity, later, {}, bundle.caPem);
    const [first, second, third] = next.caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(third).toBeUndefined();
    expect(new X509Certificate(next.certificatePem).verify(new X509Certificate(first ?? '').publicKey)).toBe(true);
    expect(new X509Certificate(second ?? '').fingerprint256).toBe(new X509Certificate(bundle.caPem).fingerprint256);
    const afterOldCaExpired = await generateServingBundle(identity, new Date(issuedAt.getTime() + 4000 * day), {}, bundle.caPem);
    expect(afterOldCaExpired.caPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
  });
});

/** A store that behaves like a Secret: versioned, with optimistic concurrency. */
function memoryStore(initial?: ServingBundle) {
  let state: { bundle: ServingBundle; version: number } | undefined = initial ? { bundle: initial, version: 1 } : undefined;
  let writes = 0;
  let interfere: (() => void) | undefined;
  const store: BundleStore = {
    read: () => Promise.resolve(state ? { bundle: state.bundle, version: String(state.version) } : undefined),
    create(b) {
      interfere?.();
      if (state) return Promise.resolve(false);
      writes += 1;
      state = { bundle: b, version: 1 };
      return Promise.resolve(true);
    },
    replace(b, version) {
      interfere?.();
      if (!state || String(state.version) !== version) return Promise.resolve(false);
      writes += 1;
      state = { bundle: b, version: state.version + 1 };
      return Promise.resolve(true);
    },
  };
  return {
    store,
    writes: () => writes,
    current: () => state?.bundle,
    /** Makes another replica write first, once. */
    raceOnce(other: ServingBundle) {
      interfere = () => {
        interfere = undefined;
        state = { bundle: other, version: (state?.version ?? 0) + 1 };
      };
    },
  };
}

describe('ManagedServingCertificate', () => {
  function manager(store: BundleStore, now: () => Date) {
    const applied: ServingBundle[] = [];
    const managed = new ManagedServingCertificate({ store, identity, now, apply: (b) => void applied.push(b), log: silent });
    return { managed, applied };
  }

  it('creates a bundle when none is stored, and reuses it afterwards without rewriting', async () => {
    const memory = memoryStore();
    const { managed, applied } = manager(memory.store, () => issuedAt);
    const first = await managed.ensure();
    const second = await managed.ensure();
    expect(second).toEqual(first);
    expect(memory.current()).toEqual(first);
    expect(memory.writes()).toBe(1);
    expect(applied).toHaveLength(1);
  });

  it('reuses a valid stored bundle as is', async () => {
    const memory = memoryStore(bundle);
    const { managed, applied } = manager(memory.store, () => issuedAt);
    expect(await managed.ensure()).toEqual(bundle);
    expect(memory.writes()).toBe(0);
    expect(applied).toEqual([bundle]);
  });

  it('renews from the same CA when the clock reaches the renewal point, and applies the new bundle', async () => {
    const memory = memoryStore(bundle);
    let now = issuedAt;
    const { managed, applied } = manager(memory.store, () => now);
    await managed.ensure();
    now = new Date(issuedAt.getTime() + 250 * day);
    const renewed = await managed.ensure();
    expect(renewed.certificatePem).not.toBe(bundle.certificatePem);
    expect(memory.writes()).toBe(1);
    expect(applied.map((b) => b.certificatePem)).toEqual([bundle.certificatePem, renewed.certificatePem]);
    expect(renewed.caPem).toBe(bundle.caPem);
    expect(assessServingBundle(renewed, identity, now).action).toBe('keep');
  });

  it('syncs (publishes the CA) on every check, and survives a failing sync', async () => {
    const memory = memoryStore(bundle);
    const synced: string[] = [];
    let fail = true;
    const managed = new ManagedServingCertificate({
      store: memory.store,
      identity,
      now: () => issuedAt,
      apply: () => {},
      sync: (b) => {
        synced.push(b.caPem);
        if (fail) return Promise.reject(new Error('apiservices is forbidden'));
        return Promise.resolve();
      },
      log: silent,
    });
    await expect(managed.ensure()).resolves.toEqual(bundle);
    fail = false;
    await managed.ensure();
    expect(synced).toEqual([bundle.caPem, bundle.caPem]);
  });

  it('adopts the bundle of a replica that wrote first instead of overwriting it', async () => {
    const memory = memoryStore();
    const theirs = await generateServingBundle(identity, issuedAt);
    memory.raceOnce(theirs);
    const { managed } = manager(memory.store, () => issuedAt);
    expect(await managed.ensure()).toEqual(theirs);
    expect(memory.writes()).toBe(0);
  });
});

describe('FileServingCertificate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swell-certs-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('loads the files, reloads them when they change, and skips a mismatched pair', async () => {
    const files = { certificateFile: join(dir, 'tls.crt'), privateKeyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
    const write = (b: ServingBundle) => Promise.all([writeFile(files.certificateFile, b.certificatePem), writeFile(files.privateKeyFile, b.privateKeyPem), writeFile(files.caFile, b.caPem)]);
    const { caPrivateKeyPem: _, ...asMounted } = bundle;
    await write(asMounted);
    const applied: ServingBundle[] = [];
    const source = new FileServingCertificate({ files, apply: (b) => void applied.push(b), log: silent, intervalMs: 60_000 });
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
    const source = new FileServingCertificate({ files, apply: () => {}, log: silent });
    await expect(source.start()).rejects.toThrow(/bad\.crt: not a PEM certificate/);
  });
});
