import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent } from './component.js';
import { freePort } from './net.js';
import { staticRequirements } from './prerequisites.js';
import { dataRootFor, exists, ownedDir, runAs, serverAccount } from './system-user.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'postgresql';
/** The sandbox's database account; a test fixture on loopback, not a secret worth protecting. */
export const POSTGRES_SANDBOX_USER = { username: 'swell', password: 'swell-secret', database: 'postgres' } as const;

/**
 * Debian's PostgreSQL server binaries run as a child process with a data folder of their own, never the
 * system's cluster: initdb once, then postgres on a free loopback port with no Unix socket. As root it runs as
 * the `postgres` account the package created, since the server refuses to run as root.
 */
export function postgresqlComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['POSTGRES_URL'],
    requirements: () => Promise.resolve(staticRequirements.postgresql),
    async install() {
      await postgresBinDir();
    },
    async start(ctx: ComponentContext) {
      const bin = await postgresBinDir();
      const account = await serverAccount(COMPONENT, 'postgres', 'postgresql');
      const dir = join(await dataRootFor(ctx.paths.stateDir, account), 'postgresql');
      const dataDir = join(dir, 'data');
      await ownedDir(dir, account);
      if (!(await exists(join(dataDir, 'PG_VERSION')))) await initdb(ctx, bin, dir, dataDir, account);
      const port = await freePort();
      const daemon = await ctx.spawn({
        name: 'postgres',
        command: join(bin, 'postgres'),
        args: postgresArgs(dataDir, port),
        cwd: dir,
        ...(account ? { user: { uid: account.uid, gid: account.gid } } : {}),
      });
      const { username, password, database } = POSTGRES_SANDBOX_USER;
      const url = `postgresql://${username}:${password}@127.0.0.1:${port}/${database}`;
      await waitUntil(() => postgresAnswers(url), { component: COMPONENT, what: `SELECT 1 on 127.0.0.1:${port}`, timeoutMs: 60_000, daemon });
      return { env: { POSTGRES_URL: url }, endpoints: { postgresql: `127.0.0.1:${port}` } };
    },
    async healthy(endpoints: ComponentEndpoints) {
      const url = endpoints.env.POSTGRES_URL;
      return url !== undefined && (await postgresAnswers(url).catch(() => false));
    },
  };
}

/** The newest installed server's bin folder, /usr/lib/postgresql/<major>/bin. */
export async function postgresBinDir(root = '/usr/lib/postgresql'): Promise<string> {
  const majors = await readdir(root).catch(() => [] as string[]);
  const newest = majors.filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a));
  for (const major of newest) {
    const bin = join(root, major, 'bin');
    if ((await exists(join(bin, 'postgres'))) && (await exists(join(bin, 'initdb')))) return bin;
  }
  throw new ComponentStartError(COMPONENT, `no PostgreSQL server under ${root}; install it with: apt-get install -y postgresql`);
}

async function initdb(ctx: ComponentContext, bin: string, dir: string, dataDir: string, account: Awaited<ReturnType<typeof serverAccount>>): Promise<void> {
  ctx.progress('creating its data folder (initdb)');
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${POSTGRES_SANDBOX_USER.password}\n`, { mode: 0o644 });
  try {
    await runAs(join(bin, 'initdb'), initdbArgs(dataDir, pwfile), account, 120_000);
  } catch (error) {
    throw new ComponentStartError(COMPONENT, error instanceof Error ? error.message : String(error));
  }
}

/** Password logins only (scram), in UTF-8, so the sandbox behaves like a server a scaler reaches over TCP. */
export function initdbArgs(dataDir: string, pwfile: string): string[] {
  return ['-D', dataDir, '-U', POSTGRES_SANDBOX_USER.username, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'];
}

/**
 * Loopback TCP only and no Unix socket (the system's cluster owns /run/postgresql). Durability is traded for
 * speed: sandbox data need not survive a machine crash, and fsync on a shared two-core machine is slow.
 */
export function postgresArgs(dataDir: string, port: number): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: '',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: '32MB',
    max_connections: '200',
    logging_collector: 'off',
  };
  return ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
}

/** One SELECT 1 with short timeouts, so a dead server fails fast. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000, query_timeout: 2000 });
  client.on('error', () => {
    // reported through the rejected connect/query below
  });
  try {
    await client.connect();
    const result = await client.query<{ one: number }>('SELECT 1 AS one');
    return result.rows[0]?.one === 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}
