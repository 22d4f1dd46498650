import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findOnPath } from './prerequisites.js';
import { findRepoDir } from './paths.js';

export const helmVersion = 'v3.21.4';

const minute = 60_000;

/**
 * Helm's release build stamps the Kubernetes version it assumes for `helm template` and `helm lint` from the
 * client-go it compiles against (client-go v0.N → Kubernetes 1.N). An unstamped `go build` falls back to 1.20,
 * which fails charts with a newer kubeVersion and runs the deprecation checks against the wrong release.
 */
export function helmLdflags(version: string, goMod: string): string {
  const clientGo = /^\s*(?:require\s+)?k8s\.io\/client-go v0\.(\d+)\.\d+/m.exec(goMod);
  if (!clientGo) throw new Error('tools/helm/go.mod does not require k8s.io/client-go v0.N.x; run `go mod tidy` in tools/helm');
  const stamps = [
    `helm.sh/helm/v3/internal/version.version=${version}`,
    'helm.sh/helm/v3/internal/version.gitTreeState=clean',
    'helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1',
    `helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${clientGo[1]}`,
    'helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1',
    `helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${clientGo[1]}`,
  ];
  return ['-s', '-w', ...stamps.flatMap((s) => ['-X', s])].join(' ');
}

/** Where ensureHelm keeps the binary for a version. */
export function helmBinaryPath(cacheDir: string, version = helmVersion): string {
  return join(cacheDir, `helm-${version}`, 'bin', 'helm');
}

/**
 * The helm binary, built from the Go module proxy through the wrapper module tools/helm on first use (~2-5 min)
 * and reused from the version-keyed cache after that. Builds into a temp folder and renames into place, so a
 * killed build leaves no half binary and two concurrent callers both end with a complete one.
 */
export async function ensureHelm(cacheDir: string, progress: (message: string) => void): Promise<string> {
  const binary = helmBinaryPath(cacheDir);
  if (await isExecutable(binary)) return binary;
  const go = await findOnPath('go', process.env.PATH);
  if (!go) throw new Error(`"go" is not on PATH; install Go >= 1.26 to build helm ${helmVersion} (tools/helm)`);
  const moduleDir = join(findRepoDir(), 'tools', 'helm');
  const ldflags = helmLdflags(helmVersion, await readFile(join(moduleDir, 'go.mod'), 'utf8'));
  const tmpDir = join(cacheDir, `.build-helm-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir, { recursive: true });
  progress(`building helm ${helmVersion} from the Go module proxy (first run: ~2-5 min)`);
  try {
    await run(go, ['build', '-trimpath', '-ldflags', ldflags, '-o', join(tmpDir, 'helm'), 'helm.sh/helm/v3/cmd/helm'], moduleDir, 30 * minute);
    await mkdir(join(binary, '..'), { recursive: true });
    await rename(join(tmpDir, 'helm'), binary);
  } catch (error) {
    throw new Error(`building helm in tools/helm failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  return binary;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: { ...process.env, CGO_ENABLED: '0' }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${`${stdout}${stderr}`.trimEnd().split('\n').slice(-30).join('\n')}`));
      else resolve();
    });
  });
}
