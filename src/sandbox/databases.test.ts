import { describe, expect, it } from 'vitest';
import { mariadbdArgs, mysqlComponent, sandboxAccountSql } from './mysql.js';
import { freePort } from './net.js';
import { initdbArgs, postgresArgs, postgresBinDir, postgresqlComponent } from './postgresql.js';
import { staticRequirements } from './prerequisites.js';
import { accountFromPasswd, dataRootFor } from './system-user.js';

describe('postgresArgs', () => {
  const args = postgresArgs('/state/postgresql/data', 41234);
  const settings = new Map(args.filter((_, i) => args[i - 1] === '-c').map((s) => s.split('=') as [string, string]));
  it('serves its own data folder on loopback TCP only, with no Unix socket next to the system cluster', () => {
    expect(args.slice(0, 2)).toEqual(['-D', '/state/postgresql/data']);
    expect(settings.get('listen_addresses')).toBe('127.0.0.1');
    expect(settings.get('port')).toBe('41234');
    expect(settings.get('unix_socket_directories')).toBe('');
  });
  it('creates the cluster with password logins for the sandbox account', () => {
    expect(initdbArgs('/d', '/pw')).toEqual(expect.arrayContaining(['-U', 'swell', '--pwfile=/pw', '--auth=scram-sha-256']));
  });
});

describe('mariadbdArgs', () => {
  const account = { name: 'mysql', uid: 106, gid: 109 };
  it('binds loopback with its own socket, pid file and account', () => {
    const args = mariadbdArgs({ dataDir: '/s/mysql/data', dir: '/s/mysql', port: 41235, initFile: '/s/mysql/init.sql', account });
    expect(args[0]).toBe('--no-defaults');
    expect(args).toEqual(
      expect.arrayContaining(['--bind-address=127.0.0.1', '--port=41235', '--socket=/s/mysql/mysqld.sock', '--user=mysql', '--init-file=/s/mysql/init.sql']),
    );
  });
  it('runs as the caller when not root', () => {
    const args = mariadbdArgs({ dataDir: '/d', dir: '/s', port: 1, initFile: '/i', account: undefined });
    expect(args.some((a) => a.startsWith('--user'))).toBe(false);
  });
  it('creates the sandbox account idempotently at every start', () => {
    expect(sandboxAccountSql()).toMatch(/CREATE USER IF NOT EXISTS 'swell'@'%'/);
    expect(sandboxAccountSql()).toMatch(/CREATE DATABASE IF NOT EXISTS `swell`/);
  });
});

describe('system accounts', () => {
  it('reads uid and gid from a passwd file', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n';
    expect(accountFromPasswd(passwd, 'postgres')).toEqual({ name: 'postgres', uid: 101, gid: 104 });
    expect(accountFromPasswd(passwd, 'mysql')).toBeUndefined();
  });
  it('keeps the data under the state folder unless the account cannot reach it', async () => {
    expect(await dataRootFor('/tmp/some/state', undefined)).toBe('/tmp/some/state');
    const unreachable = await dataRootFor('/root/checkout/.swell/dev', { name: 'postgres', uid: 101, gid: 104 });
    expect(unreachable).toMatch(/^\/var\/tmp\/swell-sandbox-[0-9a-f]{12}$/);
  });
});

describe('healthy', () => {
  // A probe that waited on a retry or a long connect time-out would run into the test's own time-out.
  it('is false, without waiting on a time-out, when nothing listens or the env is missing', { timeout: 5_000 }, async () => {
    const port = await freePort();
    expect(await postgresqlComponent().healthy({ env: { POSTGRES_URL: `postgresql://u:p@127.0.0.1:${port}/d` }, endpoints: {} })).toBe(false);
    expect(await mysqlComponent().healthy({ env: { MYSQL_URL: `mysql://u:p@127.0.0.1:${port}/d` }, endpoints: {} })).toBe(false);
    expect(await mysqlComponent().healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});

describe('prerequisites', () => {
  it('names the Debian package of each database server, so `dev up` installs or asks for it before starting', async () => {
    expect(staticRequirements.postgresql.map((r) => r.aptPackage)).toEqual(['postgresql']);
    expect(new Set(staticRequirements.mysql.map((r) => r.aptPackage))).toEqual(new Set(['mariadb-server']));
    expect(await postgresqlComponent().requirements({ cacheDir: '/c', stateDir: '/s', repoDir: '/r' })).toEqual(staticRequirements.postgresql);
  });
  it('fails naming the package when no server binaries are installed', async () => {
    await expect(postgresBinDir('/nonexistent/postgresql')).rejects.toThrow('apt-get install -y postgresql');
  });
});
