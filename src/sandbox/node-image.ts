import { randomBytes } from 'node:crypto';
import { access, chmod, copyFile, mkdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool, type ToolRunner } from './maven.js';

/** Debian's busybox-static: one static binary, so a one-layer image needs no libc or package manager. */
export const busyboxBinary = '/bin/busybox';

/** An image to build from busybox: its name inside containerd and the command it runs. */
export interface LocalImageSpec {
  /** Full reference, e.g. docker.io/swell/pause:local (the CRI would otherwise try to pull a short name). */
  readonly name: string;
  readonly cmd: readonly string[];
}

export interface LocalImages {
  /** OCI archive of each image, keyed by the image's name. */
  readonly archives: Readonly<Record<string, string>>;
}

/**
 * Builds OCI image archives from Debian's static busybox with umoci (no registry, no daemon), once per
 * busybox version, into `<cacheDir>/images`. A killed build leaves no half archive: each is renamed into place.
 */
export async function buildBusyboxImages(cacheDir: string, specs: readonly LocalImageSpec[], run: ToolRunner = runTool): Promise<LocalImages> {
  const version = (await run(busyboxBinary, [], { timeoutMs: 10_000 }).catch((error: unknown) => String(error))).split('\n')[0] ?? '';
  const tag = /v(\d+\.\d+\.\d+)/.exec(version)?.[1] ?? 'unknown';
  const dir = join(cacheDir, 'images', `busybox-${tag}`);
  const archives: Record<string, string> = {};
  for (const spec of specs) {
    const archive = join(dir, `${archiveFileName(spec.name)}.tar`);
    archives[spec.name] = archive;
    if (!(await exists(archive))) await buildOne(dir, spec, archive, run);
  }
  return { archives };
}

/** docker.io/swell/pause:local → swell-pause-local: a file name that says which image it holds. */
export function archiveFileName(name: string): string {
  return name.replace(/^docker\.io\//, '').replace(/[^a-zA-Z0-9.-]+/g, '-');
}

async function buildOne(dir: string, spec: LocalImageSpec, archive: string, run: ToolRunner): Promise<void> {
  const work = join(dir, `.build-${randomBytes(4).toString('hex')}`);
  const layout = join(work, 'layout');
  const bundle = join(work, 'bundle');
  // Tagged like the image, so importing with the repository as base name gives exactly its name.
  const image = `${layout}:${spec.name.split(':').pop() ?? 'latest'}`;
  const umoci = (args: string[]) => run('umoci', args, { timeoutMs: 120_000 });
  try {
    await mkdir(work, { recursive: true });
    await umoci(['init', '--layout', layout]);
    await umoci(['new', '--image', image]);
    await umoci(['unpack', '--image', image, bundle]);
    await addBusybox(join(bundle, 'rootfs'), run);
    await umoci(['repack', '--image', image, bundle]);
    await umoci(['config', '--image', image, '--config.workingdir', '/', '--config.env', 'PATH=/bin', ...spec.cmd.flatMap((word) => ['--config.cmd', word])]);
    await umoci(['gc', '--layout', layout]);
    await run('tar', ['-C', layout, '-cf', `${archive}.tmp`, '.'], { timeoutMs: 60_000 });
    await rename(`${archive}.tmp`, archive);
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(`${archive}.tmp`, { force: true });
  }
}

/** /bin/busybox plus a link per applet, and the folders programs expect to exist. */
async function addBusybox(rootfs: string, run: ToolRunner): Promise<void> {
  const bin = join(rootfs, 'bin');
  await Promise.all(['bin', 'tmp', 'etc', 'proc', 'sys', 'dev', 'var/www'].map((d) => mkdir(join(rootfs, d), { recursive: true })));
  await copyFile(busyboxBinary, join(bin, 'busybox'));
  await chmod(join(bin, 'busybox'), 0o755);
  await chmod(join(rootfs, 'tmp'), 0o1777);
  const applets = (await run(busyboxBinary, ['--list'], { timeoutMs: 10_000 })).split('\n').map((s) => s.trim());
  for (const applet of applets.filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox')) await symlink('busybox', join(bin, applet));
}

/**
 * Imports an OCI image archive (or a docker-archive, e.g. from `buildah push ... docker-archive:`) into a
 * containerd's `k8s.io` namespace, where the CRI and so the kubelet see it, under `name` — a full reference such
 * as docker.io/swell/operator:dev, so pods with `imagePullPolicy: Never` or `IfNotPresent` use it without a pull.
 * The archive must hold one image. Names the archive itself carries are kept as extra names: removing a name
 * behind the CRI's back leaves its image cache pointing at the removed name, and pods of that image then fail.
 */
export async function importImage(containerdSocket: string, archive: string, name: string, run: ToolRunner = runTool): Promise<void> {
  await access(archive).catch(() => {
    throw new Error(`cannot import ${name}: no image archive at ${archive}`);
  });
  const reference = /^([a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+):([\w][\w.-]*)$/.exec(name);
  if (!reference?.[1]) throw new Error(`cannot import "${name}": give a full reference with a registry host and a tag, e.g. docker.io/swell/app:dev`);
  const ctr = (args: string[], timeoutMs = 30_000) => run('ctr', ['--address', containerdSocket, '--namespace', 'k8s.io', 'images', ...args], { timeoutMs });
  // An OCI layout tagged "dev" imports as <repository>:dev; a docker-archive keeps its own full names.
  const created = importedNames(await ctr(['import', '--base-name', reference[1], archive], 300_000));
  if (created.includes(name)) return;
  if (created.length !== 1 || !created[0])
    throw new Error(`cannot import ${name}: ${archive} holds ${created.length} images (${created.join(', ')}); give an archive of one image`);
  await ctr(['tag', '--force', created[0], name]);
}

/** The image names `ctr images import` reports ("unpacking <name> (sha256:...)...done"), in order. */
export function importedNames(output: string): string[] {
  return [...output.matchAll(/^unpacking (\S+) \(sha256:[0-9a-f]+\)/gm)].map((m) => m[1] ?? '').filter(Boolean);
}

/** The names of the images in a containerd's `k8s.io` namespace. */
export async function listImages(containerdSocket: string, run: ToolRunner = runTool): Promise<string[]> {
  const out = await run('ctr', ['--address', containerdSocket, '--namespace', 'k8s.io', 'images', 'list', '--quiet'], { timeoutMs: 30_000 });
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
