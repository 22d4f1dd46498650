import pg from 'pg';
import type { ParseInput, ParseResult } from './definition.js';
import { metadataInput, podIdentityOf, prefixed } from './definition.js';
import { checkRules, field, parseMetadata, positiveTarget, type MetadataOf, type Rule, type Source } from './metadata.js';
import { sourceLabel } from './source-errors.js';
import { singleMetricScaler } from './single-metric.js';
import { sqlSource, unusableSource, type SqlPool } from './sql-query.js';

const fromAuthOrTrigger = ['authParams', 'triggerMetadata'] as const;

const schema = {
  query: field.string(),
  targetQueryValue: field.float(),
  activationTargetQueryValue: field.float({ default: 0 }),
  connection: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
  host: field.string({ from: fromAuthOrTrigger, optional: true }),
  port: field.string({ from: fromAuthOrTrigger, optional: true }),
  userName: field.string({ from: fromAuthOrTrigger, optional: true }),
  dbName: field.string({ from: fromAuthOrTrigger, optional: true }),
  sslmode: field.string({ from: fromAuthOrTrigger, optional: true }),
  password: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
};

export type PostgresMetadata = MetadataOf<typeof schema>;
export interface PostgresConfig extends PostgresMetadata {
  hostFrom?: Source;
}

const sslModes = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Without a connection string, KEDA needs every part of one. */
const partsRules: Rule<PostgresConfig>[] = (['host', 'port', 'userName', 'dbName', 'sslmode'] as const).map((part) => ({
  fields: ['connection', part],
  check: (m) => (m.connection === undefined && m[part] === undefined ? `no ${part} given` : undefined),
}));

const rules: Rule<PostgresConfig>[] = [
  positiveTarget('targetQueryValue'),
  ...partsRules,
  {
    fields: ['sslmode'],
    // The value may come from a Secret, so it is not echoed.
    check: (m) => (m.sslmode !== undefined && !sslModes.includes(m.sslmode) ? `sslmode must be one of [${sslModes.join(' ')}]` : undefined),
  },
];

function podIdentityRules(input: ParseInput): Rule<PostgresConfig>[] {
  const { provider } = podIdentityOf(input);
  if (provider === undefined) return [];
  return [{ fields: [], check: () => `podIdentity provider "${provider}" is not supported for postgresql by swell` }];
}

export function parsePostgres(input: ParseInput): ParseResult<PostgresConfig> {
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, [...rules, ...podIdentityRules(input)])];
  const hostFrom = parsed.origins.connection ?? parsed.origins.host;
  return { config: { ...parsed.values, ...(hostFrom ? { hostFrom } : {}) }, errors: prefixed('error parsing postgresql metadata', errors) };
}

/**
 * libpq's keyword=value connection string ("host=db port=5432 user=app password='a b'"): values may be quoted
 * with single quotes, and a backslash escapes the next character.
 */
export function parseConninfo(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const pattern = /\s*([A-Za-z_]+)\s*=\s*('((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)*))/y;
  let at = 0;
  while (at < text.length) {
    if (text.slice(at).trim() === '') break;
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match?.[1]) throw new Error('connection string is neither a postgres:// URL nor keyword=value pairs');
    result[match[1]] = (match[3] ?? match[4] ?? '').replace(/\\(.)/g, '$1');
    at = pattern.lastIndex;
  }
  return result;
}

/** What pgx's sslmode means for node-postgres: no TLS, TLS without checks, the CA only, or CA and host name. */
export function tlsFor(sslmode: string | undefined): pg.ClientConfig['ssl'] {
  if (sslmode === 'require') return { rejectUnauthorized: false };
  if (sslmode === 'verify-ca') return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
  if (sslmode === 'verify-full') return { rejectUnauthorized: true };
  // disable, and allow/prefer: node-postgres cannot fall back from TLS to plain, so these connect plainly.
  return false;
}

/** One set of options for node-postgres, from a connection string (URL or keyword=value) or from the parts. */
export function postgresConnectionOptions(m: PostgresMetadata): pg.ClientConfig {
  if (m.connection !== undefined) {
    const parts = /^postgres(ql)?:\/\//.test(m.connection) ? urlParts(m.connection) : parseConninfo(m.connection);
    return {
      host: parts.host ?? 'localhost',
      port: Number(parts.port ?? 5432),
      ...(parts.user !== undefined ? { user: parts.user } : {}),
      ...(parts.password !== undefined ? { password: parts.password } : m.password !== undefined ? { password: m.password } : {}),
      ...(parts.dbname !== undefined ? { database: parts.dbname } : {}),
      ssl: tlsFor(parts.sslmode),
    };
  }
  return {
    host: m.host ?? '',
    port: Number(m.port),
    user: m.userName ?? '',
    database: m.dbName ?? '',
    ...(m.password !== undefined ? { password: m.password } : {}),
    ssl: tlsFor(m.sslmode),
  };
}

function urlParts(connection: string): Record<string, string | undefined> {
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    throw new Error('connection string is not a valid postgres:// URL');
  }
  const decode = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));
  return {
    host: decode(url.hostname.replace(/^\[|\]$/g, '')),
    port: decode(url.port),
    user: decode(url.username),
    password: decode(url.password),
    dbname: decode(url.pathname.replace(/^\//, '')),
    sslmode: url.searchParams.get('sslmode') ?? undefined,
  };
}

/** A node-postgres pool for one server and account; a few connections serve every ScaledObject reading there. */
class PostgresPool implements SqlPool {
  private readonly pool: pg.Pool;
  private lastError: unknown;
  constructor(options: pg.ClientConfig) {
    this.pool = new pg.Pool({ ...options, max: 4, idleTimeoutMillis: 60_000, connectionTimeoutMillis: 10_000, application_name: 'swell' });
    this.pool.on('error', (error) => {
      // An idle connection dropped by the server; the next query opens a new one.
      this.lastError = error;
    });
  }
  async firstValue(query: string, timeoutMs: number): Promise<unknown> {
    const result = await this.pool.query({ text: query, rowMode: 'array', query_timeout: timeoutMs } as pg.QueryArrayConfig);
    const row = result.rows[0] as unknown[] | undefined;
    return row === undefined ? undefined : row[0];
  }
  connectionError(): unknown {
    return this.lastError;
  }
  close(): Promise<void> {
    return this.pool.end();
  }
}

export const postgresqlScaler = singleMetricScaler<PostgresConfig, number>({
  types: ['postgresql'],
  schema,
  example: {
    metadata: {
      host: '127.0.0.1',
      port: '1',
      userName: 'reader',
      dbName: 'orders',
      sslmode: 'disable',
      query: 'SELECT count(*) FROM jobs',
      targetQueryValue: '5',
    },
    authParams: { password: 'pw' },
  },
  parse: parsePostgres,
  metricName: () => 'postgresql',
  target: (config) => config.targetQueryValue,
  source: (config, deps, timeoutMs) => {
    let options: ReturnType<typeof postgresConnectionOptions>;
    try {
      options = postgresConnectionOptions(config);
    } catch (error) {
      return unusableSource('postgresql', error);
    }
    const address = `${String(options.host)}:${String(options.port)}/${options.database ?? ''}`;
    const password = typeof options.password === 'string' ? options.password : undefined;
    return sqlSource(
      {
        server: { host: options.host, port: options.port, user: options.user, database: options.database, ssl: JSON.stringify(options.ssl ?? false) },
        secrets: { password, connection: config.connection },
        label: sourceLabel('PostgreSQL', address, config.hostFrom),
        hidden: [config.connection, password].filter((v): v is string => v !== undefined),
        open: () => new PostgresPool(options),
        query: config.query,
        failure: 'could not query postgreSQL',
      },
      'postgresql',
      deps,
      timeoutMs,
    );
  },
  value: (count) => count,
  activation: (config) => config.activationTargetQueryValue,
});
