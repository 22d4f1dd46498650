// @sandbox kafka
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Admin, type KafkaConfig } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The Kafka scaler computes lag from two admin calls, a group's committed offsets (fetchOffsets) and the
// topic's latest offsets (fetchTopicOffsets). These tests prove kafkajs negotiates them with the sandbox's
// Kafka 4.x broker, over PLAINTEXT and over SASL/PLAIN.

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the integration project so the sandbox starts Kafka`);
  return value;
}

function client(brokers: string, extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'swell-integration',
    brokers: brokers.split(','),
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 2 },
    logLevel: logLevel.ERROR,
    ...extra,
  });
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}`);
    await sleep(250);
    last = await read();
  }
  return last;
}

function byPartition(entries: readonly { partition: number; offset: string }[]): Record<number, number> {
  return Object.fromEntries(entries.map((e) => [e.partition, Number(e.offset)]));
}

describe('sandbox kafka', () => {
  const topic = `swell-it-${randomUUID()}`;
  const groupId = `swell-it-group-${randomUUID()}`;
  // Messages produced per partition before the group consumes, and more produced after it committed.
  const before = [3, 1 + Math.floor(Math.random() * 4), 2];
  const after = [0, 2, 1 + Math.floor(Math.random() * 3)];
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    kafka = client(requiredEnv('KAFKA_BROKERS'));
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => undefined);
    await admin.disconnect();
  });

  async function produce(brokerKafka: Kafka, counts: readonly number[]): Promise<void> {
    const producer = brokerKafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const messages = counts.flatMap((count, partition) => Array.from({ length: count }, (_, i) => ({ partition, value: `p${partition}-m${i}` })));
      await producer.send({ topic, messages });
    } finally {
      await producer.disconnect();
    }
  }

  it('creates a topic with 3 partitions', async () => {
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true, timeout: 20_000 })).toBe(true);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
  });

  it('reports latest offsets per partition after producing', async () => {
    await produce(kafka, before);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(byPartition(offsets)).toEqual({ 0: before[0], 1: before[1], 2: before[2] });
  });

  it("reads a consumer group's committed offsets and the lag behind the latest offsets", async () => {
    const total = before.reduce((a, b) => a + b, 0);
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 250 });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          seen.push(message.value?.toString() ?? '');
          await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
        },
      });
      await until(
        'the group to consume every message',
        () => Promise.resolve(seen.length),
        (n) => n >= total,
      );
    } finally {
      await consumer.disconnect();
    }
    expect(seen).toHaveLength(total);

    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(committed?.topic).toBe(topic);
    expect(byPartition(committed?.partitions ?? [])).toEqual({ 0: before[0], 1: before[1], 2: before[2] });

    await produce(kafka, after);
    const latest = byPartition(await admin.fetchTopicOffsets(topic));
    const stillCommitted = byPartition((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? []);
    const lag = [0, 1, 2].map((p) => (latest[p] ?? 0) - (stillCommitted[p] ?? 0));
    expect(lag).toEqual(after);
  });

  it('serves the same admin calls over SASL/PLAIN with the published credentials', async () => {
    const username = requiredEnv('KAFKA_SASL_USERNAME');
    const password = requiredEnv('KAFKA_SASL_PASSWORD');
    const sasl = client(requiredEnv('KAFKA_SASL_BROKERS'), { sasl: { mechanism: 'plain', username, password } });
    const saslAdmin = sasl.admin();
    await saslAdmin.connect();
    try {
      const beforeRoundTrip = byPartition(await saslAdmin.fetchTopicOffsets(topic));
      await produce(sasl, [1, 0, 0]);
      const afterRoundTrip = byPartition(await saslAdmin.fetchTopicOffsets(topic));
      expect(afterRoundTrip[0]).toBe((beforeRoundTrip[0] ?? 0) + 1);
      expect(await saslAdmin.listTopics()).toContain(topic);
    } finally {
      await saslAdmin.disconnect();
    }
  });

  it('refuses a wrong SASL/PLAIN password', async () => {
    const username = requiredEnv('KAFKA_SASL_USERNAME');
    const wrong = client(requiredEnv('KAFKA_SASL_BROKERS'), {
      sasl: { mechanism: 'plain', username, password: `not-${requiredEnv('KAFKA_SASL_PASSWORD')}` },
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const wrongAdmin = wrong.admin();
    try {
      await expect(wrongAdmin.connect()).rejects.toThrow(/SASL PLAIN authentication failed|Authentication failed/i);
    } finally {
      await wrongAdmin.disconnect();
    }
  });

  it('refuses SASL clients on the PLAINTEXT listener', async () => {
    const mismatched = client(requiredEnv('KAFKA_BROKERS'), {
      sasl: { mechanism: 'plain', username: requiredEnv('KAFKA_SASL_USERNAME'), password: requiredEnv('KAFKA_SASL_PASSWORD') },
      retry: { retries: 0 },
      connectionTimeout: 2000,
      requestTimeout: 3000,
      logLevel: logLevel.NOTHING,
    });
    const mismatchedAdmin = mismatched.admin();
    try {
      await expect(mismatchedAdmin.connect()).rejects.toThrow();
    } finally {
      await mismatchedAdmin.disconnect();
    }
  });
});
