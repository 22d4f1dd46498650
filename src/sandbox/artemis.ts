import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent, type SandboxPaths } from './component.js';
import { MAVEN_DEPENDENCY_PLUGIN, requireCommand, runTool, SANDBOX_JVM_OPTIONS, type ToolRunner } from './maven.js';
import { freePort } from './net.js';
import { staticRequirements, type Requirement } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'artemis';
/** Must match artemis.version in tools/artemis/pom.xml; it names the cache folder. */
export const ARTEMIS_VERSION = '2.40.0';
/** The broker's name in its management object names (KEDA's brokerName). */
export const ARTEMIS_BROKER_NAME = 'swell';
/** The sandbox broker's account; a test fixture, not a secret worth protecting. */
export const ARTEMIS_SANDBOX_USER = { username: 'swell', password: 'swell-secret' } as const;

/**
 * ActiveMQ Artemis from its binary distribution on Maven Central: a broker instance created under the
 * sandbox's state folder on every start (its ports are written into the instance), with the web console whose
 * Jolokia endpoint serves the management API.
 */
export function artemisComponent(run: ToolRunner = runTool): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['ARTEMIS_MANAGEMENT_ENDPOINT', 'ARTEMIS_USERNAME', 'ARTEMIS_PASSWORD'],
    async requirements(paths: SandboxPaths): Promise<Requirement[]> {
      return [...staticRequirements.java, ...((await artemisInstalled(paths.cacheDir)) ? [] : staticRequirements.maven)];
    },
    async install(ctx: ComponentContext) {
      await installArtemis(ctx, run);
    },
    async start(ctx: ComponentContext) {
      const instance = join(ctx.paths.stateDir, 'artemis', 'instance');
      await rm(instance, { recursive: true, force: true });
      await mkdir(join(instance, '..'), { recursive: true });
      const [acceptor, http] = await twoPorts();
      await run(artemisCommand(ctx.paths.cacheDir), artemisCreateArgs(instance, acceptor, http), { timeoutMs: 120_000 });
      const daemon = await ctx.spawn({
        name: 'artemis',
        command: join(instance, 'bin', 'artemis'),
        args: ['run'],
        env: { JAVA_ARGS: artemisJavaArgs(instance) },
        cwd: instance,
      });
      const endpoints = artemisEndpoints(acceptor, http);
      await waitUntil(() => artemisAnswers(endpoints.env), {
        component: COMPONENT,
        what: 'the Jolokia broker Version',
        timeoutMs: 120_000,
        intervalMs: 500,
        daemon,
      });
      return endpoints;
    },
    async healthy(endpoints: ComponentEndpoints) {
      return artemisAnswers(endpoints.env).catch(() => false);
    },
  };
}

function artemisHome(cacheDir: string): string {
  return join(cacheDir, `artemis-${ARTEMIS_VERSION}`, `apache-artemis-${ARTEMIS_VERSION}`);
}

function artemisCommand(cacheDir: string): string {
  return join(artemisHome(cacheDir), 'bin', 'artemis');
}

async function artemisInstalled(cacheDir: string): Promise<boolean> {
  return access(artemisCommand(cacheDir)).then(
    () => true,
    () => false,
  );
}

/** Login required, loopback listeners, only the core protocol, the NIO journal (no libaio needed). */
export function artemisCreateArgs(instance: string, acceptor: number, http: number): string[] {
  return [
    'create',
    instance,
    '--silent',
    '--force',
    '--name',
    ARTEMIS_BROKER_NAME,
    '--user',
    ARTEMIS_SANDBOX_USER.username,
    '--password',
    ARTEMIS_SANDBOX_USER.password,
    '--require-login',
    '--host',
    '127.0.0.1',
    '--default-port',
    String(acceptor),
    '--http-host',
    '127.0.0.1',
    '--http-port',
    String(http),
    '--no-amqp-acceptor',
    '--no-mqtt-acceptor',
    '--no-stomp-acceptor',
    '--no-hornetq-acceptor',
    '--nio',
    '--no-autotune',
  ];
}

/**
 * The JVM options the instance's profile would set, with a small heap (its own default reserves 512 MiB on a
 * machine shared with a whole control plane) and the sandbox's quick-start flags.
 */
export function artemisJavaArgs(instance: string): string {
  return [
    ...SANDBOX_JVM_OPTIONS,
    '-Xms64m',
    '-Xmx256m',
    '-Dhawtio.disableProxy=true',
    '-Dhawtio.realm=activemq',
    '-Dhawtio.offline=true',
    '-Dhawtio.rolePrincipalClasses=org.apache.activemq.artemis.spi.core.security.jaas.RolePrincipal',
    `-Djolokia.policyLocation=file:${join(instance, 'etc', 'jolokia-access.xml')}`,
    '-Dlog4j2.disableJmx=true',
  ].join(' ');
}

export function artemisEndpoints(acceptor: number, http: number): ComponentEndpoints {
  return {
    env: {
      ARTEMIS_MANAGEMENT_ENDPOINT: `127.0.0.1:${http}`,
      ARTEMIS_BROKER_URL: `tcp://127.0.0.1:${acceptor}`,
      ARTEMIS_BROKER_NAME,
      ARTEMIS_USERNAME: ARTEMIS_SANDBOX_USER.username,
      ARTEMIS_PASSWORD: ARTEMIS_SANDBOX_USER.password,
    },
    endpoints: { 'artemis (core)': `tcp://127.0.0.1:${acceptor}`, 'artemis (console, Jolokia)': `http://127.0.0.1:${http}/console/jolokia` },
  };
}

/** Jolokia reads the broker's version once the broker and its web console are both up. */
export async function artemisAnswers(env: Readonly<Record<string, string>>): Promise<boolean> {
  const endpoint = env.ARTEMIS_MANAGEMENT_ENDPOINT;
  if (!endpoint) return false;
  const url = `http://${endpoint}/console/jolokia/read/org.apache.activemq.artemis:broker=%22${env.ARTEMIS_BROKER_NAME ?? ARTEMIS_BROKER_NAME}%22/Version`;
  const authorization = `Basic ${Buffer.from(`${env.ARTEMIS_USERNAME ?? ''}:${env.ARTEMIS_PASSWORD ?? ''}`).toString('base64')}`;
  const response = await fetch(url, { headers: { authorization, origin: `http://${endpoint}` }, signal: AbortSignal.timeout(2000) });
  const reply = (await response.json()) as { status?: number };
  return response.ok && reply.status === 200;
}

/**
 * Unpacks the binary distribution (only it: the POM's own dependencies are the broker's jars, already inside)
 * into a temp folder beside the cache, renamed into place only when complete.
 */
async function installArtemis(ctx: ComponentContext, run: ToolRunner): Promise<void> {
  await requireCommand(COMPONENT, 'java', 'openjdk-17-jre-headless');
  if (await artemisInstalled(ctx.paths.cacheDir)) return;
  await requireCommand(COMPONENT, 'mvn', 'maven');
  ctx.progress(`downloading ActiveMQ Artemis ${ARTEMIS_VERSION} from Maven Central (first run: ~1 min)`);
  const target = join(artemisHome(ctx.paths.cacheDir), '..');
  const staging = join(ctx.paths.cacheDir, `.artemis-${randomBytes(4).toString('hex')}`);
  const pomDir = join(ctx.paths.repoDir, 'tools', 'artemis');
  try {
    await run(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        join(pomDir, 'pom.xml'),
        `${MAVEN_DEPENDENCY_PLUGIN}:unpack-dependencies`,
        `-DoutputDirectory=${staging}`,
        `-DmarkersDirectory=${join(staging, '.markers')}`,
        '-DexcludeTransitive=true',
      ],
      { cwd: pomDir, timeoutMs: 15 * 60_000 },
    );
    await rm(join(staging, '.markers'), { recursive: true, force: true });
    await rename(staging, target).catch(async (error: unknown) => {
      if (!(await artemisInstalled(ctx.paths.cacheDir))) throw error;
    });
  } catch (error) {
    throw new ComponentStartError(
      COMPONENT,
      `downloading ActiveMQ Artemis from Maven Central failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function twoPorts(): Promise<[number, number]> {
  const ports = new Set<number>();
  while (ports.size < 2) ports.add(await freePort());
  return [...ports] as [number, number];
}
