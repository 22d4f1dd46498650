// @sandbox kube,postgresql
import pg from 'pg';
import { resourcePath } from '../../src/kube/client.js';
import { scalingStory } from './support.js';

/*
 * A team scales its job workers on a PostgreSQL table with an unchanged KEDA ScaledObject whose password sits in
 * a Secret behind a TriggerAuthentication: swell wakes the Deployment from zero, the cluster's HPA scales it out
 * on the query's value, and as rows are done it scales in and swell puts it back to sleep.
 */
scalingStory('PostgreSQL table: 0 → 1 → 6 → 2 → 1 → 0', 'postgresql', async (namespace) => {
  const url = process.env.POSTGRES_URL;
  if (!url) throw new Error('POSTGRES_URL is not set');
  const { hostname, port, username, password, pathname } = new URL(url);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const table = `jobs_${namespace.replace(/[^a-z0-9]/g, '_')}`;
  await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, state text NOT NULL)`);
  const waiting = async (): Promise<number> =>
    Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE state = 'waiting'`)).rows[0]?.n);
  return {
    metricName: 's0-postgresql',
    async trigger(client, ns) {
      await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: ns }), {
        body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'jobs-db' }, stringData: { password: decodeURIComponent(password) } },
      });
      await client.request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace: ns }), {
        body: {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'TriggerAuthentication',
          metadata: { name: 'jobs-db' },
          spec: { secretTargetRef: [{ parameter: 'password', name: 'jobs-db', key: 'password' }] },
        },
      });
      return {
        type: 'postgresql',
        authenticationRef: { name: 'jobs-db' },
        metadata: {
          host: hostname,
          port,
          userName: decodeURIComponent(username),
          dbName: pathname.slice(1),
          sslmode: 'disable',
          query: `SELECT count(*) FROM ${table} WHERE state = 'waiting'`,
          targetQueryValue: '5',
        },
      };
    },
    async setBacklog(n) {
      const now = await waiting();
      if (n > now) await admin.query(`INSERT INTO ${table} (state) SELECT 'waiting' FROM generate_series(1, $1)`, [n - now]);
      else if (n < now)
        await admin.query(`UPDATE ${table} SET state = 'done' WHERE id IN (SELECT id FROM ${table} WHERE state = 'waiting' ORDER BY id LIMIT $1)`, [now - n]);
    },
    async close() {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
      await admin.end();
    },
  };
});
