import { X509Certificate } from 'node:crypto';
import type { UserInfo } from './user.js';

/** What kube-apiserver publishes in ConfigMap kube-system/extension-apiserver-authentication about its front proxy. */
export interface RequestHeaderConfig {
  readonly clientCaPem: string;
  /** Common names the proxy's client certificate may have; empty means any certificate from the CA. */
  readonly allowedNames: readonly string[];
  readonly usernameHeaders: readonly string[];
  readonly uidHeaders: readonly string[];
  readonly groupHeaders: readonly string[];
  readonly extraHeaderPrefixes: readonly string[];
}

/** The identity header names of a config, lower-cased as node delivers incoming header names. */
export interface IdentityHeaderNames {
  readonly username: readonly string[];
  readonly uid: readonly string[];
  readonly group: readonly string[];
  readonly extraPrefixes: readonly string[];
}

/** A config plus what every request needs from it, prepared once: a new object whenever the config changes. */
export interface FrontProxyTrust {
  readonly config: RequestHeaderConfig;
  readonly authorities: readonly X509Certificate[];
  /** SHA-256 fingerprints of the authorities, as TLS reports the CA a client's chain was verified up to. */
  readonly anchors: ReadonlySet<string>;
  readonly headerNames: IdentityHeaderNames;
}

export const authenticationConfigMap = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;

/** Parses the ConfigMap's data; throws an error naming the key when it is missing or malformed. */
export function parseRequestHeaderConfig(data: Readonly<Record<string, string>> | undefined): RequestHeaderConfig {
  const where = `ConfigMap ${authenticationConfigMap.namespace}/${authenticationConfigMap.name}`;
  const clientCaPem = data?.['requestheader-client-ca-file'];
  if (!clientCaPem?.includes('BEGIN CERTIFICATE'))
    throw new Error(
      `${where}: key "requestheader-client-ca-file" is missing or holds no PEM certificate; is kube-apiserver running with --requestheader-client-ca-file?`,
    );
  const list = (key: string): string[] => {
    const raw = data?.[key];
    if (raw === undefined || raw.trim() === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`${where}: key "${key}" is not a JSON list of strings: ${raw.slice(0, 80)}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) throw new Error(`${where}: key "${key}" is not a JSON list of strings`);
    return parsed;
  };
  const config: RequestHeaderConfig = {
    clientCaPem,
    allowedNames: list('requestheader-allowed-names'),
    usernameHeaders: list('requestheader-username-headers'),
    uidHeaders: list('requestheader-uid-headers'),
    groupHeaders: list('requestheader-group-headers'),
    extraHeaderPrefixes: list('requestheader-extra-headers-prefix'),
  };
  if (config.usernameHeaders.length === 0)
    throw new Error(`${where}: key "requestheader-username-headers" is empty; without it no user can be read from a proxied request`);
  return config;
}

export function frontProxyTrust(config: RequestHeaderConfig): FrontProxyTrust {
  const authorities = parseCertificateBundle(config.clientCaPem, 'requestheader-client-ca-file');
  return { config, authorities, anchors: new Set(authorities.map((ca) => ca.fingerprint256)), headerNames: identityHeaderNames(config) };
}

export function identityHeaderNames(config: RequestHeaderConfig): IdentityHeaderNames {
  const lower = (names: readonly string[]) => names.map((name) => name.toLowerCase());
  return {
    username: lower(config.usernameHeaders),
    uid: lower(config.uidHeaders),
    group: lower(config.groupHeaders),
    extraPrefixes: lower(config.extraHeaderPrefixes),
  };
}

/** Splits a PEM bundle into certificates, naming the bundle when one does not parse. */
export function parseCertificateBundle(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${what}: no PEM certificate found`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new Error(`${what}: certificate #${i + 1} does not parse: ${(error as Error).message}`, { cause: error });
    }
  });
}

/**
 * What the TLS handshake established about a client's certificate. The server's TLS layer verifies the chain
 * (signatures, validity dates, CA flags, and the clientAuth purpose) against the front-proxy CA it was given.
 */
export interface PeerCertificateVerdict {
  /** False when the client sent no certificate. */
  readonly presented: boolean;
  readonly authorized: boolean;
  /** The TLS layer's reason when not authorized, e.g. CERT_HAS_EXPIRED. */
  readonly authorizationError?: string;
  readonly commonName: string;
  /** The earliest expiry (ms) in the verified chain: a kept-alive connection outlives its certificate otherwise. */
  readonly validUntil: number;
  /** SHA-256 fingerprint of the CA the chain was verified up to. */
  readonly anchor?: string;
}

export type ChainVerdict = { ok: true; commonName: string } | { ok: false; message: string };

/**
 * Judges a connection's certificate for one request, under the trust current now. TLS verified the chain when
 * the connection was made; what can change since is checked here: the CA it chains to may have been dropped
 * from the trust (TLS cannot re-verify an open connection), the certificate may have expired, and the allowed
 * names may have changed.
 */
export function judgeClientCertificate(peer: PeerCertificateVerdict, trust: FrontProxyTrust, now: number): ChainVerdict {
  if (!peer.presented) return { ok: false, message: 'no client certificate' };
  const subject = `client certificate "${peer.commonName}"`;
  if (!peer.authorized) return { ok: false, message: `${subject} ${handshakeProblem(peer.authorizationError)}` };
  if (peer.anchor === undefined || !trust.anchors.has(peer.anchor))
    return { ok: false, message: `${subject} is not signed by the front-proxy CA (it chains to a CA that is no longer trusted)` };
  if (now > peer.validUntil) return { ok: false, message: `${subject} expired at ${new Date(peer.validUntil).toISOString()}` };
  if (trust.config.allowedNames.length > 0 && !trust.config.allowedNames.includes(peer.commonName)) {
    return { ok: false, message: `client certificate common name "${peer.commonName}" is not one of the allowed front-proxy names` };
  }
  return { ok: true, commonName: peer.commonName };
}

function handshakeProblem(code: string | undefined): string {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'has expired (or a certificate of its chain has)';
    case 'CERT_NOT_YET_VALID':
      return 'is not valid yet (or a certificate of its chain is not)';
    case 'INVALID_PURPOSE':
      return 'is not a client certificate (extended key usage lacks clientAuth)';
    case undefined:
      return 'is not signed by the front-proxy CA';
    default:
      return `is not signed by the front-proxy CA (${code})`;
  }
}

export function commonNameOf(certificate: X509Certificate): string {
  const line = certificate.subject.split('\n').find((l) => l.startsWith('CN='));
  return line ? line.slice(3) : '';
}

/** Request headers with every value of repeated headers kept apart, names lower-case (node's `headersDistinct`). */
export type DistinctHeaders = Readonly<Record<string, readonly string[] | undefined>>;

/**
 * Reads the user the front proxy vouches for from the configured headers: the first non-empty username
 * header wins, groups and extras collect every value. No username means the proxy asserted nobody.
 * Runs on every proxied request, hence plain loops rather than intermediate arrays.
 */
export function frontProxyUser(headers: DistinctHeaders, names: IdentityHeaderNames): UserInfo | undefined {
  const username = firstValue(headers, names.username);
  if (username === undefined) return undefined;
  const groups: string[] = [];
  for (const name of names.group) {
    const values = headers[name];
    if (values) groups.push(...values);
  }
  const extra = names.extraPrefixes.length === 0 ? {} : extraValues(headers, names.extraPrefixes);
  const uid = firstValue(headers, names.uid);
  return uid === undefined ? { username, groups, extra } : { username, uid, groups, extra };
}

function firstValue(headers: DistinctHeaders, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = headers[name]?.find((v) => v !== '');
    if (value !== undefined) return value;
  }
  return undefined;
}

function extraValues(headers: DistinctHeaders, prefixes: readonly string[]): Record<string, string[]> {
  // A Map, then fromEntries: keys come off the wire, and one named "__proto__" must stay an ordinary key.
  const extra = new Map<string, string[]>();
  for (const name in headers) {
    const values = headers[name];
    if (!values) continue;
    for (const prefix of prefixes) {
      if (name.length <= prefix.length || !name.startsWith(prefix)) continue;
      const key = safeUnescape(name.slice(prefix.length));
      extra.set(key, [...(extra.get(key) ?? []), ...values]);
      break;
    }
  }
  return Object.fromEntries(extra);
}

function safeUnescape(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
