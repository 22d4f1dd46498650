import { createHash } from 'node:crypto';
import {
  frontProxyUser,
  judgeClientCertificate,
  type ChainVerdict,
  type DistinctHeaders,
  type FrontProxyTrust,
  type PeerCertificateVerdict,
} from './front-proxy.js';
import type { Clock } from '../controller/clock.js';
import { TtlCache } from './ttl-cache.js';
import type { AuthenticationResult, UserInfo } from './user.js';

/** Asks Kubernetes who a bearer token belongs to (a TokenReview). */
export type TokenReviewer = (token: string, signal?: AbortSignal) => Promise<{ authenticated: true; user: UserInfo } | { authenticated: false; error: string }>;

/** The parts of a request authentication looks at. */
export interface CredentialsView {
  /** Identity of the TLS connection, so that its certificate is looked at once rather than per request. */
  readonly connection: object;
  /** What TLS established about the client's certificate. Called at most once per connection. */
  readonly peerCertificate: () => PeerCertificateVerdict;
  readonly headers: DistinctHeaders;
  /** Aborted when the client goes away; read only when a token has to be reviewed. */
  readonly signal?: AbortSignal;
}

export interface RequestAuthenticatorOptions {
  /** The current front-proxy trust; undefined until the ConfigMap has been read. */
  readonly trust: () => FrontProxyTrust | undefined;
  /** Optional: accept bearer tokens by TokenReview, for clients that talk to the server directly. */
  readonly tokenReviewer?: TokenReviewer;
  readonly clock: Clock;
  /** How long a token review answer is reused; default 10 s, as kube's delegated authentication does. */
  readonly tokenCacheTtlMs?: number;
  readonly tokenCacheMaxEntries?: number;
}

/**
 * Authenticates requests as kube's delegated authentication does: a client certificate from the front-proxy
 * CA with an allowed common name makes the identity headers trustworthy; otherwise a bearer token may be
 * reviewed. Identity headers from anyone else are ignored.
 */
export class RequestAuthenticator {
  private readonly connections = new WeakMap<object, PeerCertificateVerdict>();
  private readonly tokens: TtlCache<Awaited<ReturnType<TokenReviewer>>>;
  private readonly tokenTtlMs: number;

  constructor(private readonly options: RequestAuthenticatorOptions) {
    this.tokenTtlMs = options.tokenCacheTtlMs ?? 10_000;
    this.tokens = new TtlCache(options.tokenCacheMaxEntries ?? 1_000, options.clock);
  }

  async authenticate(request: CredentialsView): Promise<AuthenticationResult> {
    const certificate = this.verifyConnection(request);
    if (certificate.ok) {
      const trust = this.options.trust();
      const user = trust ? frontProxyUser(request.headers, trust.headerNames) : undefined;
      if (user) return { ok: true, user, via: 'front-proxy' };
    }
    const token = bearerToken(request.headers);
    if (token !== undefined && this.options.tokenReviewer) return this.reviewToken(token, request.signal);
    if (!certificate.ok) return { ok: false, message: certificate.message };
    return { ok: false, message: `front-proxy certificate "${certificate.commonName}" sent no user header` };
  }

  private verifyConnection(request: CredentialsView): ChainVerdict {
    const trust = this.options.trust();
    if (!trust) return { ok: false, message: 'front-proxy authentication is not configured yet' };
    let peer = this.connections.get(request.connection);
    if (!peer) {
      peer = request.peerCertificate();
      this.connections.set(request.connection, peer);
    }
    return judgeClientCertificate(peer, trust, this.options.clock.now());
  }

  private async reviewToken(token: string, signal?: AbortSignal): Promise<AuthenticationResult> {
    const reviewer = this.options.tokenReviewer;
    if (!reviewer) return { ok: false, message: 'bearer tokens are not accepted' };
    // The cache key is a digest so that tokens never sit in memory longer than the request that carried them.
    const key = createHash('sha256').update(token).digest('base64');
    let review = this.tokens.get(key);
    if (!review) {
      review = await reviewer(token, signal);
      this.tokens.set(key, review, this.tokenTtlMs);
    }
    return review.authenticated ? { ok: true, user: review.user, via: 'token' } : { ok: false, message: `bearer token rejected: ${review.error}` };
  }
}

function bearerToken(headers: DistinctHeaders): string | undefined {
  const value = headers.authorization?.[0];
  const match = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return match?.[1];
}
