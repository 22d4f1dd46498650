import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ComponentStartError, type ComponentContext } from './component.js';
import { findOnPath } from './prerequisites.js';

export const kubernetesVersion = 'v1.34.4';
export const etcdVersion = 'v3.6.14';
export const kwokVersion = 'v0.8.0';

const COMPONENT = 'kube';

/** Absolute paths of the control-plane programs `start` runs. */
export interface KubeBinaries {
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly etcd: string;
  readonly kwok: string;
}

/** Runs a program to completion with extra env; rejects with its output when it fails. */
export type BuildRunner = (
  command: string,
  args: readonly string[],
  options: { cwd: string; env: Readonly<Record<string, string>>; timeoutMs: number },
) => Promise<string>;

/**
 * One Go wrapper module in tools/ and the binaries it builds into a version-keyed cache folder. Each tool
 * has its own module so Go's version selection never mixes their dependency graphs.
 */
interface GoBuild {
  readonly title: string;
  readonly module: string;
  readonly binDir: (cacheDir: string) => string;
  /** Binary file name → Go package path. */
  readonly packages: Readonly<Record<string, string>>;
  readonly args: (outDir: string) => string[];
  readonly timeoutMs: number;
}

const minute = 60_000;

const k8sBuild: GoBuild = {
  title: `kube-apiserver, kube-controller-manager, kube-scheduler ${kubernetesVersion} from the Go module proxy (first run: ~15-30 min)`,
  module: 'k8s',
  binDir: (cacheDir) => join(cacheDir, `k8s-${kubernetesVersion}`, 'bin'),
  packages: {
    'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
    'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
    'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
  },
  // The tags and static flags upstream's release build uses; one `go build` so shared packages compile once.
  args: (outDir) => [
    'build',
    '-trimpath',
    '-tags',
    'selinux,notest,grpcnotrace',
    '-ldflags',
    kubernetesLdflags(kubernetesVersion),
    '-o',
    `${outDir}/`,
    ...Object.values(k8sBuild.packages),
  ],
  timeoutMs: 90 * minute,
};

const etcdBuild: GoBuild = {
  title: `etcd ${etcdVersion} from the Go module proxy (first run: ~3-5 min)`,
  module: 'etcd',
  binDir: (cacheDir) => join(cacheDir, `etcd-${etcdVersion}`, 'bin'),
  packages: { etcd: 'go.etcd.io/etcd/server/v3' },
  // `-o <file>`: the package's default binary name would be "v3".
  args: (outDir) => ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(outDir, 'etcd'), 'go.etcd.io/etcd/server/v3'],
  timeoutMs: 30 * minute,
};

const kwokBuild: GoBuild = {
  title: `kwok ${kwokVersion} (fake kubelet) from the Go module proxy (first run: ~5-10 min)`,
  module: 'kwok',
  binDir: (cacheDir) => join(cacheDir, `kwok-${kwokVersion}`, 'bin'),
  packages: { kwok: 'sigs.k8s.io/kwok/cmd/kwok' },
  args: (outDir) => ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(outDir, 'kwok'), 'sigs.k8s.io/kwok/cmd/kwok'],
  timeoutMs: 30 * minute,
};

/** The real node's programs, from the same module (one dependency graph) and the same tags and version stamp. */
const nodeBuild: GoBuild = {
  title: `kubelet and kube-proxy ${kubernetesVersion} from the Go module proxy (first run: ~10 min after the control plane)`,
  module: 'k8s',
  binDir: k8sBuild.binDir,
  packages: {
    kubelet: 'k8s.io/kubernetes/cmd/kubelet',
    'kube-proxy': 'k8s.io/kubernetes/cmd/kube-proxy',
  },
  args: (outDir) => [
    'build',
    '-trimpath',
    '-tags',
    'selinux,notest,grpcnotrace',
    '-ldflags',
    kubernetesLdflags(kubernetesVersion),
    '-o',
    `${outDir}/`,
    ...Object.values(nodeBuild.packages),
  ],
  timeoutMs: 60 * minute,
};

const builds = [etcdBuild, k8sBuild, kwokBuild, nodeBuild] as const;

/**
 * Sets the version variables so `/version` reports a real semver (clients such as Helm parse it) instead of
 * the `v0.0.0-master` placeholder of an unstamped build.
 */
export function kubernetesLdflags(version: string): string {
  const match = /^v(\d+)\.(\d+)\.\d+$/.exec(version);
  if (!match) throw new Error(`kubernetes version "${version}" is not vMAJOR.MINOR.PATCH`);
  const stamp = (pkg: string) =>
    [`gitVersion=${version}`, `gitMajor=${match[1]}`, `gitMinor=${match[2]}`, 'gitTreeState=clean', 'buildDate=1970-01-01T00:00:00Z'].map(
      (v) => `-X ${pkg}.${v}`,
    );
  return ['-s', '-w', ...stamp('k8s.io/component-base/version'), ...stamp('k8s.io/client-go/pkg/version')].join(' ');
}

/** Absolute paths of the real node's programs. */
export interface NodeBinaries {
  readonly kubelet: string;
  readonly kubeProxy: string;
}

type Sources<T> = Record<keyof T, { build: GoBuild; file: string }>;

/** Which build makes each binary, and its file name. */
const sources: Sources<KubeBinaries> = {
  kubeApiserver: { build: k8sBuild, file: 'kube-apiserver' },
  kubeControllerManager: { build: k8sBuild, file: 'kube-controller-manager' },
  kubeScheduler: { build: k8sBuild, file: 'kube-scheduler' },
  etcd: { build: etcdBuild, file: 'etcd' },
  kwok: { build: kwokBuild, file: 'kwok' },
};

const nodeSources: Sources<NodeBinaries> = {
  kubelet: { build: nodeBuild, file: 'kubelet' },
  kubeProxy: { build: nodeBuild, file: 'kube-proxy' },
};

/**
 * Where each binary comes from: a directory named by KUBEBUILDER_ASSETS wins when it holds that binary
 * (the layout controller-runtime's envtest uses), otherwise the version-keyed cache.
 */
export function resolveKubeBinaries(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<KubeBinaries> {
  return resolveFrom(sources, cacheDir, env);
}

export function resolveNodeBinaries(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<NodeBinaries> {
  return resolveFrom(nodeSources, cacheDir, env);
}

/** Builds whatever binary is missing; a no-op when all exist. */
export function installKubeBinaries(ctx: ComponentContext, run: BuildRunner = runBuild, env: NodeJS.ProcessEnv = process.env): Promise<KubeBinaries> {
  return installFrom(sources, ctx, run, env);
}

export function installNodeBinaries(ctx: ComponentContext, run: BuildRunner = runBuild, env: NodeJS.ProcessEnv = process.env): Promise<NodeBinaries> {
  return installFrom(nodeSources, ctx, run, env);
}

/** True when some control-plane binary is not there yet, so `install` would need Go. */
export async function kubeBuildNeeded(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return anyMissing(await resolveKubeBinaries(cacheDir, env));
}

export async function nodeBuildNeeded(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return anyMissing(await resolveNodeBinaries(cacheDir, env));
}

async function anyMissing(binaries: object): Promise<boolean> {
  const present = await Promise.all(Object.values(binaries as Record<string, string>).map(isExecutable));
  return present.some((p) => !p);
}

async function resolveFrom<T>(from: Sources<T>, cacheDir: string, env: NodeJS.ProcessEnv): Promise<T> {
  const entries = await Promise.all(
    Object.entries<{ build: GoBuild; file: string }>(from).map(async ([key, { build, file }]) => {
      const assets = env.KUBEBUILDER_ASSETS;
      const path = assets && (await isExecutable(join(assets, file))) ? join(assets, file) : join(build.binDir(cacheDir), file);
      return [key, path] as const;
    }),
  );
  return Object.fromEntries(entries) as T;
}

async function installFrom<T>(from: Sources<T>, ctx: ComponentContext, run: BuildRunner, env: NodeJS.ProcessEnv): Promise<T> {
  const binaries = await resolveFrom(from, ctx.paths.cacheDir, env);
  const pending = new Set<GoBuild>();
  for (const [key, { build }] of Object.entries<{ build: GoBuild; file: string }>(from)) {
    if (!(await isExecutable((binaries as Record<string, string>)[key] ?? ''))) pending.add(build);
  }
  if (pending.size === 0) return binaries;
  const ordered = builds.filter((b) => pending.has(b));
  const go = await findOnPath('go', env.PATH);
  const modules = ordered.map((b) => b.module).join(', ');
  if (!go)
    throw new ComponentStartError(
      COMPONENT,
      `"go" is not on PATH; install Go >= 1.26 to build ${modules} (or set KUBEBUILDER_ASSETS to a folder holding the binaries)`,
    );
  for (const build of ordered) await buildInto(ctx, build, go, run);
  return binaries;
}

/** Builds into a fresh temp folder beside the cache and renames into place, so a killed build leaves no half binary. */
async function buildInto(ctx: ComponentContext, build: GoBuild, go: string, run: BuildRunner): Promise<void> {
  const binDir = build.binDir(ctx.paths.cacheDir);
  const tmpDir = join(binDir, '..', `.build-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir, { recursive: true });
  ctx.progress(`building ${build.title}`);
  const started = Date.now();
  try {
    await run(go, build.args(tmpDir), { cwd: join(ctx.paths.repoDir, 'tools', build.module), env: { CGO_ENABLED: '0' }, timeoutMs: build.timeoutMs });
    await mkdir(binDir, { recursive: true });
    for (const name of Object.keys(build.packages)) await rename(join(tmpDir, name), join(binDir, name));
  } catch (error) {
    throw new ComponentStartError(
      COMPONENT,
      `building ${build.module} in tools/${build.module} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  ctx.log.info({ module: build.module, seconds: Math.round((Date.now() - started) / 1000) }, 'built');
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const runBuild: BuildRunner = (command, args, options) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${output.trimEnd().split('\n').slice(-40).join('\n')}`));
        else resolve(output);
      },
    );
  });
