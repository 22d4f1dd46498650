import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { createCertificateAuthority, type CertifiedKey } from '../pki/index.js';
import { RequestAuthenticator, type TokenReviewer } from './authenticator.js';
import {
  frontProxyTrust,
  frontProxyUser,
  identityHeaderNames,
  judgeClientCertificate,
  parseRequestHeaderConfig,
  type IdentityHeaderNames,
  type PeerCertificateVerdict,
} from './front-proxy.js';

const day = 86_400_000;
const now = Date.parse('2030-06-01T00:00:00Z');

let frontProxyCa: CertifiedKey;
let otherCa: CertifiedKey;
let frontProxyAnchor: string;
let otherAnchor: string;

beforeAll(async () => {
  const issued = new Date(now - 10 * day);
  frontProxyCa = await createCertificateAuthority({ commonName: 'front-proxy-ca', now: issued });
  otherCa = await createCertificateAuthority({ commonName: 'other-ca', now: issued });
  frontProxyAnchor = [...frontProxyTrust(parseRequestHeaderConfig(configMapData())).anchors][0] ?? '';
  otherAnchor = [...frontProxyTrust(parseRequestHeaderConfig(configMapData({ 'requestheader-client-ca-file': otherCa.certificatePem }))).anchors][0] ?? '';
});

/** TLS's verdict on a front-proxy client certificate that verified; what the server tests obtain over real TLS. */
const verified = (overrides: Partial<PeerCertificateVerdict> = {}): PeerCertificateVerdict => ({
  presented: true,
  authorized: true,
  commonName: 'front-proxy-client',
  validUntil: now + 300 * day,
  anchor: frontProxyAnchor,
  ...overrides,
});
const unverified = (authorizationError: string): PeerCertificateVerdict => ({
  presented: true,
  authorized: false,
  authorizationError,
  commonName: 'front-proxy-client',
  validUntil: now + 300 * day,
});
const noCertificate: PeerCertificateVerdict = { presented: false, authorized: false, commonName: '', validUntil: 0 };

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

describe('judgeClientCertificate', () => {
  const trust = () => frontProxyTrust(parseRequestHeaderConfig(configMapData()));

  it('accepts the front proxy certificate TLS verified up to the front-proxy CA', () => {
    expect(judgeClientCertificate(verified(), trust(), now)).toEqual({ ok: true, commonName: 'front-proxy-client' });
  });

  it.each([
    ['no certificate', () => noCertificate, /^no client certificate$/],
    [
      'a certificate TLS could not chain to the CA',
      () => unverified('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'),
      /"front-proxy-client" is not signed by the front-proxy CA \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\)/,
    ],
    ['a certificate TLS found expired', () => unverified('CERT_HAS_EXPIRED'), /has expired/],
    ['a certificate not valid yet', () => unverified('CERT_NOT_YET_VALID'), /is not valid yet/],
    ['a server-only certificate', () => unverified('INVALID_PURPOSE'), /lacks clientAuth/],
    ['a chain to a CA that is no longer trusted', () => verified({ anchor: otherAnchor }), /no longer trusted/],
    ['a certificate that expired since the connection was made', () => verified({ validUntil: now - 1 }), /expired at 2030-05-31T23:59:59.999Z/],
    ['a name that is not allowed', () => verified({ commonName: 'someone-else' }), /common name "someone-else" is not one of the allowed/],
  ])('refuses %s', (_, peer, message) => {
    const verdict = judgeClientCertificate(peer(), trust(), now);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.message).toMatch(message);
  });

  it('accepts any name from the CA when no names are listed', () => {
    const open = frontProxyTrust(parseRequestHeaderConfig(configMapData({ 'requestheader-allowed-names': '[]' })));
    expect(judgeClientCertificate(verified({ commonName: 'someone-else' }), open, now)).toMatchObject({ ok: true, commonName: 'someone-else' });
  });

  it('trusts chains to every CA of a bundle (as during a CA rotation)', () => {
    const bundleTrust = frontProxyTrust(
      parseRequestHeaderConfig(configMapData({ 'requestheader-client-ca-file': `${frontProxyCa.certificatePem}\n${otherCa.certificatePem}` })),
    );
    expect(judgeClientCertificate(verified({ anchor: otherAnchor }), bundleTrust, now)).toMatchObject({ ok: true });
    expect(judgeClientCertificate(verified(), bundleTrust, now)).toMatchObject({ ok: true });
    expect(judgeClientCertificate(verified({ anchor: otherAnchor }), trust(), now).ok).toBe(false);
  });
});

describe('frontProxyUser', () => {
  let config: IdentityHeaderNames;
  beforeAll(() => {
    config = identityHeaderNames(
      parseRequestHeaderConfig(
        configMapData({ 'requestheader-username-headers': '["X-Remote-User","X-Other-User"]', 'requestheader-uid-headers': '["X-Remote-Uid"]' }),
      ),
    );
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
    const names = identityHeaderNames(
      parseRequestHeaderConfig(configMapData({ 'requestheader-username-headers': '["X-REMOTE-USER"]', 'requestheader-group-headers': '["x-Remote-Group"]' })),
    );
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
    await expect(instance.authenticate({ connection: {}, peerCertificate: () => verified(), headers: user })).resolves.toEqual({
      ok: true,
      via: 'front-proxy',
      user: { username: 'alice', groups: ['devs'], extra: {} },
    });
    const spoofed = await instance.authenticate({ connection: {}, peerCertificate: () => unverified('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), headers: user });
    expect(spoofed).toMatchObject({ ok: false, message: expect.stringMatching(/not signed by the front-proxy CA/) as unknown });
    const none = await instance.authenticate({ connection: {}, peerCertificate: () => noCertificate, headers: user });
    expect(none).toMatchObject({ ok: false, message: 'no client certificate' });
  });

  it("asks for a connection's certificate once, and judges it again when the trust changes or it expires", async () => {
    const { instance, setTrust, setClock } = authenticator();
    let asked = 0;
    const validUntil = now + day;
    const request = { connection: {}, peerCertificate: () => (asked++, verified({ validUntil })), headers: user };
    await expect(instance.authenticate(request)).resolves.toMatchObject({ ok: true });
    await instance.authenticate(request);
    expect(asked).toBe(1);
    setTrust(configMapData({ 'requestheader-client-ca-file': otherCa.certificatePem }));
    await expect(instance.authenticate(request)).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/no longer trusted/) as unknown });
    setTrust(configMapData());
    await expect(instance.authenticate(request)).resolves.toMatchObject({ ok: true });
    await setClock(validUntil + 1);
    await expect(instance.authenticate(request)).resolves.toMatchObject({ ok: false, message: expect.stringMatching(/expired/) as unknown });
    expect(asked).toBe(1);
  });

  it('reviews bearer tokens when enabled, caching the answer by digest', async () => {
    const seen: string[] = [];
    const reviewer: TokenReviewer = (token) => {
      seen.push(token);
      return Promise.resolve(
        token === 'good'
          ? { authenticated: true, user: { username: 'sa', groups: ['g'], extra: {} } }
          : { authenticated: false, error: 'invalid bearer token' },
      );
    };
    const { instance, setClock } = authenticator(reviewer);
    const withToken = (token: string) => ({ connection: {}, peerCertificate: () => noCertificate, headers: { authorization: [`Bearer ${token}`] } });
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
    const result = await instance.authenticate({ connection: {}, peerCertificate: () => noCertificate, headers: { authorization: ['Bearer good'] } });
    expect(result.ok).toBe(false);
  });
});
