import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The absolute path of an executable found on PATH, or undefined. */
export async function findOnPath(command: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Something a component needs on the machine before it builds or starts anything. */
export interface Requirement {
  /** A program looked up on PATH (sbin folders included), or an absolute path to a file. */
  readonly command: string;
  /** The Debian package that provides it; absent when Debian has none that fits (e.g. Go, too old there). */
  readonly aptPackage?: string;
  /** How to get it when there is no Debian package. */
  readonly hint?: string;
}

/** What to do about the missing requirements. */
export type PrerequisitePlan =
  | { readonly kind: 'ready' }
  /** Running as root with only Debian packages missing: install them, then go on. */
  | { readonly kind: 'install'; readonly packages: readonly string[] }
  /** Stop before any long step, telling the user the one thing to do. */
  | { readonly kind: 'stop'; readonly message: string };

/**
 * Decides, from what is missing and whether we run as root, whether to go on, install Debian packages ourselves
 * (root only), or stop at once with the single `apt-get install` command to run (and how to get what Debian
 * does not package).
 */
export function planPrerequisites(missing: readonly Requirement[], root: boolean): PrerequisitePlan {
  if (missing.length === 0) return { kind: 'ready' };
  const packages = [...new Set(missing.flatMap((r) => (r.aptPackage ? [r.aptPackage] : [])))].sort();
  const unpackaged = uniqueBy(
    missing.filter((r) => !r.aptPackage),
    (r) => r.command,
  );
  if (unpackaged.length === 0 && root) return { kind: 'install', packages };
  const lines = [
    `missing prerequisites: ${uniqueBy(missing, (r) => r.command)
      .map((r) => r.command)
      .join(', ')}`,
  ];
  if (packages.length > 0) lines.push(`install the Debian packages with:\n  ${root ? '' : 'sudo '}${aptInstallCommand(packages).join(' ')}`);
  for (const r of unpackaged) lines.push(`${r.command}: ${r.hint ?? 'install it and put it on PATH'}`);
  return { kind: 'stop', message: lines.join('\n') };
}

/** The apt-get command line that installs `packages` without prompts or recommended extras. */
export function aptInstallCommand(packages: readonly string[]): string[] {
  return ['apt-get', 'install', '-y', '--no-install-recommends', ...packages];
}

function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(key(item)) && seen.add(key(item)));
}

/** The requirements that are not met on this machine. */
export async function findMissing(requirements: readonly Requirement[], path = process.env.PATH ?? ''): Promise<Requirement[]> {
  const searchPath = ['/usr/local/sbin', '/usr/sbin', '/sbin', path].join(':');
  const missing: Requirement[] = [];
  for (const requirement of uniqueBy(requirements, (r) => r.command)) {
    const found = requirement.command.startsWith('/')
      ? await fileExists(requirement.command)
      : (await findOnPath(requirement.command, searchPath)) !== undefined;
    if (!found) missing.push(requirement);
  }
  return missing;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Go builds the Kubernetes, etcd, kwok and helm binaries; Debian's golang is older than their modules need. */
export const goRequirement: Requirement = { command: 'go', hint: 'install Go >= 1.26 from the official Go distribution and put its bin folder on PATH' };

/** Components' requirements that do not depend on what the cache holds. */
export const staticRequirements = {
  redis: [{ command: 'redis-server', aptPackage: 'redis-server' }],
  // python3-venv brings python3 and the ensurepip the venv needs; a Python of one's own (pyenv) has both.
  aws: [{ command: 'python3', aptPackage: 'python3-venv' }],
  prometheus: [{ command: 'prometheus', aptPackage: 'prometheus' }],
  rabbitmq: [
    { command: '/usr/lib/rabbitmq/bin/rabbitmq-server', aptPackage: 'rabbitmq-server' },
    { command: 'epmd', aptPackage: 'rabbitmq-server' },
  ],
  // The server binaries sit in /usr/lib/postgresql/<major>/bin, off PATH; pg_ctlcluster comes with them.
  postgresql: [{ command: 'pg_ctlcluster', aptPackage: 'postgresql' }],
  mysql: [
    { command: 'mariadbd', aptPackage: 'mariadb-server' },
    { command: 'mariadb-install-db', aptPackage: 'mariadb-server' },
  ],
  java: [{ command: 'java', aptPackage: 'openjdk-17-jre-headless' }],
  maven: [{ command: 'mvn', aptPackage: 'maven' }],
  node: [
    { command: 'containerd', aptPackage: 'containerd' },
    { command: 'ctr', aptPackage: 'containerd' },
    { command: 'runc', aptPackage: 'runc' },
    { command: '/usr/lib/cni/bridge', aptPackage: 'containernetworking-plugins' },
    { command: '/usr/lib/cni/host-local', aptPackage: 'containernetworking-plugins' },
    { command: 'umoci', aptPackage: 'umoci' },
    { command: '/bin/busybox', aptPackage: 'busybox-static' },
    { command: 'iptables', aptPackage: 'iptables' },
    { command: 'ip6tables', aptPackage: 'iptables' },
    { command: 'conntrack', aptPackage: 'conntrack' },
    { command: 'socat', aptPackage: 'socat' },
    { command: 'ip', aptPackage: 'iproute2' },
    { command: 'tar', aptPackage: 'tar' },
    { command: 'umount', aptPackage: 'mount' },
  ],
} as const satisfies Record<string, readonly Requirement[]>;

export interface EnsureOptions {
  readonly root: boolean;
  readonly progress: (message: string) => void;
  /** Runs apt-get as root; rejects with its output on failure. */
  readonly runApt: (args: readonly string[]) => Promise<void>;
  readonly findMissing?: (requirements: readonly Requirement[]) => Promise<Requirement[]>;
}

/** Checks every requirement up front; installs Debian packages when root, otherwise stops with the command to run. */
export async function ensurePrerequisites(requirements: readonly Requirement[], options: EnsureOptions): Promise<void> {
  const check = options.findMissing ?? ((r: readonly Requirement[]) => findMissing(r));
  const plan = planPrerequisites(await check(requirements), options.root);
  if (plan.kind === 'ready') return;
  if (plan.kind === 'stop') throw new PrerequisiteError(plan.message);
  options.progress(`installing Debian packages ${plan.packages.join(' ')} (apt-get, as root)`);
  await options.runApt(['update', '-qq']);
  await options.runApt(aptInstallCommand(plan.packages).slice(1));
  const still = await check(requirements);
  if (still.length > 0) throw new PrerequisiteError(`still missing after apt-get install: ${still.map((r) => r.command).join(', ')}`);
}

export class PrerequisiteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrerequisiteError';
  }
}
