import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';
import { assessServingBundle, generateServingBundle, reissueServingCertificate, servingDnsNames, type ServingBundle, type ServingIdentity } from './bundle.js';

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

  it('covers the webhooks Service beside the metrics API, once each', () => {
    const both = servingDnsNames({ ...identity, additionalServiceNames: ['swell-webhooks', 'swell-metrics'], extraDnsNames: ['localhost', 'swell-webhooks'] });
    expect(both).toEqual([
      'swell-metrics',
      'swell-metrics.swell-system',
      'swell-metrics.swell-system.svc',
      'swell-metrics.swell-system.svc.cluster.local',
      'swell-webhooks',
      'swell-webhooks.swell-system',
      'swell-webhooks.swell-system.svc',
      'swell-webhooks.swell-system.svc.cluster.local',
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
    [
      'a key from another pair',
      async () => ({ ...bundle, privateKeyPem: (await generateServingBundle(identity, issuedAt)).privateKeyPem }),
      'reissue',
      /private key does not belong/,
    ],
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

  it('reissues a metrics-only certificate once the webhooks Service joins, and keeps it whatever order the Services come in', async () => {
    const shared = { ...identity, additionalServiceNames: ['swell-webhooks'] };
    const verdict = assessServingBundle(bundle, shared, issuedAt);
    expect(verdict).toEqual({ action: 'reissue', reason: expect.stringMatching(/does not cover swell-webhooks, swell-webhooks\.swell-system,/) as unknown });
    const reissued = await reissueServingCertificate(bundle, shared, issuedAt);
    expect(assessServingBundle(reissued, shared, issuedAt).action).toBe('keep');
    expect(assessServingBundle(reissued, { ...identity, serviceName: 'swell-webhooks', additionalServiceNames: ['swell-metrics'] }, issuedAt).action).toBe(
      'keep',
    );
    expect(assessServingBundle(reissued, identity, issuedAt).action).toBe('keep');
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
