import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import type { ComponentContext } from './component.js';
import {
  installKubeBinaries,
  installNodeBinaries,
  kubeBuildNeeded,
  kubernetesLdflags,
  nodeBuildNeeded,
  resolveKubeBinaries,
  type BuildRunner,
} from './kube-install.js';

describe('kubernetesLdflags', () => {
  it('stamps both version packages so /version reports the release', () => {
    const flags = kubernetesLdflags('v1.34.4');
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      expect(flags).toContain(`-X ${pkg}.gitVersion=v1.34.4`);
      expect(flags).toContain(`-X ${pkg}.gitMajor=1`);
      expect(flags).toContain(`-X ${pkg}.gitMinor=34`);
    }
    expect(flags.startsWith('-s -w ')).toBe(true);
  });

  it('rejects a version that is not vMAJOR.MINOR.PATCH', () => {
    expect(() => kubernetesLdflags('1.34')).toThrow(/"1.34" is not vMAJOR.MINOR.PATCH/);
  });
});

describe('installKubeBinaries', () => {
  let root: string;
  let ctx: ComponentContext;
  let progress: string[];
  let goDir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'kube-install-'));
    progress = [];
    goDir = join(root, 'go-bin');
    await executable(join(goDir, 'go'));
    ctx = {
      paths: { cacheDir: join(root, 'cache'), stateDir: join(root, 'state'), repoDir: join(root, 'repo') },
      log: createLogger({ level: 'silent' }),
      progress: (m) => progress.push(m),
      spawn: () => Promise.reject(new Error('not used')),
      env: {},
    };
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A fake `go build` that writes the binaries named by -o (a folder with trailing / or a file). */
  function fakeGo(calls: { cwd: string; args: readonly string[]; env: Readonly<Record<string, string>> }[]): BuildRunner {
    return async (_command, args, options) => {
      calls.push({ cwd: options.cwd, args, env: options.env });
      const out = args[args.indexOf('-o') + 1] ?? '';
      if (out.endsWith('/')) {
        for (const pkg of args.slice(args.indexOf('-o') + 2)) await executable(join(out, pkg.split('/').pop() ?? ''));
      } else {
        await executable(out);
      }
      return '';
    };
  }

  it('builds every missing tool from its own module, then does nothing on the next run', async () => {
    const calls: { cwd: string; args: readonly string[]; env: Readonly<Record<string, string>> }[] = [];
    const env = { PATH: goDir };
    const binaries = await installKubeBinaries(ctx, fakeGo(calls), env);
    expect(calls.map((c) => c.cwd)).toEqual(['etcd', 'k8s', 'kwok'].map((m) => join(root, 'repo', 'tools', m)));
    expect(calls.every((c) => c.env.CGO_ENABLED === '0')).toBe(true);
    expect(binaries.kubeApiserver).toBe(join(root, 'cache', 'k8s-v1.34.4', 'bin', 'kube-apiserver'));
    expect(binaries.etcd).toBe(join(root, 'cache', 'etcd-v3.6.14', 'bin', 'etcd'));
    expect(binaries.kwok).toBe(join(root, 'cache', 'kwok-v0.8.0', 'bin', 'kwok'));
    expect(progress.some((m) => m.includes('15-30 min'))).toBe(true);
    expect(await readdir(join(root, 'cache', 'k8s-v1.34.4'))).toEqual(['bin']);

    calls.length = 0;
    await installKubeBinaries(ctx, fakeGo(calls), env);
    expect(calls).toEqual([]);
  });

  it('uses binaries from KUBEBUILDER_ASSETS and builds only what that folder lacks', async () => {
    const assets = join(root, 'assets');
    for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) await executable(join(assets, name));
    const calls: { cwd: string; args: readonly string[]; env: Readonly<Record<string, string>> }[] = [];
    const env = { PATH: goDir, KUBEBUILDER_ASSETS: assets };
    const binaries = await installKubeBinaries(ctx, fakeGo(calls), env);
    expect(calls.map((c) => c.cwd)).toEqual([join(root, 'repo', 'tools', 'kwok')]);
    expect(binaries.kubeApiserver).toBe(join(assets, 'kube-apiserver'));
    expect(binaries.etcd).toBe(join(assets, 'etcd'));
    expect(await resolveKubeBinaries(ctx.paths.cacheDir, env)).toEqual(binaries);
  });

  it('leaves no partial binary or temp folder behind when a build fails', async () => {
    const failing: BuildRunner = async (_c, args) => {
      await writeFile(join(args[args.indexOf('-o') + 1] ?? '', '..', 'half-written'), '');
      throw new Error('compile error in some/pkg');
    };
    await expect(installKubeBinaries(ctx, failing, { PATH: goDir })).rejects.toThrow(
      /kube failed to start: building etcd in tools\/etcd failed: compile error in some\/pkg/,
    );
    expect(await readdir(join(root, 'cache', 'etcd-v3.6.14'))).toEqual([]);
  });

  it("builds the node's kubelet and kube-proxy from the control plane's module with the same version stamp", async () => {
    const calls: { cwd: string; args: readonly string[]; env: Readonly<Record<string, string>> }[] = [];
    const env = { PATH: goDir };
    expect(await nodeBuildNeeded(ctx.paths.cacheDir, env)).toBe(true);
    const binaries = await installNodeBinaries(ctx, fakeGo(calls), env);
    expect(calls.map((c) => c.cwd)).toEqual([join(root, 'repo', 'tools', 'k8s')]);
    expect(calls[0]?.args).toContain(kubernetesLdflags('v1.34.4'));
    expect(calls[0]?.args.slice(-2)).toEqual(['k8s.io/kubernetes/cmd/kubelet', 'k8s.io/kubernetes/cmd/kube-proxy']);
    expect(binaries).toEqual({
      kubelet: join(root, 'cache', 'k8s-v1.34.4', 'bin', 'kubelet'),
      kubeProxy: join(root, 'cache', 'k8s-v1.34.4', 'bin', 'kube-proxy'),
    });
    expect(await nodeBuildNeeded(ctx.paths.cacheDir, env)).toBe(false);
    // The control plane is a separate build: still missing, so Go is still required for it.
    expect(await kubeBuildNeeded(ctx.paths.cacheDir, env)).toBe(true);
  });

  it('says how to get Go when it is missing', async () => {
    await expect(installKubeBinaries(ctx, fakeGo([]), { PATH: join(root, 'nowhere') })).rejects.toThrow(
      /"go" is not on PATH; install Go >= 1.26 to build etcd, k8s, kwok/,
    );
  });
});

async function executable(path: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, '#!/bin/sh\n');
  await chmod(path, 0o755);
}
