import type { ConnectionOptions } from 'node:tls';
import { Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '../src/log.js';
import { computeKafkaLag, parsePartitionLimitation, type KafkaOffsets, type OffsetsByTopic } from './kafka-lag.js';
import { field, type MetadataOf, type Rule, type Source } from './metadata.js';
import { ScalerReadError, type MetricReading, type ScalerDeps } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { pooledSource, schemaParser, singleMetricScaler, type MetricSource } from './single-metric.js';
import { redactor, sourceLabel } from './source-errors.js';

const schema = {
  bootstrapServers: field.list({ from: ['triggerMetadata', 'resolvedEnv'] }),
  consumerGroup: field.string({ from: ['triggerMetadata', 'resolvedEnv'] }),
  topic: field.string({ from: ['triggerMetadata', 'resolvedEnv'], optional: true }),
  partitionLimitation: field.custom(parsePartitionLimitation, { optional: true }),
  lagThreshold: field.int({ default: 10 }),
  activationLagThreshold: field.int({ default: 0 }),
  offsetResetPolicy: field.oneOf(['latest', 'earliest'], { default: 'latest' }),
  allowIdleConsumers: field.bool({ default: false }),
  excludePersistentLag: field.bool({ default: false }),
  scaleToZeroOnInvalidOffset: field.bool({ default: false }),
  limitToPartitionsWithLag: field.bool({ default: false }),
  ensureEvenDistributionOfPartitions: field.bool({ default: false }),
  fullMetadata: field.bool({ default: true }),
  version: field.custom(parseKafkaVersion, { optional: true }),
  tls: field.oneOf(['enable', 'disable'], { from: ['triggerMetadata', 'authParams'], default: 'disable' }),
  unsafeSsl: field.bool({ default: false }),
  ca: field.string({ from: ['authParams'], optional: true, secret: true }),
  cert: field.string({ from: ['authParams'], optional: true, secret: true }),
  key: field.string({ from: ['authParams'], optional: true, secret: true }),
  keyPassword: field.string({ from: ['authParams'], optional: true, secret: true }),
  sasl: field.oneOf(['none', 'plaintext', 'scram_sha256', 'scram_sha512', 'oauthbearer', 'gssapi'], {
    from: ['triggerMetadata', 'authParams'],
    default: 'none',
  }),
  username: field.string({ from: ['authParams'], optional: true }),
  password: field.string({ from: ['authParams'], optional: true, secret: true }),
};

export type KafkaConfigMetadata = MetadataOf<typeof schema> & {
  /** Where bootstrapServers was found: brokers from the target's env are never shown in errors or logs. */
  brokersFrom?: Source;
};

function parseKafkaVersion(raw: string): string {
  if (!/^\d+\.\d+\.\d+(\.\d+)?$/.test(raw)) throw new Error(`error parsing kafka version: invalid version \`${raw}\``);
  return raw;
}

const rules: Rule<KafkaConfigMetadata>[] = [
  {
    fields: ['bootstrapServers'],
    check: (m) => (m.bootstrapServers.length === 0 ? 'no bootstrapServers given' : undefined),
  },
  { fields: ['lagThreshold'], check: (m) => (m.lagThreshold <= 0 ? '"lagThreshold" must be positive number' : undefined) },
  {
    fields: ['activationLagThreshold'],
    check: (m) => (m.activationLagThreshold < 0 ? '"activationLagThreshold" must be a non-negative number' : undefined),
  },
  {
    fields: ['allowIdleConsumers', 'limitToPartitionsWithLag'],
    check: (m) =>
      m.allowIdleConsumers && m.limitToPartitionsWithLag ? 'allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously' : undefined,
  },
  {
    fields: ['limitToPartitionsWithLag', 'topic'],
    check: (m) => (m.limitToPartitionsWithLag && m.topic === undefined ? 'topic must be specified when using limitToPartitionsWithLag' : undefined),
  },
  {
    fields: ['limitToPartitionsWithLag', 'ensureEvenDistributionOfPartitions'],
    check: (m) =>
      m.limitToPartitionsWithLag && m.ensureEvenDistributionOfPartitions
        ? 'limitToPartitionsWithLag and ensureEvenDistributionOfPartitions cannot be set simultaneously'
        : undefined,
  },
  {
    fields: ['ensureEvenDistributionOfPartitions', 'topic'],
    check: (m) =>
      m.ensureEvenDistributionOfPartitions && m.topic === undefined ? 'topic must be specified when using ensureEvenDistributionOfPartitions' : undefined,
  },
  {
    fields: ['fullMetadata', 'topic'],
    check: (m) => (!m.fullMetadata && m.topic === undefined ? 'topic must be specified when fullMetadata is false' : undefined),
  },
  {
    fields: ['tls', 'cert', 'key'],
    check: (m) => {
      if (m.tls !== 'enable') return undefined;
      if (m.cert !== undefined && m.key === undefined) return 'key must be provided with cert';
      if (m.key !== undefined && m.cert === undefined) return 'cert must be provided with key';
      return undefined;
    },
  },
  {
    fields: ['sasl', 'username', 'password'],
    check: (m) => {
      if (m.sasl === 'oauthbearer' || m.sasl === 'gssapi') return `sasl "${m.sasl}" is not supported by swell`;
      if (m.sasl === 'none') return undefined;
      if (m.username === undefined) return 'no username given';
      if (m.password === undefined) return 'no password given';
      return undefined;
    },
  },
];

export const parseKafka = schemaParser({
  schema,
  errorPrefix: 'error parsing kafka metadata',
  rules: () => rules,
  config: (parsed): KafkaConfigMetadata => {
    const brokersFrom = parsed.origins.bootstrapServers;
    return {
      ...parsed.values,
      // KEDA ignores a partition limitation without a topic.
      partitionLimitation: parsed.values.topic === undefined ? undefined : parsed.values.partitionLimitation,
      ...(brokersFrom ? { brokersFrom } : {}),
    };
  },
});

/** KEDA's metric name: the topic, or the group when it watches every topic the group consumes. */
export function kafkaMetricName(config: Pick<KafkaConfigMetadata, 'topic' | 'consumerGroup'>): string {
  return config.topic !== undefined ? `kafka-${config.topic}` : `kafka-${config.consumerGroup}-topics`;
}

function saslOf(m: KafkaConfigMetadata): SASLOptions | undefined {
  const username = m.username ?? '';
  const password = m.password ?? '';
  switch (m.sasl) {
    case 'plaintext':
      return { mechanism: 'plain', username, password };
    case 'scram_sha256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram_sha512':
      return { mechanism: 'scram-sha-512', username, password };
    case 'none':
    case 'oauthbearer':
    case 'gssapi':
      return undefined;
  }
}

function tlsOf(m: KafkaConfigMetadata): ConnectionOptions | undefined {
  if (m.tls !== 'enable') return undefined;
  return {
    rejectUnauthorized: !m.unsafeSsl,
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    ...(m.cert !== undefined ? { cert: m.cert } : {}),
    ...(m.key !== undefined ? { key: m.key } : {}),
    ...(m.keyPassword !== undefined ? { passphrase: m.keyPassword } : {}),
  };
}

/**
 * kafkajs logs through pino at debug level and below; its own warnings about rebalances are noise here. Its
 * entries name brokers, so hidden broker addresses are removed from them first.
 */
function kafkaLogCreator(log: Logger, redact: (text: string) => string) {
  return () =>
    ({ namespace, level, log: entry }: LogEntry): void => {
      const { message, ...extra } = entry;
      const fields = JSON.parse(redact(JSON.stringify({ kafkaNamespace: namespace, ...extra }))) as Record<string, unknown>;
      if (level === logLevel.ERROR) log.warn(fields, redact(message));
      else log.debug(fields, redact(message));
    };
}

/** An admin client that connects on first use and reconnects after a failure. */
class KafkaAdminHandle {
  private connected: Promise<void> | undefined;
  constructor(readonly admin: Admin) {}

  ready(): Promise<void> {
    this.connected ??= this.admin.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  async close(): Promise<void> {
    if (this.connected) await this.admin.disconnect();
  }
}

function toOffsetMap(entries: Iterable<{ partition: number; offset: string }>): Map<number, number> {
  return new Map([...entries].map((e) => [e.partition, Number(e.offset)]));
}

/** One round trip's worth of offsets for a group, for one topic or every topic it has committed to. */
export async function fetchKafkaOffsets(admin: Admin, groupId: string, topic: string | undefined): Promise<KafkaOffsets> {
  const committedTopics = await admin.fetchOffsets({ groupId, ...(topic !== undefined ? { topics: [topic] } : {}) });
  const topics = topic !== undefined ? [topic] : committedTopics.map((t) => t.topic);
  const latest = new Map<string, Map<number, number>>();
  await Promise.all(
    topics.map(async (t) => {
      const offsets = await admin.fetchTopicOffsets(t);
      latest.set(t, toOffsetMap(offsets));
    }),
  );
  const committed = new Map(committedTopics.map((t) => [t.topic, toOffsetMap(t.partitions)]));
  return { latest, committed };
}

function kafkaSource(config: KafkaConfigMetadata, deps: ScalerDeps, timeoutMs: number): MetricSource<KafkaOffsets> {
  const brokers = [...config.bootstrapServers].sort();
  const brokersShown = config.brokersFrom === undefined || config.brokersFrom === 'triggerMetadata';
  const server = { brokers, tls: config.tls, sasl: config.sasl, unsafeSsl: config.unsafeSsl, username: config.username, brokersShown };
  const connectionKey = sourceKey('kafka', server, { password: config.password, ca: config.ca, cert: config.cert, key: config.key });
  const hidden = brokersShown ? [] : brokers;
  const label = sourceLabel('Kafka brokers', brokers.join(','), config.brokersFrom);
  const lease = deps.connections.acquire(
    connectionKey,
    label,
    () => {
      const ssl = tlsOf(config);
      const sasl = saslOf(config);
      const options: KafkaConfig = {
        clientId: 'swell',
        brokers,
        connectionTimeout: Math.min(timeoutMs, 3000),
        requestTimeout: timeoutMs,
        retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
        logLevel: logLevel.WARN,
        logCreator: kafkaLogCreator(deps.log, redactor(hidden)),
        ...(ssl ? { ssl } : {}),
        ...(sasl ? { sasl } : {}),
      };
      return new KafkaAdminHandle(new Kafka(options).admin());
    },
    hidden,
  );
  // kafkajs' admin calls take no abort signal: an aborted read stops waiting (in the pool) and the call runs out.
  return pooledSource(lease, `${connectionKey}|${config.consumerGroup}|${config.topic ?? '*'}`, async (handle) => {
    await handle.ready();
    return fetchKafkaOffsets(handle.admin, config.consumerGroup, config.topic);
  });
}

/**
 * excludePersistentLag compares each poll's commits with the previous poll's; a snapshot shared from the read
 * cache is the same poll again, so it is compared with the poll before it, not with itself.
 */
function kafkaInterpreter(config: KafkaConfigMetadata): (snapshot: KafkaOffsets) => MetricReading {
  let lastSnapshot: KafkaOffsets | undefined;
  let committedAtLastSnapshot: OffsetsByTopic = new Map();
  let committedBeforeLastSnapshot: OffsetsByTopic = new Map();
  return (snapshot) => {
    if (snapshot !== lastSnapshot) {
      committedBeforeLastSnapshot = committedAtLastSnapshot;
      lastSnapshot = snapshot;
    }
    let lag;
    try {
      lag = computeKafkaLag(snapshot, committedBeforeLastSnapshot, config);
    } catch (err) {
      throw new ScalerReadError(err instanceof Error ? err.message : String(err), { cause: err });
    }
    if (config.topic !== undefined && lag.partitions === 0) {
      throw new ScalerReadError(`expected at least one active partition within the topic '${config.topic}'`);
    }
    committedAtLastSnapshot = lag.previousCommitted;
    return { value: lag.value, active: lag.lagWithPersistent > config.activationLagThreshold };
  };
}

export const kafkaScaler = singleMetricScaler<KafkaConfigMetadata, KafkaOffsets>({
  types: ['kafka'],
  schema,
  example: {
    metadata: { bootstrapServers: '127.0.0.1:1', consumerGroup: 'workers', topic: 'orders' },
    authParams: { sasl: 'plaintext', username: 'u', password: 'p' },
  },
  parse: parseKafka,
  metricName: kafkaMetricName,
  target: (config) => config.lagThreshold,
  defaultTimeoutMs: 10_000,
  source: kafkaSource,
  interpreter: kafkaInterpreter,
});
