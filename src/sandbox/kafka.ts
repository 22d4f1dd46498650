import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent, type SandboxPaths } from './component.js';
import { classpath, installMavenRuntime, mavenRequirements, runTool, SANDBOX_JVM_OPTIONS, type MavenRuntime, type ToolRunner } from './maven.js';
import { freePort } from './net.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'kafka';
/** Must match kafka.version in tools/kafka/pom.xml; it names the cache folder. */
export const KAFKA_VERSION = '4.4.0';
/** The fixed SASL/PLAIN account of the sandbox broker; a test fixture, not a secret worth protecting. */
export const KAFKA_SANDBOX_USER = { username: 'swell', password: 'swell-secret' } as const;

export interface KafkaPorts {
  readonly plaintext: number;
  readonly sasl: number;
  readonly controller: number;
}

export interface KafkaServerSettings {
  readonly ports: KafkaPorts;
  readonly dataDir: string;
  readonly username: string;
  readonly password: string;
}

/** A single Kafka node that is both broker and KRaft controller, jars from Maven Central. */
export function kafkaComponent(run: ToolRunner = runTool): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['KAFKA_BROKERS'],
    requirements: (paths) => mavenRequirements(kafkaRuntime(paths)),
    async install(ctx: ComponentContext) {
      await installMavenRuntime(ctx, kafkaRuntime(ctx.paths), run);
    },
    async start(ctx: ComponentContext) {
      const dir = join(ctx.paths.stateDir, 'kafka');
      const settings: KafkaServerSettings = { ports: await kafkaPorts(), dataDir: join(dir, 'data'), ...KAFKA_SANDBOX_USER };
      const configFile = join(dir, 'server.properties');
      const log4jFile = join(dir, 'log4j2.properties');
      await mkdir(settings.dataDir, { recursive: true });
      await writeFile(configFile, kafkaServerProperties(settings));
      await writeFile(log4jFile, KAFKA_LOG4J2_PROPERTIES);
      const java = javaArgs(kafkaRuntime(ctx.paths).libDir, log4jFile);
      await formatStorageOnce(ctx, run, java, configFile, settings.dataDir);
      const daemon = await ctx.spawn({ name: 'kafka', command: 'java', args: [...java, 'kafka.Kafka', configFile], cwd: dir });
      const endpoints = kafkaEndpoints(settings);
      await waitUntil(() => kafkaAnswers(endpoints.env), {
        component: COMPONENT,
        what: 'kafkajs admin listTopics and describeGroups on both listeners',
        timeoutMs: 120_000,
        intervalMs: 500,
        daemon,
      });
      return endpoints;
    },
    async healthy(endpoints: ComponentEndpoints) {
      return kafkaAnswers(endpoints.env).catch(() => false);
    },
  };
}

function kafkaRuntime(paths: SandboxPaths): MavenRuntime {
  return {
    component: COMPONENT,
    title: `Apache Kafka ${KAFKA_VERSION}`,
    pomDir: join(paths.repoDir, 'tools', 'kafka'),
    libDir: join(paths.cacheDir, `kafka-${KAFKA_VERSION}`, 'lib'),
  };
}

/** 512 MiB is plenty for test traffic; the sandbox shares the machine with a whole control plane. */
function javaArgs(libDir: string, log4jFile: string): string[] {
  return [...SANDBOX_JVM_OPTIONS, '-Xms128m', '-Xmx512m', `-Dlog4j2.configurationFile=${log4jFile}`, '-cp', classpath(libDir)];
}

/** Three distinct free loopback ports; asking the kernel one at a time could in principle repeat one. */
async function kafkaPorts(): Promise<KafkaPorts> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [plaintext, sasl, controller] = [...ports] as [number, number, number];
  return { plaintext, sasl, controller };
}

/**
 * KRaft refuses to start on unformatted storage, and formatting again with another cluster id would fail,
 * so the data folder is formatted on first start only (meta.properties is what `format` writes).
 */
async function formatStorageOnce(ctx: ComponentContext, run: ToolRunner, java: readonly string[], configFile: string, dataDir: string): Promise<void> {
  const formatted = await access(join(dataDir, 'meta.properties')).then(
    () => true,
    () => false,
  );
  if (formatted) return;
  ctx.progress('formatting Kafka KRaft storage');
  try {
    await run('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', randomClusterId(), '-c', configFile], { timeoutMs: 120_000 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ComponentStartError(
      COMPONENT,
      `formatting KRaft storage in ${dataDir} failed (a damaged jar cache can be deleted to download it again): ${reason}`,
    );
  }
}

/**
 * A Kafka cluster id: 16 random bytes in unpadded base64url. Kafka itself never hands out ids starting with
 * "-" (they read like command-line flags), so neither do we.
 */
export function randomClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * server.properties for one combined broker+controller with a static quorum. PLAINTEXT serves ordinary
 * clients and inter-broker traffic; SASL_PLAINTEXT with PLAIN exists so the scaler's SASL path meets a real
 * broker. Small internal topics keep the first consumer group fast on a busy two-core machine.
 */
export function kafkaServerProperties(settings: KafkaServerSettings): string {
  const { plaintext, sasl, controller } = settings.ports;
  const jaas = `org.apache.kafka.common.security.plain.PlainLoginModule required username=${jaasQuote(settings.username)} password=${jaasQuote(settings.password)} user_${settings.username}=${jaasQuote(settings.password)};`;
  const properties: [string, string][] = [
    ['process.roles', 'broker,controller'],
    ['node.id', '1'],
    ['controller.quorum.voters', `1@127.0.0.1:${controller}`],
    ['listeners', `PLAINTEXT://127.0.0.1:${plaintext},SASL_PLAINTEXT://127.0.0.1:${sasl},CONTROLLER://127.0.0.1:${controller}`],
    ['advertised.listeners', `PLAINTEXT://127.0.0.1:${plaintext},SASL_PLAINTEXT://127.0.0.1:${sasl}`],
    ['listener.security.protocol.map', 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT'],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['listener.name.sasl_plaintext.sasl.enabled.mechanisms', 'PLAIN'],
    ['listener.name.sasl_plaintext.plain.sasl.jaas.config', jaas],
    ['log.dirs', settings.dataDir],
    ['num.partitions', '1'],
    ['auto.create.topics.enable', 'true'],
    ['offsets.topic.num.partitions', '5'],
    ['offsets.topic.replication.factor', '1'],
    ['transaction.state.log.replication.factor', '1'],
    ['transaction.state.log.min.isr', '1'],
    ['share.coordinator.state.topic.replication.factor', '1'],
    ['share.coordinator.state.topic.min.isr', '1'],
    ['group.initial.rebalance.delay.ms', '0'],
  ];
  return `${properties.map(([key, value]) => `${key}=${escapePropertyValue(value)}`).join('\n')}\n`;
}

function jaasQuote(value: string): string {
  if (!/^[\w.@+-]*$/.test(value)) throw new Error(`kafka: SASL username/password may only use letters, digits and . _ @ + - (got ${JSON.stringify(value)})`);
  return `"${value}"`;
}

/** Java .properties treats backslashes as escapes and a leading blank as padding. */
function escapePropertyValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/^\s/, (blank) => `\\${blank}`);
}

/** Broker output goes to stdout, which the daemon's log file captures; Kafka's own chatter stays at INFO. */
const KAFKA_LOG4J2_PROPERTIES = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.kraft.name = org.apache.kafka.raft
logger.kraft.level = warn
`;

export function kafkaEndpoints(settings: KafkaServerSettings): ComponentEndpoints {
  const brokers = `127.0.0.1:${settings.ports.plaintext}`;
  const saslBrokers = `127.0.0.1:${settings.ports.sasl}`;
  return {
    env: { KAFKA_BROKERS: brokers, KAFKA_SASL_BROKERS: saslBrokers, KAFKA_SASL_USERNAME: settings.username, KAFKA_SASL_PASSWORD: settings.password },
    endpoints: { kafka: brokers, 'kafka (SASL/PLAIN)': saslBrokers },
  };
}

/**
 * kafkajs admin calls succeed on the PLAINTEXT listener and, with the sandbox account, on SASL/PLAIN. Looking
 * up a group makes Kafka create its offsets topic, which it otherwise does lazily on the first consumer group,
 * failing that group's first requests; a ready sandbox has it already.
 */
export async function kafkaAnswers(env: Readonly<Record<string, string>>): Promise<boolean> {
  const brokers = env.KAFKA_BROKERS;
  if (!brokers) return false;
  await adminProbe(brokers);
  const saslBrokers = env.KAFKA_SASL_BROKERS;
  if (saslBrokers) {
    await adminProbe(saslBrokers, { mechanism: 'plain', username: env.KAFKA_SASL_USERNAME ?? '', password: env.KAFKA_SASL_PASSWORD ?? '' });
  }
  return true;
}

async function adminProbe(brokers: string, sasl?: SASLOptions): Promise<void> {
  const kafka = new Kafka({
    clientId: 'swell-sandbox-probe',
    brokers: brokers.split(','),
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    await admin.describeGroups(['swell-sandbox-probe']);
  } finally {
    await admin.disconnect();
  }
}
