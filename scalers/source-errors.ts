import type { Source } from './metadata.js';

/** A read that failed at the source (server down, bad reply); the message never carries credentials. */
export class ScalerReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScalerReadError';
  }
}

/**
 * Plain words for why a source could not be read. Client libraries report a dead server in their own terms
 * ("Reached the max retries per request limit", "KafkaJSNumberOfRetriesExceeded"); the operating system's
 * error code underneath says what happened, so it is looked for along the cause chain and told with the
 * source's name. `source` is a name that is safe to show (see sourceLabel); the library's own message is used
 * only when no code is known, after `redact` has removed values that must not be shown.
 */
export function describeSourceError(err: unknown, source: string, options: { connectionError?: unknown; redact?: (text: string) => string } = {}): string {
  const code = errorCode(err) ?? errorCode(options.connectionError);
  const plain = code !== undefined ? plainWords(code, source) : undefined;
  if (plain) return plain;
  const message = err instanceof Error ? err.message : String(err);
  if (/max retries per request|connection is closed/i.test(message)) return `lost the connection to ${source}`;
  return `${source}: ${(options.redact ?? ((t: string) => t))(message)}`;
}

function plainWords(code: string, source: string): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused to ${source}`;
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return `timed out connecting to ${source}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host of ${source} was not found (DNS)`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `connection reset by ${source}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${source}`;
    default:
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) return `TLS with ${source} failed: ${code}`;
      return undefined;
  }
}

/** The first system error code (ECONNREFUSED, CERT_HAS_EXPIRED...) along the chain of causes. */
function errorCode(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const { code, cause, originalError, errors } = err as { code?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  const nested: unknown[] = [cause, originalError, ...(Array.isArray(errors) ? (errors as unknown[]) : [])];
  for (const inner of nested) {
    const found = errorCode(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * How a source is named in errors and logs: by its address when the user wrote it in the trigger's metadata,
 * or, when the address came from a TriggerAuthentication (so maybe a Secret) or the target's env, by where it
 * came from, never by the value.
 */
export function sourceLabel(kind: string, address: string, from: Source | undefined): string {
  if (from === undefined || from === 'triggerMetadata') return `${kind} ${address}`;
  return `${kind} (address from ${from === 'authParams' ? 'the TriggerAuthentication' : 'the scale target env'})`;
}

/** Replaces every occurrence of the given values (and of their host parts) with <hidden>. */
export function redactor(hidden: readonly string[]): (text: string) => string {
  const values = [...new Set(hidden.flatMap((v) => [v, hostOf(v)]).filter((v) => v.length >= 3))].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (text) => text;
  return (text) => values.reduce((acc, value) => acc.split(value).join('<hidden>'), text);
}

function hostOf(address: string): string {
  const withoutScheme = address.replace(/^[a-z]+:\/\//i, '');
  const colon = withoutScheme.lastIndexOf(':');
  return (colon > 0 ? withoutScheme.slice(0, colon) : withoutScheme).replace(/^\[|\]$/g, '');
}
