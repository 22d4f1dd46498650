import mysql from 'mysql2/promise';
import type { ParseInput, ParseResult } from './definition.js';
import { metadataInput, podIdentityOf, prefixed } from './definition.js';
import { checkRules, field, parseMetadata, positiveTarget, type MetadataOf, type Rule, type Source } from './metadata.js';
import { sourceLabel } from './source-errors.js';
import { singleMetricScaler } from './single-metric.js';
import { sqlSource, unusableSource, type SqlPool } from './sql-query.js';

const fromAuthOrTrigger = ['authParams', 'triggerMetadata'] as const;

const schema = {
  query: field.string(),
  queryValue: field.float(),
  activationQueryValue: field.float({ default: 0 }),
  metricName: field.string({ optional: true }),
  connectionString: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
  username: field.string({ from: fromAuthOrTrigger, optional: true }),
  password: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
  host: field.string({ from: fromAuthOrTrigger, optional: true }),
  port: field.string({ from: fromAuthOrTrigger, optional: true }),
  dbName: field.string({ from: fromAuthOrTrigger, optional: true }),
};

export type MySqlMetadata = MetadataOf<typeof schema>;
export interface MySqlConfig extends MySqlMetadata {
  hostFrom?: Source;
}

/** What Go's MySQL driver reads from a DSN: [user[:password]@][net[(address)]]/dbname[?params]. */
export interface MySqlDsn {
  user?: string;
  password?: string;
  host: string;
  port: number;
  database?: string;
  params: Record<string, string>;
}

export function parseMySqlDsn(dsn: string): MySqlDsn {
  const slash = dsn.lastIndexOf('/');
  if (slash < 0) throw new Error('connection string is not a MySQL DSN ([user[:password]@][tcp(host:port)]/dbname[?param=value])');
  const [databasePart = '', query = ''] = splitOnce(dsn.slice(slash + 1), '?');
  const head = dsn.slice(0, slash);
  const at = head.lastIndexOf('@');
  const credentials = at >= 0 ? head.slice(0, at) : undefined;
  const location = at >= 0 ? head.slice(at + 1) : head;
  const [user, password] = credentials === undefined ? [undefined, undefined] : splitOnce(credentials, ':');
  const address = /^(?:[a-z0-9]+)?(?:\((.*)\))?$/.exec(location);
  if (!address) throw new Error('connection string is not a MySQL DSN ([user[:password]@][tcp(host:port)]/dbname[?param=value])');
  const [host, port] = hostPort(address[1] ?? '127.0.0.1:3306');
  return {
    ...(user !== undefined && user !== '' ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
    host,
    port,
    ...(databasePart !== '' ? { database: databasePart } : {}),
    params: Object.fromEntries(new URLSearchParams(query)),
  };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function hostPort(address: string): [string, number] {
  const match = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(address);
  if (!match) throw new Error('connection string address must be host:port');
  return [(match[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1', Number(match[2] ?? 3306)];
}

const partsRules: Rule<MySqlConfig>[] = (['host', 'port', 'username', 'dbName'] as const).map((part) => ({
  fields: ['connectionString', part],
  check: (m) => (m.connectionString === undefined && m[part] === undefined ? `no ${part} given` : undefined),
}));

const rules: Rule<MySqlConfig>[] = [positiveTarget('queryValue'), ...partsRules];

function podIdentityRules(input: ParseInput): Rule<MySqlConfig>[] {
  const { provider } = podIdentityOf(input);
  if (provider === undefined) return [];
  return [{ fields: [], check: () => `podIdentity provider "${provider}" is not supported for mysql by swell` }];
}

export function parseMySql(input: ParseInput): ParseResult<MySqlConfig> {
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, [...rules, ...podIdentityRules(input)])];
  const hostFrom = parsed.origins.connectionString ?? parsed.origins.host;
  return { config: { ...parsed.values, ...(hostFrom ? { hostFrom } : {}) }, errors: prefixed('error parsing mysql metadata', errors) };
}

/** Go's driver: tls=true verifies, tls=skip-verify encrypts without checks, anything else is plain. */
function tlsFor(param: string | undefined): mysql.PoolOptions['ssl'] {
  if (param === 'true') return { rejectUnauthorized: true };
  if (param === 'skip-verify' || param === 'preferred') return { rejectUnauthorized: false };
  return undefined;
}

export function mySqlConnectionOptions(m: MySqlMetadata): mysql.PoolOptions {
  if (m.connectionString !== undefined) {
    const dsn = parseMySqlDsn(m.connectionString);
    const ssl = tlsFor(dsn.params.tls);
    return {
      host: dsn.host,
      port: dsn.port,
      ...(dsn.user !== undefined ? { user: dsn.user } : {}),
      ...(dsn.password !== undefined ? { password: dsn.password } : {}),
      ...(dsn.database !== undefined ? { database: dsn.database } : {}),
      ...(ssl ? { ssl } : {}),
    };
  }
  return {
    host: m.host ?? '',
    port: Number(m.port),
    user: m.username ?? '',
    database: m.dbName ?? '',
    ...(m.password !== undefined ? { password: m.password } : {}),
  };
}

/** The DSN's database; a DSN that cannot be read fails at read time, with words that do not repeat it. */
function databaseOf(dsn: string): string | undefined {
  try {
    return parseMySqlDsn(dsn).database;
  } catch {
    return undefined;
  }
}

/** KEDA names the metric after metricName, else the database. */
export function mySqlMetricName(m: MySqlMetadata): string {
  if (m.metricName !== undefined) return `mysql-${m.metricName}`;
  return `mysql-${(m.connectionString !== undefined ? databaseOf(m.connectionString) : m.dbName) ?? ''}`;
}

class MySqlPool implements SqlPool {
  private readonly pool: mysql.Pool;
  constructor(options: mysql.PoolOptions) {
    this.pool = mysql.createPool({ ...options, connectionLimit: 4, maxIdle: 4, idleTimeout: 60_000, connectTimeout: 10_000, enableKeepAlive: true });
  }
  async firstValue(query: string, timeoutMs: number): Promise<unknown> {
    const [rows] = await this.pool.query({ sql: query, rowsAsArray: true, timeout: timeoutMs });
    const first = Array.isArray(rows) ? (rows[0] as unknown[] | undefined) : undefined;
    return first === undefined ? undefined : first[0];
  }
  close(): Promise<void> {
    return this.pool.end();
  }
}

export const mysqlScaler = singleMetricScaler<MySqlConfig, number>({
  types: ['mysql'],
  schema,
  example: {
    metadata: { host: '127.0.0.1', port: '1', username: 'reader', dbName: 'media', query: 'SELECT COUNT(*) FROM thumbnails', queryValue: '5' },
    authParams: { password: 'pw' },
  },
  parse: parseMySql,
  metricName: mySqlMetricName,
  target: (config) => config.queryValue,
  source: (config, deps, timeoutMs) => {
    let options: ReturnType<typeof mySqlConnectionOptions>;
    try {
      options = mySqlConnectionOptions(config);
    } catch (error) {
      return unusableSource('mysql', error);
    }
    const address = `${options.host ?? ''}:${String(options.port)}/${options.database ?? ''}`;
    return sqlSource(
      {
        server: { host: options.host, port: options.port, user: options.user, database: options.database, tls: JSON.stringify(options.ssl ?? 'off') },
        secrets: { password: options.password, connection: config.connectionString },
        label: sourceLabel('MySQL', address, config.hostFrom),
        hidden: [config.connectionString, options.password].filter((v): v is string => v !== undefined),
        open: () => new MySqlPool(options),
        query: config.query,
        failure: 'could not query MySQL database',
      },
      'mysql',
      deps,
      timeoutMs,
    );
  },
  value: (count) => count,
  activation: (config) => config.activationQueryValue,
});
