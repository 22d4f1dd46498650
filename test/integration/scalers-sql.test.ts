// @sandbox postgresql,mysql
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { Scaler, ScalerContext, TriggerSpec } from '../../scalers/scaler.js';
import { FakeClock } from '../../src/controller/fake-clock.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';

/*
 * The postgresql and mysql scalers against Debian's PostgreSQL and MariaDB from the sandbox. Every query the
 * scalers run takes a number from a sequence, so the server itself counts how often it was asked.
 */

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the sandbox setup should have started its server`);
  return value;
};

function context(trigger: TriggerSpec, extra: Partial<ScalerContext> = {}): ScalerContext {
  return { triggerIndex: 0, trigger, authParams: {}, resolvedEnv: {}, namespace: 'default', ...extra };
}

function metricOf(scaler: Scaler): string {
  const spec = scaler.metricSpecs[0];
  if (spec?.kind !== 'External') throw new Error('expected an external metric');
  return spec.metricName;
}

const failureOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'no error',
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );

/** 100 scalers on one query, polled 4 times per interval for 3 intervals: how many queries reached the server. */
async function queriesFor100Scalers(
  trigger: TriggerSpec,
  extra: Partial<ScalerContext>,
  counter: () => Promise<number>,
  expected: number,
): Promise<{ queries: number; pools: number }> {
  const clock = new FakeClock(testEpochMs);
  const deps = testDeps(clock);
  const scalers = Array.from({ length: 100 }, (_, i) => createScaler(context(trigger, { ...extra, triggerIndex: i % 3 }), deps));
  const intervalMs = 30_000;
  const before = await counter();
  for (let interval = 0; interval < 3; interval++) {
    for (let step = 0; step < 4; step++) {
      const readings = await Promise.all(scalers.map((s) => s.read(metricOf(s), { maxAgeMs: intervalMs })));
      expect(new Set(readings.map((r) => r.value))).toEqual(new Set([expected]));
      await clock.advance(intervalMs / 5);
    }
    await clock.advance(intervalMs);
  }
  const queries = (await counter()) - before;
  const pools = deps.connections.size;
  await Promise.all(scalers.map((s) => s.close()));
  expect(deps.connections.size).toBe(0);
  return { queries, pools };
}

describe('postgresql scaler on a real server', () => {
  const url = new URL(env('POSTGRES_URL'));
  const table = `jobs_${randomUUID().slice(0, 8)}`;
  const sequence = `${table}_reads`;
  const query = `SELECT count(*) + 0 * nextval('${sequence}') FROM ${table} WHERE state = 'waiting'`;
  const parts = { host: url.hostname, port: url.port, userName: decodeURIComponent(url.username), dbName: url.pathname.slice(1), sslmode: 'disable' };
  const password = decodeURIComponent(url.password);
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: url.href });
    await admin.connect();
    await admin.query(`CREATE TABLE ${table} (id serial primary key, state text not null)`);
    await admin.query(`CREATE SEQUENCE ${sequence}`);
    await admin.query(`INSERT INTO ${table} (state) SELECT CASE WHEN i <= 7 THEN 'waiting' ELSE 'done' END FROM generate_series(1, 10) i`);
  });
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}; DROP SEQUENCE IF EXISTS ${sequence}`);
    await admin.end();
  });

  const readings = (): Promise<number> =>
    admin
      .query<{ last_value: string; is_called: boolean }>(`SELECT last_value, is_called FROM ${sequence}`)
      .then((r) => (r.rows[0]?.is_called ? Number(r.rows[0].last_value) : 0));

  it('reads the query with the parts and a password from the TriggerAuthentication, and judges activity', async () => {
    const trigger: TriggerSpec = {
      type: 'postgresql',
      metadata: { ...parts, query, targetQueryValue: '2', activationTargetQueryValue: '7' },
      authenticationRef: { name: 'pg' },
    };
    const clock = new FakeClock(testEpochMs);
    const scaler = createScaler(context(trigger, { authParams: { password } }), testDeps(clock));
    await expect(scaler.read(metricOf(scaler))).resolves.toEqual({ value: 7, active: false });
    await admin.query(`INSERT INTO ${table} (state) VALUES ('waiting')`);
    await clock.advance(1000);
    await expect(scaler.read(metricOf(scaler))).resolves.toEqual({ value: 8, active: true });
    await scaler.close();
  });

  it('connects with a connection string from the target env, as a URL or keyword=value pairs', async () => {
    const count = `SELECT count(*) FROM ${table}`;
    for (const connection of [
      url.href,
      `host=${parts.host} port=${parts.port} user=${parts.userName} password='${password}' dbname=${parts.dbName} sslmode=disable`,
    ]) {
      const trigger: TriggerSpec = { type: 'postgresql', metadata: { query: count, targetQueryValue: '1', connectionFromEnv: 'PG_CONNECTION' } };
      const scaler = createScaler(context(trigger, { resolvedEnv: { PG_CONNECTION: connection } }), testDeps());
      const { value } = await scaler.read(metricOf(scaler));
      expect(value).toBeGreaterThanOrEqual(10);
      await scaler.close();
    }
  });

  it('tells a wrong password, a bad query and NULL in plain words, never showing the password', async () => {
    const wrong = createScaler(
      context({ type: 'postgresql', metadata: { ...parts, query, targetQueryValue: '1' } }, { authParams: { password: 'not-the-password' } }),
      testDeps(),
    );
    const message = await failureOf(wrong.read(metricOf(wrong)));
    expect(message).toMatch(/password authentication failed/);
    expect(message).not.toContain('not-the-password');
    await wrong.close();
    const broken = createScaler(
      context(
        { type: 'postgresql', metadata: { ...parts, query: 'SELECT no_such_column FROM pg_class', targetQueryValue: '1' } },
        { authParams: { password } },
      ),
      testDeps(),
    );
    expect(await failureOf(broken.read(metricOf(broken)))).toMatch(/no_such_column/);
    await broken.close();
    const empty = createScaler(
      context({ type: 'postgresql', metadata: { ...parts, query: 'SELECT NULL', targetQueryValue: '1' } }, { authParams: { password } }),
      testDeps(),
    );
    expect(await failureOf(empty.read(metricOf(empty)))).toBe('could not query postgreSQL: the query returned NULL (use COALESCE to give it a default)');
    await empty.close();
  });

  it('100 scalers on one query run it once per polling interval over one pool', async () => {
    const waiting = Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE state = 'waiting'`)).rows[0]?.n);
    const trigger: TriggerSpec = { type: 'postgresql', metadata: { ...parts, query, targetQueryValue: '2' } };
    const { queries, pools } = await queriesFor100Scalers(trigger, { authParams: { password } }, readings, waiting);
    process.stdout.write(`[postgresql] 100 ScaledObjects on one query: ${queries / 3} queries per polling interval, ${pools} pool\n`);
    expect(queries).toBe(3);
    expect(pools).toBe(1);
  });
});

describe('mysql scaler on a real MariaDB', () => {
  const url = new URL(env('MYSQL_URL'));
  const table = `jobs_${randomUUID().slice(0, 8)}`;
  const sequence = `${table}_reads`;
  const query = `SELECT COUNT(*) + 0 * NEXTVAL(${sequence}) FROM ${table} WHERE state = 'waiting'`;
  const parts = { host: url.hostname, port: url.port, username: decodeURIComponent(url.username), dbName: url.pathname.slice(1) };
  const password = decodeURIComponent(url.password);
  let admin: mysql.Connection;

  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: url.href, multipleStatements: true });
    await admin.query(`CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY, state VARCHAR(16) NOT NULL)`);
    await admin.query(`CREATE SEQUENCE ${sequence} START WITH 1 INCREMENT BY 1 NOCACHE`);
    await admin.query(`INSERT INTO ${table} (state) VALUES ${Array.from({ length: 10 }, (_, i) => (i < 6 ? "('waiting')" : "('done')")).join(',')}`);
  });
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}; DROP SEQUENCE IF EXISTS ${sequence}`);
    await admin.end();
  });

  const readings = async (): Promise<number> => {
    const [rows] = await admin.query(`SELECT LASTVAL(${sequence}) AS v, (SELECT next_not_cached_value FROM ${sequence}) AS next`);
    return Number((rows as { next: number }[])[0]?.next ?? 1) - 1;
  };

  it('reads the query with the parts and a password from the TriggerAuthentication', async () => {
    const trigger: TriggerSpec = {
      type: 'mysql',
      metadata: { ...parts, query, queryValue: '2', activationQueryValue: '6' },
      authenticationRef: { name: 'my' },
    };
    const clock = new FakeClock(testEpochMs);
    const scaler = createScaler(context(trigger, { authParams: { password } }), testDeps(clock));
    await expect(scaler.read(metricOf(scaler))).resolves.toEqual({ value: 6, active: false });
    await admin.query(`INSERT INTO ${table} (state) VALUES ('waiting')`);
    await clock.advance(1000);
    await expect(scaler.read(metricOf(scaler))).resolves.toEqual({ value: 7, active: true });
    await scaler.close();
  });

  it('connects with a Go DSN from the target env', async () => {
    const dsn = `${parts.username}:${password}@tcp(${parts.host}:${parts.port})/${parts.dbName}`;
    const trigger: TriggerSpec = { type: 'mysql', metadata: { query: `SELECT COUNT(*) FROM ${table}`, queryValue: '1', connectionStringFromEnv: 'MYSQL_DSN' } };
    const scaler = createScaler(context(trigger, { resolvedEnv: { MYSQL_DSN: dsn } }), testDeps());
    expect(metricOf(scaler)).toBe(`s0-mysql-${parts.dbName}`);
    expect((await scaler.read(metricOf(scaler))).value).toBeGreaterThanOrEqual(10);
    await scaler.close();
  });

  it('tells a wrong password in plain words without showing it', async () => {
    const wrong = createScaler(
      context({ type: 'mysql', metadata: { ...parts, query, queryValue: '1' } }, { authParams: { password: 'not-the-password' } }),
      testDeps(),
    );
    const message = await failureOf(wrong.read(metricOf(wrong)));
    expect(message).toMatch(/Access denied/);
    expect(message).not.toContain('not-the-password');
    await wrong.close();
  });

  it('100 scalers on one query run it once per polling interval over one pool', async () => {
    const [rows] = await admin.query(`SELECT COUNT(*) AS n FROM ${table} WHERE state = 'waiting'`);
    const waiting = Number((rows as { n: number }[])[0]?.n);
    const trigger: TriggerSpec = { type: 'mysql', metadata: { ...parts, query, queryValue: '2' } };
    const { queries, pools } = await queriesFor100Scalers(trigger, { authParams: { password } }, readings, waiting);
    process.stdout.write(`[mysql] 100 ScaledObjects on one query: ${queries / 3} queries per polling interval, ${pools} pool\n`);
    expect(queries).toBe(3);
    expect(pools).toBe(1);
  });
});
