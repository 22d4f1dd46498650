import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ComponentStartError, type ComponentContext } from './component.js';
import { findOnPath, staticRequirements, type Requirement } from './prerequisites.js';

/**
 * Pinned because a bare `dependency:` prefix makes Maven 3.8 resolve whatever plugin is newest that day,
 * which would make a cold sandbox install differ from a warm one.
 */
export const MAVEN_DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

/** Runs a program to completion; resolves with its combined output, rejects with that output on failure. */
export type ToolRunner = (command: string, args: readonly string[], options: { cwd?: string; timeoutMs: number }) => Promise<string>;

export const runTool: ToolRunner = (command, args, options) =>
  new Promise((resolve, reject) => {
    execFile(command, [...args], { cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (!error) return resolve(output);
      const how = error.killed ? `was stopped after ${Math.round(options.timeoutMs / 1000)}s` : `exited with ${error.code ?? error.signal ?? 'an error'}`;
      const tail = output.trimEnd().split('\n').slice(-20).join('\n');
      reject(new Error(`\`${command} ${args.join(' ')}\` ${how}${tail ? `:\n${tail}` : ''}`));
    });
  });

/** Fails with a message naming the Debian package to install when `command` is not on PATH. */
export async function requireCommand(component: string, command: string, aptPackage: string): Promise<string> {
  const found = await findOnPath(command);
  if (!found) {
    throw new ComponentStartError(component, `"${command}" is not installed; install it with: apt-get install -y ${aptPackage}`);
  }
  return found;
}

export interface MavenRuntime {
  /** Component name for messages, e.g. "kafka". */
  readonly component: string;
  /** What is downloaded, for progress messages, e.g. "Apache Kafka 4.4.0". */
  readonly title: string;
  /** The folder holding the pom.xml whose runtime dependencies make up the classpath. */
  readonly pomDir: string;
  /** Where the jars end up, keyed by version, e.g. <cacheDir>/kafka-4.4.0/lib. */
  readonly libDir: string;
}

/** Java to run the server; Maven only while the jars are not in the cache yet. */
export async function mavenRequirements(runtime: MavenRuntime): Promise<Requirement[]> {
  return [...staticRequirements.java, ...((await mavenRuntimeInstalled(runtime.libDir)) ? [] : staticRequirements.maven)];
}

/** True once `libDir` holds jars; it only ever appears complete, because it is renamed into place. */
export async function mavenRuntimeInstalled(libDir: string): Promise<boolean> {
  try {
    return (await readdir(libDir)).some((name) => name.endsWith('.jar'));
  } catch {
    return false;
  }
}

/**
 * Copies the runtime dependencies of `pomDir`'s pom.xml from Maven Central into `libDir`, once. Maven writes
 * into a sibling temp folder that is renamed into place only on success, so an interrupted download never
 * leaves a half-filled cache that a later run would mistake for a complete one.
 */
export async function installMavenRuntime(ctx: ComponentContext, runtime: MavenRuntime, run: ToolRunner = runTool): Promise<void> {
  await requireCommand(runtime.component, 'java', 'openjdk-17-jre-headless');
  if (await mavenRuntimeInstalled(runtime.libDir)) return;
  await requireCommand(runtime.component, 'mvn', 'maven');
  ctx.progress(`downloading ${runtime.title} from Maven Central (first run takes up to a minute)`);
  const parent = dirname(runtime.libDir);
  await mkdir(parent, { recursive: true });
  const staging = join(parent, `.lib-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await run(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        join(runtime.pomDir, 'pom.xml'),
        `${MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies`,
        `-DoutputDirectory=${staging}`,
        '-DincludeScope=runtime',
      ],
      { cwd: runtime.pomDir, timeoutMs: 15 * 60_000 },
    );
    if (!(await mavenRuntimeInstalled(staging))) throw new Error(`Maven copied no jars into ${staging}`);
    await rename(staging, runtime.libDir).catch(async (error: unknown) => {
      // Another `up` finished the same download first; its copy is as good as ours.
      if (!(await mavenRuntimeInstalled(runtime.libDir))) throw error;
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ComponentStartError(runtime.component, `downloading ${runtime.title} from Maven Central failed: ${reason}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * JVM flags for the sandbox's Java servers. They share two cores with a control plane, so startup speed
 * beats peak throughput: the C1 compiler alone and the serial collector cut ElasticMQ's time to its first
 * answer from ~24 s to ~10-16 s on a loaded two-core machine. Heap sizes are left to each server.
 */
export const SANDBOX_JVM_OPTIONS: readonly string[] = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Djava.awt.headless=true'];

/** The java -cp value for every jar in `libDir` (the JVM expands the trailing wildcard itself). */
export function classpath(libDir: string): string {
  return join(libDir, '*');
}
