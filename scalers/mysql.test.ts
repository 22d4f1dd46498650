import { describe, expect, it } from 'vitest';
import { mySqlConnectionOptions, mySqlMetricName, parseMySqlDsn, type MySqlMetadata } from './mysql.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import type { TriggerSpec } from './scaler.js';
import { contextFor, testDeps } from './testing.js';

const parts = { query: 'SELECT COUNT(*) FROM jobs', queryValue: '4', host: 'db.svc', port: '3306', username: 'app', dbName: 'orders' };
const trigger = (metadata: Record<string, string>, extra: Partial<TriggerSpec> = {}): TriggerSpec => ({ type: 'mysql', metadata, ...extra });

describe('mysql metadata', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['host, port, user and database', parts, []],
    ['a float activation', { ...parts, activationQueryValue: '0.5' }, []],
    ['no queryValue', { ...parts, queryValue: '' }, ['error parsing mysql metadata: missing required parameter "queryValue" in [triggerMetadata]']],
    [
      'no host nor connection string',
      { query: 'q', queryValue: '1' },
      ['no host given', 'no port given', 'no username given', 'no dbName given'].map((e) => `error parsing mysql metadata: ${e}`),
    ],
  ])('%s', (_name, metadata, errors) => expect(validateTriggerMetadata(trigger(metadata))).toEqual(errors));

  it('refuses a target of 0, which the HPA would refuse', () => {
    expect(validateTriggerMetadata(trigger({ ...parts, queryValue: '0' }))).toEqual([expect.stringMatching(/^error parsing mysql metadata: .*queryValue/)]);
  });

  it.each<[string, Record<string, string>, string]>([
    ['the database', parts, 's0-mysql-orders'],
    ['metricName when set', { ...parts, metricName: 'backlog' }, 's0-mysql-backlog'],
  ])('names the metric after %s', async (_name, metadata, metricName) => {
    const scaler = createScaler(contextFor(trigger(metadata), { authParams: { password: 'pw' } }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName, targetType: 'AverageValue', target: 4 }]);
    await scaler.close();
  });

  it('reads the database name from a connection string in the target env', () => {
    const m = { query: 'q', queryValue: 1, activationQueryValue: 0, connectionString: 'app:pw@tcp(db:3306)/stats' } satisfies MySqlMetadata;
    expect(mySqlMetricName(m)).toBe('mysql-stats');
    expect(validateTriggerMetadata(trigger({ query: 'q', queryValue: '1', connectionStringFromEnv: 'DSN' }), { offline: true })).toEqual([]);
  });
});

describe('parseMySqlDsn', () => {
  it.each<[string, object]>([
    ['app:pw@tcp(db.svc:3307)/orders', { user: 'app', password: 'pw', host: 'db.svc', port: 3307, database: 'orders', params: {} }],
    [
      'app:p@ss:word@tcp(db)/orders?tls=skip-verify',
      { user: 'app', password: 'p@ss:word', host: 'db', port: 3306, database: 'orders', params: { tls: 'skip-verify' } },
    ],
    ['app@tcp([::1]:3306)/o', { user: 'app', host: '::1', port: 3306, database: 'o' }],
    ['/orders', { host: '127.0.0.1', port: 3306, database: 'orders' }],
  ])('%s', (dsn, expected) => expect(parseMySqlDsn(dsn)).toMatchObject(expected));

  it('rejects text without a database part, never echoing it', () => {
    expect(() => parseMySqlDsn('app:secret@db')).toThrow('connection string is not a MySQL DSN');
    expect(() => parseMySqlDsn('app:secret@db')).not.toThrow(/secret/);
  });

  it('turns tls=true into verified TLS and leaves TLS off otherwise', () => {
    const base = { query: 'q', queryValue: 1, activationQueryValue: 0 };
    expect(mySqlConnectionOptions({ ...base, connectionString: 'u:p@tcp(h:1)/d?tls=true' }).ssl).toEqual({ rejectUnauthorized: true });
    expect(mySqlConnectionOptions({ ...base, connectionString: 'u:p@tcp(h:1)/d' }).ssl).toBeUndefined();
    expect(mySqlConnectionOptions({ ...base, host: 'h', port: '3306', username: 'u', dbName: 'd', password: 'pw' })).toEqual({
      host: 'h',
      port: 3306,
      user: 'u',
      database: 'd',
      password: 'pw',
    });
  });
});
