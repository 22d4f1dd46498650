import { describe, expect, it } from 'vitest';
import { parseConninfo, postgresConnectionOptions, type PostgresMetadata } from './postgresql.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import type { TriggerSpec } from './scaler.js';
import { sqlNumber } from './sql-query.js';
import { contextFor, testDeps } from './testing.js';

const parts = {
  query: 'SELECT count(*) FROM jobs',
  targetQueryValue: '5',
  host: 'db.svc',
  port: '5432',
  userName: 'app',
  dbName: 'orders',
  sslmode: 'disable',
};
const trigger = (metadata: Record<string, string>, extra: Partial<TriggerSpec> = {}): TriggerSpec => ({ type: 'postgresql', metadata, ...extra });

describe('postgresql metadata', () => {
  it.each<[string, Record<string, string>, string[]]>([
    ['host, port, user, database and sslmode', parts, []],
    ['a float target and activation', { ...parts, targetQueryValue: '2.5', activationTargetQueryValue: '1.5' }, []],
    ['no query', { ...parts, query: '' }, ['error parsing postgresql metadata: missing required parameter "query" in [triggerMetadata]']],
    [
      'no target',
      { ...parts, targetQueryValue: '' },
      ['error parsing postgresql metadata: missing required parameter "targetQueryValue" in [triggerMetadata]'],
    ],
    [
      'a target that is not a number',
      { ...parts, targetQueryValue: 'five' },
      ['error parsing postgresql metadata: unable to set param "targetQueryValue" value "five": not a number'],
    ],
    ['no host', { ...parts, host: '' }, ['error parsing postgresql metadata: no host given']],
    [
      'no parts at all',
      { query: 'q', targetQueryValue: '1' },
      ['no host given', 'no port given', 'no userName given', 'no dbName given', 'no sslmode given'].map((e) => `error parsing postgresql metadata: ${e}`),
    ],
    [
      'an unknown sslmode',
      { ...parts, sslmode: 'sometimes' },
      ['error parsing postgresql metadata: sslmode must be one of [disable allow prefer require verify-ca verify-full]'],
    ],
  ])('%s', (_name, metadata, errors) => expect(validateTriggerMetadata(trigger(metadata))).toEqual(errors));

  it('takes the connection string from the target env (connectionFromEnv) instead of the parts', () => {
    const metadata = { query: 'q', targetQueryValue: '1', connectionFromEnv: 'PG_CONN' };
    expect(validateTriggerMetadata(trigger(metadata), { offline: true })).toEqual([]);
    const scaler = createScaler(contextFor(trigger(metadata), { resolvedEnv: { PG_CONN: 'postgresql://u:p@db:5432/orders' } }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-postgresql', targetType: 'AverageValue', target: 1 }]);
    return scaler.close();
  });

  it('never echoes a connection string it cannot read', async () => {
    const errors = validateTriggerMetadata(trigger({ query: 'q', targetQueryValue: '1' }, { authenticationRef: { name: 'a' } }));
    expect(errors).toContain('error parsing postgresql metadata: no host given');
    const scaler = createScaler(
      contextFor(trigger({ query: 'q', targetQueryValue: '1' }), { authParams: { connection: 'postgresql://u:s3cr3t@[bad' } }),
      testDeps(),
    );
    const failure = await scaler.read('s0-postgresql').then(
      () => 'read',
      (error: unknown) => String(error),
    );
    expect(failure).toMatch(/not a valid postgres:\/\/ URL/);
    expect(failure).not.toMatch(/s3cr3t/);
    await scaler.close();
  });

  it('refuses pod identity providers swell does not have', () => {
    const errors = validateTriggerMetadata(trigger(parts));
    expect(errors).toEqual([]);
    expect(() => createScaler(contextFor(trigger(parts), { podIdentity: { provider: 'azure-workload' } }), testDeps())).toThrow(
      'podIdentity provider "azure-workload" is not supported for postgresql by swell',
    );
  });
});

describe('connection options', () => {
  const base: PostgresMetadata = { query: 'q', targetQueryValue: 1, activationTargetQueryValue: 0 };
  it.each<[string, Partial<PostgresMetadata>, object]>([
    [
      'parts, password from auth',
      { host: 'h', port: '6543', userName: 'u', dbName: 'd', sslmode: 'disable', password: 'pw' },
      { host: 'h', port: 6543, user: 'u', database: 'd', password: 'pw', ssl: false },
    ],
    [
      'sslmode require encrypts without checking',
      { host: 'h', port: '1', userName: 'u', dbName: 'd', sslmode: 'require' },
      { ssl: { rejectUnauthorized: false } },
    ],
    [
      'a URL',
      { connection: 'postgresql://app:p%40ss@db.svc:5433/orders?sslmode=verify-full' },
      { host: 'db.svc', port: 5433, user: 'app', password: 'p@ss', database: 'orders', ssl: { rejectUnauthorized: true } },
    ],
    [
      'keyword=value pairs, quoted',
      { connection: "host=db port=5434 user=app password='a b\\'c' dbname=orders sslmode=disable" },
      { host: 'db', port: 5434, user: 'app', password: "a b'c", database: 'orders', ssl: false },
    ],
    ['a password beside the connection string', { connection: 'host=db user=app dbname=o', password: 'pw' }, { host: 'db', port: 5432, password: 'pw' }],
  ])('%s', (_name, metadata, expected) => expect(postgresConnectionOptions({ ...base, ...metadata })).toMatchObject(expected));

  it('rejects text that is neither form', () => {
    expect(() => parseConninfo('host=db garbage')).toThrow('neither a postgres:// URL nor keyword=value pairs');
  });
});

describe('sqlNumber', () => {
  it.each<[unknown, number]>([
    [42, 42],
    ['42', 42],
    ['3.75', 3.75],
    ['-1e3', -1000],
    [true, 1],
  ])('%j → %d', (raw, value) => expect(sqlNumber(raw, 'could not query')).toBe(value));
  it('a BIGINT the driver gives as a bigint', () => expect(sqlNumber(BigInt(12), 'q')).toBe(12));
  it.each<[unknown, string]>([
    [undefined, 'could not query: the query returned no rows'],
    [null, 'could not query: the query returned NULL (use COALESCE to give it a default)'],
    ['abc', 'could not query: the query returned a value that is not a number'],
    [{}, 'could not query: the query returned a value that is not a number'],
  ])('%j fails', (raw, message) => expect(() => sqlNumber(raw, 'could not query')).toThrow(message));
});
