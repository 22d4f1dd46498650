/** The identity a request acts as, as Kubernetes authenticators produce it. */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** Authenticates a request; `undefined` means "no credentials this authenticator understands". */
export type AuthenticationResult = { ok: true; user: UserInfo; via: 'front-proxy' | 'token' } | { ok: false; message: string };
