import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../log.js';
import type { ComponentContext } from './component.js';
import { installMavenRuntime, mavenRuntimeInstalled, type MavenRuntime, type ToolRunner } from './maven.js';
import { findOnPath } from './prerequisites.js';

let root: string;
let bin: string;
let runtime: MavenRuntime;
let progress: string[];

function context(): ComponentContext {
  return {
    paths: { cacheDir: join(root, 'cache'), stateDir: join(root, 'state'), repoDir: root },
    log: createLogger({ level: 'silent' }),
    progress: (message) => progress.push(message),
    spawn: () => Promise.reject(new Error('not used')),
    env: {},
  };
}

/** A stand-in for mvn that writes the given jars into -DoutputDirectory, then fails if asked to. */
function fakeMaven(jars: string[], failure?: string): ToolRunner & { calls: number } {
  const run = async (_command: string, args: readonly string[]) => {
    run.calls += 1;
    const out = args.find((a) => a.startsWith('-DoutputDirectory='))?.slice('-DoutputDirectory='.length);
    if (!out) throw new Error('no output directory');
    await mkdir(out, { recursive: true });
    for (const jar of jars) await writeFile(join(out, jar), 'PK');
    if (failure) throw new Error(failure);
    return '';
  };
  run.calls = 0;
  return run;
}

async function executable(name: string): Promise<void> {
  await writeFile(join(bin, name), '#!/bin/sh\n');
  await chmod(join(bin, name), 0o755);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'swell-maven-'));
  bin = join(root, 'bin');
  await mkdir(bin);
  await executable('java');
  await executable('mvn');
  vi.stubEnv('PATH', bin);
  runtime = { component: 'kafka', title: 'Apache Kafka 9.9.9', pomDir: join(root, 'tools', 'kafka'), libDir: join(root, 'cache', 'kafka-9.9.9', 'lib') };
  progress = [];
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(root, { recursive: true, force: true });
});

describe('installMavenRuntime', () => {
  it('fills the versioned lib folder and leaves nothing else beside it', async () => {
    await installMavenRuntime(context(), runtime, fakeMaven(['kafka.jar', 'scala.jar']));
    expect((await readdir(runtime.libDir)).sort()).toEqual(['kafka.jar', 'scala.jar']);
    expect(await readdir(join(root, 'cache', 'kafka-9.9.9'))).toEqual(['lib']);
    expect(progress.join('\n')).toMatch(/downloading Apache Kafka 9\.9\.9 from Maven Central/);
  });

  it('does not download again when the jars are already there', async () => {
    await installMavenRuntime(context(), runtime, fakeMaven(['kafka.jar']));
    const second = fakeMaven(['other.jar']);
    progress = [];
    await installMavenRuntime(context(), runtime, second);
    expect(second.calls).toBe(0);
    expect(progress).toEqual([]);
    expect(await readdir(runtime.libDir)).toEqual(['kafka.jar']);
  });

  it.each([
    { name: 'Maven fails half way', run: () => fakeMaven(['half.jar'], 'Could not transfer artifact'), error: /Could not transfer artifact/ },
    { name: 'Maven copies no jars', run: () => fakeMaven([]), error: /copied no jars/ },
  ])('leaves no cache when $name', async ({ run, error }) => {
    const attempt = installMavenRuntime(context(), runtime, run());
    await expect(attempt).rejects.toThrow(/kafka failed to start: downloading Apache Kafka 9\.9\.9 from Maven Central failed/);
    await expect(installMavenRuntime(context(), runtime, run())).rejects.toThrow(error);
    expect(await mavenRuntimeInstalled(runtime.libDir)).toBe(false);
    expect(await readdir(join(root, 'cache', 'kafka-9.9.9'))).toEqual([]);
  });

  it('lets two concurrent installs both succeed with one complete copy', async () => {
    await Promise.all([installMavenRuntime(context(), runtime, fakeMaven(['a.jar'])), installMavenRuntime(context(), runtime, fakeMaven(['a.jar']))]);
    expect(await readdir(runtime.libDir)).toEqual(['a.jar']);
    expect(await readdir(join(root, 'cache', 'kafka-9.9.9'))).toEqual(['lib']);
  });

  it.each([
    ['mvn', 'maven'],
    ['java', 'openjdk-17-jre-headless'],
  ])('names the apt package when %s is missing', async (command, aptPackage) => {
    await rm(join(bin, command));
    await expect(installMavenRuntime(context(), runtime, fakeMaven(['a.jar']))).rejects.toThrow(
      `"${command}" is not installed; install it with: apt-get install -y ${aptPackage}`,
    );
  });

  it('needs java but not mvn once the jars are cached', async () => {
    await installMavenRuntime(context(), runtime, fakeMaven(['a.jar']));
    await rm(join(bin, 'mvn'));
    await installMavenRuntime(context(), runtime, fakeMaven(['a.jar']));
    await rm(join(bin, 'java'));
    await expect(installMavenRuntime(context(), runtime, fakeMaven(['a.jar']))).rejects.toThrow(/"java" is not installed/);
  });
});

describe('findOnPath', () => {
  it('finds executables only', async () => {
    await writeFile(join(bin, 'plain-file'), '');
    expect(await findOnPath('mvn', `/nonexistent:${bin}`)).toBe(join(bin, 'mvn'));
    expect(await findOnPath('plain-file', bin)).toBeUndefined();
    expect(await findOnPath('absent', bin)).toBeUndefined();
  });
});
