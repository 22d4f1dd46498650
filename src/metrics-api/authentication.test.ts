import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate, type CertifiedKey } from '../pki/index.js';
import { RequestAuthenticator, type TokenReviewer } from './authenticator.js';
import { frontProxyTrust, frontProxyUser, identityHeaderNames, parseRequestHeaderConfig, verifyClientChain, type IdentityHeaderNames } from './front-proxy.js';

const day = 86_400_000;
const now = Date.parse('2030-06-01T00:00:00Z');

let frontProxyCa: CertifiedKey;
let otherCa: CertifiedKey;
let proxyClient: X509Certificate;
let strangerFromSameCa: X509Certificate;
let proxyClientFromOtherCa: X509Certificate;
let expiredProxyClient: X509Certificate;
let serverOnlyCertificate: X509Certificate;

const cert = (k: CertifiedKey) => new X509Certificate(k.certificatePem);

beforeAll(async () => {
  const issued = new Date(now - 10 * day);
  frontProxyCa = await createCertificateAuthority({ commonName: 'front-proxy-ca', now: issued });
  otherCa = await createCertificateAuthority({ commonName: 'other-ca', now: issued });
  proxyClient = cert(await issueClientCertificate(frontProxyCa, { commonName: 'front-proxy-client', now: issued }));
  strangerFromSameCa = cert(await issueClientCertificate(frontProxyCa, { commonName: 'someone-else', now: issued }));
  proxyClientFromOtherCa = cert(await issueClientCertificate(otherCa, { commonName: 'front-proxy-client', now: issued }));
  expiredProxyClient = cert(await issueClientCertificate(frontProxyCa, { commonName: 'front-proxy-client', now: new Date(now - 400 * day), validityDays: 30 }));
  serverOnlyCertificate = cert(await issueServerCertificate(frontProxyCa, { commonName: 'front-proxy-client', dnsNames: ['x'], now: issued }));
});

function configMapData(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'client-ca-file': otherCa.certificatePem,
    'requestheader-client-ca-file': frontProxyCa.certificatePem,
    'requestheader-allowed-names': '["front-proxy-client"]',
    'requestheader-username-headers': '["X-Remote-User"]',
    'requestheader-group-headers': '["X-Remote-Group"]',
    'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
    ...overrides,
  };
}

describe('parseRequestHeaderConfig', () => {
  it('reads the lists kube-apiserver publishes', () => {
    const config = parseRequestHeaderConfig(configMapData({ 'requestheader-uid-headers': '["X-Remote-Uid"]' }));
    expect(config).toMatchObject({
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['X-Remote-User'],
      uidHeaders: ['X-Remote-Uid'],
      groupHeaders: ['X-Remote-Group'],
      extraHeaderPrefixes: ['X-Remote-Extra-'],
    });
  });

  it('treats an empty allowed-names list as "any certificate from the CA"', () => {
    expect(parseRequestHeaderConfig(configMapData({ 'requestheader-allowed-names': '' })).allowedNames).toEqual([]);
  });

  it.each([
    [undefined, /"requestheader-client-ca-file" is missing/],
    [{ 'requestheader-client-ca-file': 'nope' }, /"requestheader-client-ca-file" is missing or holds no PEM/],
    [{ 'requestheader-allowed-names': 'front-proxy-client' }, /"requestheader-allowed-names" is not a JSON list/],
    [{ 'requestheader-group-headers': '[1,2]' }, /"requestheader-group-headers" is not a JSON list of strings/],
    [{ 'requestheader-username-headers': '[]' }, /"requestheader-username-headers" is empty/],
  ])('names the bad key: %j', (overrides, message) => {
    const data = overrides === undefined ? undefined : configMapData(overrides);
    expect(() => parseRequestHeaderConfig(data)).toThrow(message);
  });
});

describe('verifyClientChain', () => {
  const trust = () => frontProxyTrust(parseRequestHeaderConfig(configMapData()));

  it('accepts the front proxy certificate and remembers until when', () => {
    const verdict = verifyClientChain([proxyClient], trust(), now);
    expect(verdict).toEqual({ ok: true, commonName: 'front-proxy-client', validUntil: Date.parse(proxyClient.validTo) });
  });

  it.each([
    ['no certificate', () => [], /no client certificate/],
    ['a certificate from another CA', () => [proxyClientFromOtherCa], /is not signed by the front-proxy CA/],
    ['a name that is not allowed', () => [strangerFromSameCa], /common name "someone-else" is not one of the allowed/],
    ['an expired certificate', () => [expiredProxyClient], /expired at/],
    ['a server-only certificate', () => [serverOnlyCertificate], /lacks clientAuth/],
    ['the CA certificate itself, whose name is not allowed', () => [cert(frontProxyCa)], /common name "front-proxy-ca" is not one of the allowed/],
  ])('refuses %s', (_, chain, message) => {
    const verdict = verifyClientChain(chain(), trust(), now);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.message).toMatch(message);
  });

  it('accepts any name from the CA when no names are listed', () => {
    const open = frontProxyTrust(parseRequestHeaderConfig(configMapData({ 'requestheader-allowed-names': '[]' })));
    expect(verifyClientChain([strangerFromSameCa], open, now)).toMatchObject({ ok: true, commonName: 'someone-else' });
  });

  it('refuses a certificate before the CA validity starts', () => {
    expect(verifyClientChain([proxyClient], trust(), now - 30 * day).ok).toBe(false);
  });

  it('trusts every CA of a bundle (as during a CA rotation)', async () => {
    const next = await createCertificateAuthority({ commonName: 'next-front-proxy-ca', now: new Date(now - day) });
    const leaf = cert(await issueClientCertificate(next, { commonName: 'front-proxy-client', now: new Date(now - day) }));
    const bundleTrust = frontProxyTrust(parseRequestHeaderConfig(configMapData({ 'requestheader-client-ca-file': `${frontProxyCa.certificatePem}\n${next.certificatePem}` })));
    expect(verifyClientChain([leaf], bundleTrust, now)).toMatchObject({ ok: true });
    expect(verifyClientChain([proxyClient], bundleTrust, now)).toMatchObject({ ok: true });
    expect(verifyClientChain([leaf], trust(), now).ok).toBe(false);
  });
});

describe('frontProxyUser', () => {
  let config: IdentityHeaderNames;
  beforeAll(() => {
    config = identityHeaderNames(parseRequestHeaderConfig(configMapData({ 'requestheader-username-headers': '["X-Remote-User","X-Other-User"]', 'requestheader-uid-headers': '["X-Remote-Uid"]' })));
  });

  it('reads user, uid, every group and the extras (keys unescaped)', () => {
    const user = frontProxyUser(
      {
        'x-remote-user': ['system:serviceaccount:kube-system:horizontal-pod-autoscaler'],
        'x-remote-uid': ['1234'],
        'x-remote-group': ['system:serviceaccounts', 'system:authenticated'],
        'x-remote-extra-authentication.kubernetes.io%2fpod-name': ['hpa-0'],
        'x-remote-extra-scopes': ['a', 'b'],
        'x-unrelated': ['z'],
      },
      config,
    );
    expect(user).toEqual({
      username: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler',
      uid: '1234',
      groups: ['system:serviceaccounts', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/pod-name': ['hpa-0'], scopes: ['a', 'b'] },
    });
  });

  it('takes the first non-empty username header in the configured order', () => {
    expect(frontProxyUser({ 'x-remote-user': [''], 'x-other-user': ['bob'] }, config)?.username).toBe('bob');
  });

  it('has no user when no username header is present', () => {
    expect(frontProxyUser({ 'x-remote-group': ['system:masters'] }, config)).toBeUndefined();
  });

  it('keeps an extra named __proto__ as an ordinary key', () => {
    const user = frontProxyUser({ 'x-remote-user': ['eve'], 'x-remote-extra-__proto__': ['x'], 'x-remote-extra-%5f%5fproto%5f%5f': ['y'] }, config);
    expect(Object.getPrototypeOf(user?.extra)).toBe(Object.prototype);
    expect(Object.entries(user?.extra ?? {})).toEqual([['__proto__', ['x', 'y']]]);
  });

  it('matches header names whatever their case in the configuration', () => {
    const names = identityHeaderNames(parseRequestHeaderConfig(configMapData({ 'requestheader-username-headers': '["X-REMOTE-USER"]', 'requestheader-group-headers': '["x-Remote-Group"]' })));
    expect(frontProxyUser({ 'x-remote-user': ['alice'], 'x-remote-group': ['devs'] }, names)).toEqual({ username: 'alice', groups: ['devs'], extra: {} });
  });
});

describe('RequestAuthenticator', () => {
  const user = { 'x-remote-user': ['alice'], 'x-remote-group': ['devs'] };

  function authenticator(tokenReviewer?: TokenReviewer) {
    let trust = frontProxyTrust(parseRequestHeaderConfig(configMapData()));
    const clock = new FakeClock(now);
    const instance = new RequestAuthenticator({ trust: () => trust, clock, ...(tokenReviewer ? { tokenReviewer } : {}) });
    return {
      instance,
      setTrust: (data: Record<string, string>) => (trust = frontProxyTrust(parseRequestHeaderConfig(data))),
      setClock: (t: number) => clock.advance(t - clock.now()),
    };
  }

  it('trusts identity headers only behind a front-proxy certificate', async () => {
    const { instance } = authenticator();
    const connection = {};
    await expect(instance.authenticate({ connection, peerCertificates: () => [proxyClient], headers: user })).resolves.toEqual({
      ok: true,
      via: 'front-proxy',
      user: { username: 'alice', groups: ['devs'], extra: {} },
    });
    const spoofed = await instance.authenticate({ connection: {}, peerCertificates: () => [proxyClientFromOtherCa], headers: user });
    expect(spoofed).toMatchObject({ ok: false, message: expect.stringMatching(/not signed by the front-proxy CA/) as unknown });
    const none = await instance.authenticate({ connection: {}, peerCertificates: () => [], headers: user });
    expect(none).toMatchObject({ ok: false, message: 'no client certificate' });
  });

  it('verifies a connection once, and again when the trust changes or the certificate expires', async () => {
    const { instance, setTrust, setClock } = authenticator();
    let reads = 0;
    const request = { connection: {}, peerCertificates: () => (reads++, [proxyClient]), headers: user };
    await instance.authenticate(request);
    await instance.authenticate(request);
    expect(reads).toBe(1);
    setTrust(configMapData({ 'requestheader-client-ca-file': otherCa.certificatePem }));
    await expect(instance.authenticate(request)).resolves.toMatchObject({ ok: false });
    expect(reads).toBe(2);
    setTrust(configMapData());
    await instance.authenticate(request);
    await setClock(Date.parse(proxyClient.validTo) + 1);
    await expect(instance.authenticate(request)).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/expired/) as unknown });
    expect(reads).toBe(4);
  });

  it('reviews bearer tokens when enabled, caching the answer by digest', async () => {
    const seen: string[] = [];
    const reviewer: TokenReviewer = (token) => {
      seen.push(token);
      return Promise.resolve(token === 'good' ? { authenticated: true, user: { username: 'sa', groups: ['g'], extra: {} } } : { authenticated: false, error: 'invalid bearer token' });
    };
    const { instance, setClock } = authenticator(reviewer);
    const withToken = (token: string) => ({ connection: {}, peerCertificates: () => [], headers: { authorization: [`Bearer ${token}`] } });
    await expect(instance.authenticate(withToken('good'))).resolves.toMatchObject({ ok: true, via: 'token', user: { username: 'sa' } });
    await instance.authenticate(withToken('good'));
    await expect(instance.authenticate(withToken('bad'))).resolves.toEqual({ ok: false, message: 'bearer token rejected: invalid bearer token' });
    expect(seen).toEqual(['good', 'bad']);
    await setClock(now + 10_001);
    await instance.authenticate(withToken('good'));
    expect(seen).toEqual(['good', 'bad', 'good']);
  });

  it('ignores bearer tokens when token review is off', async () => {
    const { instance } = authenticator();
    const result = await instance.authenticate({ connection: {}, peerCertificates: () => [], headers: { authorization: ['Bearer good'] } });
    expect(result.ok).toBe(false);
  });
});
