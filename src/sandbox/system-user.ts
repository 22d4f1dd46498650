import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chown, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ComponentStartError } from './component.js';

/** A system account a database server runs as, because PostgreSQL and MariaDB refuse (or should not) run as root. */
export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** Reads one account from an /etc/passwd text; undefined when it is not there. */
export function accountFromPasswd(passwd: string, name: string): Account | undefined {
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * The account the server runs as: as root, the one its Debian package created (missing means the package is not
 * installed); otherwise the caller itself (undefined), who owns the data folder anyway.
 */
export async function serverAccount(component: string, name: string, aptPackage: string, root = process.getuid?.() === 0): Promise<Account | undefined> {
  if (!root) return undefined;
  const account = accountFromPasswd(await readFile('/etc/passwd', 'utf8'), name);
  if (!account) throw new ComponentStartError(component, `there is no "${name}" account to run it as; install it with: apt-get install -y ${aptPackage}`);
  return account;
}

/**
 * Where the server's data folder goes. The state folder, unless the account cannot reach it (a checkout under
 * /root, mode 700): then a folder under /var/tmp named after the state folder, so each sandbox keeps its own.
 */
export async function dataRootFor(stateDir: string, account: Account | undefined): Promise<string> {
  if (!account || (await othersCanTraverse(stateDir))) return stateDir;
  const digest = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 12);
  return join('/var/tmp', `swell-sandbox-${digest}`);
}

/** True when every existing folder from / down to `dir` lets other users pass through (o+x). */
async function othersCanTraverse(dir: string): Promise<boolean> {
  for (let current = resolve(dir); ; current = dirname(current)) {
    const mode = await stat(current).then(
      (s) => s.mode,
      () => undefined,
    );
    if (mode !== undefined && (mode & constants.S_IXOTH) === 0) return false;
    if (dirname(current) === current) return true;
  }
}

/** Creates `dir` (and parents) and hands `dir` itself to the account, so the server can write there. */
export async function ownedDir(dir: string, account: Account | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (account) await chown(dir, account.uid, account.gid);
}

export async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Runs a setup program (initdb, mariadb-install-db) to completion as the account; rejects with its output. */
export function runAs(command: string, args: readonly string[], account: Account | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const options = { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, ...(account ? { uid: account.uid, gid: account.gid } : {}) };
    execFile(command, [...args], options, (error, stdout, stderr) => {
      if (!error) return resolvePromise(`${stdout}${stderr}`);
      const tail = `${stdout}${stderr}`.trimEnd().split('\n').slice(-20).join('\n');
      reject(new Error(`\`${command} ${args.join(' ')}\` failed: ${error.message}${tail ? `\n${tail}` : ''}`));
    });
  });
}
