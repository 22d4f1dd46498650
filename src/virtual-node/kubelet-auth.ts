import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { V1SubjectAccessReview, V1TokenReview } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/client.js';
import type { Clock } from '../controller/clock.js';

// Who may call the kubelet API, decided the way a kubelet with webhook authentication and authorization does:
// a client certificate signed by the cluster's client CA (how kube-apiserver calls, with
// --kubelet-client-certificate), or a bearer token checked with a TokenReview; then a SubjectAccessReview for
// the node's proxy (or log) subresource. Decisions are cached briefly, with the kubelet's TTLs.

export interface Caller {
  readonly user: string;
  readonly groups: readonly string[];
}

export interface AccessCheck {
  /** The authenticated caller, or undefined (401). */
  authenticate(request: IncomingMessage): Promise<Caller | undefined>;
  /** Whether the caller may read this node's logs (403 otherwise). */
  mayReadLogs(caller: Caller): Promise<boolean>;
}

/** Caller from a verified TLS client certificate: user = CN, groups = O. */
export function certificateCaller(request: IncomingMessage): Caller | undefined {
  const socket = request.socket as TLSSocket;
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[] | undefined> | undefined;
  const user = single(subject?.CN);
  if (!user) return undefined;
  const organizations = subject?.O;
  return { user, groups: organizations === undefined ? [] : Array.isArray(organizations) ? organizations : [organizations] };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

/** Asks the API server: TokenReview for tokens, SubjectAccessReview for permissions. */
export class WebhookAccessCheck implements AccessCheck {
  private readonly tokens = new TtlCache<Caller | undefined>();
  private readonly decisions = new TtlCache<boolean>();

  constructor(
    private readonly client: KubeClient,
    private readonly nodeName: string,
    private readonly clock: Clock,
  ) {}

  async authenticate(request: IncomingMessage): Promise<Caller | undefined> {
    const fromCertificate = certificateCaller(request);
    if (fromCertificate) return fromCertificate;
    const token = bearerToken(request);
    if (!token) return undefined;
    const cached = this.tokens.get(token, this.clock.now());
    if (cached.hit) return cached.value;
    const review = await this.client.request<V1TokenReview>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = review.status?.user;
    const caller = review.status?.authenticated && user?.username ? { user: user.username, groups: user.groups ?? [] } : undefined;
    // Kubelet defaults: authenticated tokens for 2 minutes; rejections are not cached.
    if (caller) this.tokens.set(token, caller, this.clock.now() + 120_000);
    return caller;
  }

  async mayReadLogs(caller: Caller): Promise<boolean> {
    // The kubelet authorizes /containerLogs as nodes/proxy; nodes/log also grants reading logs here.
    for (const subresource of ['proxy', 'log']) {
      if (await this.allowed(caller, subresource)) return true;
    }
    return false;
  }

  private async allowed(caller: Caller, subresource: string): Promise<boolean> {
    const key = JSON.stringify([caller.user, [...caller.groups].sort(), subresource]);
    const cached = this.decisions.get(key, this.clock.now());
    if (cached.hit) return cached.value;
    const review = await this.client.request<V1SubjectAccessReview>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: caller.user, groups: [...caller.groups], resourceAttributes: { verb: 'get', resource: 'nodes', subresource, name: this.nodeName } },
      },
    });
    const allowed = review.status?.allowed === true;
    // Kubelet defaults: allow decisions live 5 minutes, denials 30 seconds.
    this.decisions.set(key, allowed, this.clock.now() + (allowed ? 300_000 : 30_000));
    return allowed;
  }
}

class TtlCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  get(key: string, now: number): { hit: true; value: T } | { hit: false } {
    const entry = this.entries.get(key);
    if (!entry) return { hit: false };
    if (entry.until <= now) {
      this.entries.delete(key);
      return { hit: false };
    }
    return { hit: true, value: entry.value };
  }

  set(key: string, value: T, until: number): void {
    if (this.entries.size > 1000) this.entries.clear();
    this.entries.set(key, { value, until });
  }
}
