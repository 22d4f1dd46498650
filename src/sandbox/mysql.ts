import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent } from './component.js';
import { requireCommand } from './maven.js';
import { freePort } from './net.js';
import { staticRequirements } from './prerequisites.js';
import { dataRootFor, exists, ownedDir, runAs, serverAccount, type Account } from './system-user.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'mysql';
/** The sandbox's database account; a test fixture on loopback, not a secret worth protecting. */
export const MYSQL_SANDBOX_USER = { username: 'swell', password: 'swell-secret', database: 'swell' } as const;

/**
 * Debian's MariaDB (it speaks the MySQL protocol) as a child process with a data folder of its own, never the
 * system's server: mariadb-install-db once, then mariadbd on a free loopback port with its socket in that folder.
 * As root it switches to the `mysql` account the package created.
 */
export function mysqlComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['MYSQL_URL'],
    requirements: () => Promise.resolve(staticRequirements.mysql),
    async install() {
      await requireCommand(COMPONENT, 'mariadb-install-db', 'mariadb-server');
    },
    async start(ctx: ComponentContext) {
      const mariadbd = await requireCommand(COMPONENT, 'mariadbd', 'mariadb-server').catch(() => requireMariadbdInSbin());
      const account = await serverAccount(COMPONENT, 'mysql', 'mariadb-server');
      const dir = join(await dataRootFor(ctx.paths.stateDir, account), 'mysql');
      const dataDir = join(dir, 'data');
      await ownedDir(dir, account);
      if (!(await exists(join(dataDir, 'mysql')))) await installDb(ctx, dataDir, account);
      const initFile = join(dir, 'init.sql');
      await writeFile(initFile, sandboxAccountSql(), { mode: 0o644 });
      const port = await freePort();
      const daemon = await ctx.spawn({ name: 'mariadbd', command: mariadbd, args: mariadbdArgs({ dataDir, dir, port, initFile, account }), cwd: dir });
      const { username, password, database } = MYSQL_SANDBOX_USER;
      const url = `mysql://${username}:${password}@127.0.0.1:${port}/${database}`;
      await waitUntil(() => mysqlAnswers(url), { component: COMPONENT, what: `SELECT 1 on 127.0.0.1:${port}`, timeoutMs: 60_000, daemon });
      return { env: { MYSQL_URL: url }, endpoints: { mysql: `127.0.0.1:${port}` } };
    },
    async healthy(endpoints: ComponentEndpoints) {
      const url = endpoints.env.MYSQL_URL;
      return url !== undefined && (await mysqlAnswers(url).catch(() => false));
    },
  };
}

/** mariadbd lives in /usr/sbin, which a non-root PATH often lacks. */
async function requireMariadbdInSbin(): Promise<string> {
  if (await exists('/usr/sbin/mariadbd')) return '/usr/sbin/mariadbd';
  throw new ComponentStartError(COMPONENT, '"mariadbd" is not installed; install it with: apt-get install -y mariadb-server');
}

async function installDb(ctx: ComponentContext, dataDir: string, account: Account | undefined): Promise<void> {
  ctx.progress('creating its data folder (mariadb-install-db)');
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...(account ? [`--user=${account.name}`] : []),
  ];
  try {
    // As root the script itself hands the folder to --user; it must start as root to do so.
    await runAs('mariadb-install-db', args, undefined, 180_000);
  } catch (error) {
    throw new ComponentStartError(COMPONENT, error instanceof Error ? error.message : String(error));
  }
}

/** Runs at every start, so a restarted server has the account even if the data folder was made by an older version. */
export function sandboxAccountSql(): string {
  const { username, password, database } = MYSQL_SANDBOX_USER;
  return [
    `CREATE DATABASE IF NOT EXISTS \`${database}\`;`,
    `CREATE USER IF NOT EXISTS '${username}'@'%' IDENTIFIED BY '${password}';`,
    `GRANT ALL PRIVILEGES ON *.* TO '${username}'@'%';`,
    '',
  ].join('\n');
}

/** Loopback only, no binary log, small buffers, and relaxed flushing: sandbox data need not survive a crash. */
export function mariadbdArgs(options: { dataDir: string; dir: string; port: number; initFile: string; account: Account | undefined }): string[] {
  return [
    '--no-defaults',
    `--datadir=${options.dataDir}`,
    `--port=${options.port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(options.dir, 'mysqld.sock')}`,
    `--pid-file=${join(options.dir, 'mysqld.pid')}`,
    `--init-file=${options.initFile}`,
    '--skip-name-resolve',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=32M',
    '--innodb-flush-log-at-trx-commit=0',
    '--max-connections=300',
    ...(options.account ? [`--user=${options.account.name}`] : []),
  ];
}

/** One SELECT 1 with short timeouts, so a dead server fails fast. */
export async function mysqlAnswers(url: string): Promise<boolean> {
  const connection = await mysql.createConnection({ uri: url, connectTimeout: 2000 });
  connection.on('error', () => {
    // reported through the rejected query below
  });
  try {
    const [rows] = await connection.query({ sql: 'SELECT 1 AS one', timeout: 2000 });
    return (rows as { one: number }[])[0]?.one === 1;
  } finally {
    connection.destroy();
  }
}
