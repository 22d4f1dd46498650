import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { runTool, type ToolRunner } from './maven.js';
import { findOnPath } from './prerequisites.js';

/**
 * Container images built with no registry and no container engine: a Debian bookworm root filesystem from
 * debootstrap plus the official Node.js binary make the base image, buildah builds the project's Dockerfile on
 * top of it (daemonless, chroot isolation), and the result is written as a docker-archive file that
 * `ctr images import` accepts. Every step is cached in the cache folder under a key made of its inputs, so a
 * warm call returns the archive without running buildah at all.
 */

export interface ImagePaths {
  repoDir: string;
  cacheDir: string;
}

export interface BuiltImage {
  /** The docker-archive file to import (`ctr -n k8s.io images import <archive>`). */
  archive: string;
  /** The fully qualified name the archive carries, as containerd's CRI looks it up: `<repository>:<tag>`. */
  name: string;
  /** The name's parts, for the chart's `image.repository` and `image.tag`. */
  repository: string;
  tag: string;
  /** Whether the archive came from the cache. */
  cached: boolean;
}

export interface ImageBuildOptions {
  paths: ImagePaths;
  progress: (message: string) => void;
  run?: ToolRunner;
}

const minute = 60_000;
const suite = 'bookworm';
const debianMirror = 'http://deb.debian.org/debian';
/** Folders debian:bookworm-slim leaves out; the base image drops them too (copyright notices stay). */
const slimmedPaths = [
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'usr/share/lintian',
  'var/lib/apt/lists',
  'var/cache/apt',
  'var/cache/debconf/templates.dat-old',
  'var/log',
];
/** Bump when the root filesystem recipe below changes, so cached root filesystems are rebuilt. */
const rootfsRecipe = `debootstrap --variant=minbase ${suite} ${debianMirror}; slimmed ${slimmedPaths.join(',')}; r1`;
const hostCaPath = '/etc/ssl/certs/build-host-ca.crt';
export const consumerImageDir = join('tools', 'consumer-image');

/** The Node.js major of the Dockerfile's public base image (`ARG NODE_IMAGE=node:22-bookworm-slim` → "22"). */
export function dockerfileNodeMajor(dockerfile: string): string {
  const match = /^ARG\s+NODE_IMAGE=node:(\d+)[-\w.]*\s*$/m.exec(dockerfile);
  if (!match?.[1]) throw new Error('the Dockerfile has no `ARG NODE_IMAGE=node:<major>-...` line to take the Node.js major from');
  return match[1];
}

/** The roots a .dockerignore of the "ignore everything, then allow" form lets into the build context. */
export function dockerignoreRoots(dockerignore: string): string[] {
  const lines = dockerignore.split('\n').map((l) => l.trim());
  if (!lines.includes('*')) throw new Error('.dockerignore must start from `*` and allow paths with `!path`, so the image cache key knows its inputs');
  return lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/+$/, ''));
}

/** A content hash of files and folders (recursively), by relative path and bytes, independent of walk order. */
export async function contentKey(baseDir: string, entries: string[], extra: string[] = []): Promise<string> {
  const files: string[] = [];
  for (const entry of entries) files.push(...(await filesUnder(join(baseDir, entry))));
  const hash = createHash('sha256');
  for (const value of extra) hash.update(`extra\0${value}\0`);
  for (const file of [...new Set(files)].sort()) {
    hash.update(`file\0${relative(baseDir, file)}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

async function filesUnder(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** The base image every local build starts from: bookworm minbase + the official Node.js of the Dockerfile's major. */
export async function ensureNodeBaseImage(options: ImageBuildOptions): Promise<string> {
  const { paths, progress } = options;
  const run = options.run ?? runTool;
  const major = dockerfileNodeMajor(await readFile(join(paths.repoDir, 'Dockerfile'), 'utf8'));
  const nodeDir = lastLine(await run(join(paths.repoDir, 'tools', 'node', 'install.sh'), [major, paths.cacheDir], { timeoutMs: 10 * minute }));
  const [, nodeVersion, npmLine] = /\/v([\d.]+)\+npm(\d+)$/.exec(nodeDir) ?? [];
  if (!nodeVersion || !npmLine) throw new Error(`tools/node/install.sh printed "${nodeDir}", not a node/v<version>+npm<line> folder`);
  const rootfs = await ensureRootfs(options);
  const hostCa = await buildHostCa();
  const name = `localhost/swell-node-base:${nodeVersion}-npm${npmLine}-${suite}-${shortHash(`${rootfsRecipe}\0${hostCa?.content ?? ''}`)}`;
  const buildah = await buildahCommand(paths.cacheDir);
  if (await imageExists(run, buildah, name)) return name;
  progress(`assembling the base image ${name} (Debian ${suite} + Node.js ${nodeVersion})`);
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `NODE_VERSION=${nodeVersion}`];
  const copies: [string, string][] = [[nodeDir, '/usr/local']];
  if (hostCa) {
    copies.push([hostCa.path, hostCaPath]);
    env.push(`NODE_EXTRA_CA_CERTS=${hostCaPath}`);
  }
  await commitFromScratch(run, buildah, name, { rootfs, copies, env });
  return name;
}

/** Commits `name`: a root filesystem tar, files copied over it, and the environment. */
async function commitFromScratch(
  run: ToolRunner,
  buildah: Buildah,
  name: string,
  image: { rootfs: string; copies: [string, string][]; env: string[] },
): Promise<void> {
  const container = lastLine(await run(buildah.command, [...buildah.args, 'from', '--pull=never', 'scratch'], { timeoutMs: minute }));
  try {
    // `add` unpacks a local tar archive; `copy` keeps npm's bin symlinks.
    await run(buildah.command, [...buildah.args, 'add', container, image.rootfs, '/'], { timeoutMs: 10 * minute });
    for (const [from, to] of image.copies) await run(buildah.command, [...buildah.args, 'copy', container, from, to], { timeoutMs: 10 * minute });
    await run(buildah.command, [...buildah.args, 'config', ...image.env.flatMap((e) => ['--env', e]), '--cmd', 'node', container], { timeoutMs: minute });
    await run(buildah.command, [...buildah.args, 'commit', '--rm', container, name], { timeoutMs: 10 * minute });
  } catch (error) {
    await run(buildah.command, [...buildah.args, 'rm', container], { timeoutMs: minute }).catch(() => undefined);
    throw error;
  }
}

/**
 * The certificates this machine's Node.js trusts beyond its built-in ones (NODE_EXTRA_CA_CERTS), such as a
 * TLS-inspecting proxy's CA in front of the npm registry. The local base image trusts them too, or `npm ci` in
 * the Dockerfile could not reach the registry from where the host can; the public base needs none of this.
 */
async function buildHostCa(env: NodeJS.ProcessEnv = process.env): Promise<{ path: string; content: string } | undefined> {
  const path = env.NODE_EXTRA_CA_CERTS;
  if (!path) return undefined;
  try {
    return { path, content: await readFile(path, 'utf8') };
  } catch {
    return undefined;
  }
}

/** A bookworm minbase root filesystem as a tar file, made by debootstrap once and kept in the cache. */
async function ensureRootfs(options: ImageBuildOptions): Promise<string> {
  const { paths, progress } = options;
  const run = options.run ?? runTool;
  const tarball = join(paths.cacheDir, 'images', `rootfs-${suite}-${shortHash(rootfsRecipe)}.tar`);
  if (await exists(tarball)) return tarball;
  const debootstrap = (await findOnPath('debootstrap', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`)) ?? failMissing('debootstrap');
  const work = join(paths.cacheDir, 'images', `.rootfs-${randomBytes(4).toString('hex')}`);
  const root = join(work, 'root');
  await mkdir(work, { recursive: true });
  progress(`debootstrap: a Debian ${suite} minbase root filesystem from ${debianMirror} (first run: ~2-5 min)`);
  try {
    await run(debootstrap, ['--variant=minbase', suite, root, debianMirror], { timeoutMs: 30 * minute });
    for (const path of slimmedPaths) await rm(join(root, path), { recursive: true, force: true });
    await run('find', [join(root, 'usr/share/doc'), '-type', 'f', '!', '-name', 'copyright', '-delete'], { timeoutMs: minute });
    await mkdir(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    await mkdir(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
    await mkdir(join(root, 'var/log'), { recursive: true });
    await run('tar', ['--numeric-owner', '-C', root, '-cf', join(work, 'rootfs.tar'), '.'], { timeoutMs: 10 * minute });
    await rename(join(work, 'rootfs.tar'), tarball);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return tarball;
}

/** swell's image, built from the project's Dockerfile on the local base image. */
export async function buildSwellImage(options: ImageBuildOptions): Promise<BuiltImage> {
  const { repoDir } = options.paths;
  const version = (JSON.parse(await readFile(join(repoDir, 'package.json'), 'utf8')) as { version: string }).version;
  const roots = dockerignoreRoots(await readFile(join(repoDir, '.dockerignore'), 'utf8'));
  return buildImage(options, { repository: 'swell', tagPrefix: version, contextDir: repoDir, contextEntries: ['Dockerfile', '.dockerignore', ...roots] });
}

/** The demo and test consumer: pops a Redis list, one item at a time (see tools/consumer-image/README.md). */
export async function buildConsumerImage(options: ImageBuildOptions): Promise<BuiltImage> {
  return buildImage(options, {
    repository: 'swell-consumer',
    tagPrefix: 'dev',
    contextDir: join(options.paths.repoDir, consumerImageDir),
    contextEntries: ['.'],
  });
}

interface ImageRecipe {
  repository: string;
  tagPrefix: string;
  contextDir: string;
  contextEntries: string[];
}

async function buildImage(options: ImageBuildOptions, recipe: ImageRecipe): Promise<BuiltImage> {
  const { paths, progress } = options;
  const run = options.run ?? runTool;
  const base = await ensureNodeBaseImage(options);
  const key = shortHash(await contentKey(recipe.contextDir, recipe.contextEntries, [base]));
  const repository = `docker.io/local/${recipe.repository}`;
  const tag = `${recipe.tagPrefix}-${key}`;
  const name = `${repository}:${tag}`;
  const archive = join(paths.cacheDir, 'images', `${recipe.repository}-${recipe.tagPrefix}-${key}.tar`);
  if (await exists(archive)) return { archive, name, repository, tag, cached: true };
  const buildah = await buildahCommand(paths.cacheDir);
  progress(
    `buildah: building ${name} from ${relative(paths.repoDir, join(recipe.contextDir, 'Dockerfile')) || 'Dockerfile'} (npm ci inside; first run: a few minutes)`,
  );
  await run(
    buildah.command,
    [
      ...buildah.args,
      'build',
      '--pull=never',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--layers',
      '--build-arg',
      `NODE_IMAGE=${base}`,
      '-t',
      name,
      recipe.contextDir,
    ],
    { cwd: recipe.contextDir, timeoutMs: 45 * minute },
  );
  const partial = `${archive}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await run(buildah.command, [...buildah.args, 'push', '--quiet', name, `docker-archive:${partial}:${name}`], { timeoutMs: 10 * minute });
    await rename(partial, archive);
  } finally {
    await rm(partial, { force: true });
  }
  await pruneOlderBuilds(run, buildah, join(paths.cacheDir, 'images'), recipe);
  return { archive, name, repository, tag, cached: false };
}

/** Archives of one image kept in the cache: several checkouts share it, so not only the newest one. */
const keptArchives = 3;

/**
 * Each source change adds a ~300 MB archive and an image in buildah's storage; beyond the newest few of a
 * repository both are removed. The layer cache (untagged intermediate images) stays, so an edit rebuilds in seconds.
 */
export async function pruneOlderBuilds(run: ToolRunner, buildah: Buildah, dir: string, recipe: Pick<ImageRecipe, 'repository' | 'tagPrefix'>): Promise<void> {
  const prefix = `${recipe.repository}-${recipe.tagPrefix}-`;
  const archives = (await readdir(dir)).filter((f) => f.startsWith(prefix) && /^[0-9a-f]{12}\.tar$/.test(f.slice(prefix.length)));
  const byAge = await Promise.all(archives.map(async (f) => ({ file: f, mtime: (await stat(join(dir, f))).mtimeMs })));
  for (const { file } of byAge.sort((a, b) => b.mtime - a.mtime).slice(keptArchives)) {
    await rm(join(dir, file), { force: true });
    const tag = `${recipe.tagPrefix}-${file.slice(prefix.length, -'.tar'.length)}`;
    await run(buildah.command, [...buildah.args, 'rmi', `docker.io/local/${recipe.repository}:${tag}`], { timeoutMs: minute }).catch(() => undefined);
  }
}

export interface Buildah {
  command: string;
  args: string[];
}

/** buildah with its own storage in the cache folder, so images persist between runs and nothing system-wide changes. */
async function buildahCommand(cacheDir: string): Promise<Buildah> {
  const command = (await findOnPath('buildah')) ?? failMissing('buildah');
  const storage = join(cacheDir, 'images', 'buildah');
  return { command, args: ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'overlay'] };
}

async function imageExists(run: ToolRunner, buildah: Buildah, name: string): Promise<boolean> {
  try {
    await run(buildah.command, [...buildah.args, 'inspect', '--type', 'image', name], { timeoutMs: minute });
    return true;
  } catch {
    return false;
  }
}

function failMissing(command: string): never {
  throw new Error(`"${command}" is not installed; install it with: apt-get install -y ${command}`);
}

function shortHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}

function lastLine(output: string): string {
  return output.trimEnd().split('\n').at(-1)?.trim() ?? '';
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
