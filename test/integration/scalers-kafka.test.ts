// @sandbox kafka
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { Scaler, ScalerContext, TriggerSpec } from '../../scalers/scaler.js';
import { testDeps } from '../../scalers/testing.js';

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const topic = `swell-lag-${randomUUID().slice(0, 8)}`;
const kafka = new Kafka({ clientId: 'swell-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
let admin: Admin;
let producer: Producer;

// Partition p holds 10·(p+1) messages: 10, 20, 30.
const messagesPerPartition = [10, 20, 30];

beforeAll(async () => {
  admin = kafka.admin();
  producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  for (const [partition, count] of messagesPerPartition.entries()) {
    await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ partition, value: `m${i}` })) });
  }
  // "half": commits at 5, 10 and 15, i.e. lag 5 + 10 + 15 = 30.
  await admin.setOffsets({ groupId: `${topic}-half`, topic, partitions: messagesPerPartition.map((n, partition) => ({ partition, offset: String(n / 2) })) });
  // "part": committed on partition 0 only (at its end); the others have no commit.
  await admin.setOffsets({ groupId: `${topic}-part`, topic, partitions: [{ partition: 0, offset: '10' }] });
}, 60_000);

afterAll(async () => {
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await Promise.all([admin.disconnect(), producer.disconnect()]);
});

function context(metadata: Record<string, string>, authParams: Record<string, string> = {}): ScalerContext {
  const trigger: TriggerSpec = { type: 'kafka', metadata: { bootstrapServers: brokers, ...metadata } };
  return { triggerIndex: 0, trigger, authParams, resolvedEnv: {}, namespace: 'default' };
}

async function readOnce(metadata: Record<string, string>, authParams: Record<string, string> = {}) {
  const scaler: Scaler = createScaler(context(metadata, authParams), testDeps());
  try {
    const spec = scaler.metricSpecs[0];
    return await scaler.read(spec?.kind === 'External' ? spec.metricName : '');
  } finally {
    await scaler.close();
  }
}

describe('kafka scaler on a real KRaft broker', () => {
  it.each([
    ['committed group: plain lag', { consumerGroup: `${topic}-half`, lagThreshold: '100' }, 30, true],
    ['committed group: capped at partitions × threshold', { consumerGroup: `${topic}-half`, lagThreshold: '5' }, 15, true],
    ['committed group: allowIdleConsumers lifts the cap', { consumerGroup: `${topic}-half`, lagThreshold: '5', allowIdleConsumers: 'true' }, 30, true],
    ['committed group: activation judged on the uncapped lag', { consumerGroup: `${topic}-half`, lagThreshold: '5', activationLagThreshold: '29' }, 15, true],
    ['committed group: below activation', { consumerGroup: `${topic}-half`, activationLagThreshold: '30', lagThreshold: '100' }, 30, false],
    ['committed group: partitionLimitation', { consumerGroup: `${topic}-half`, lagThreshold: '100', partitionLimitation: '1-2' }, 25, true],
    ['uncommitted group, latest: 1 per partition', { consumerGroup: `${topic}-none` }, 3, true],
    ['uncommitted group, latest, scaleToZeroOnInvalidOffset', { consumerGroup: `${topic}-none`, scaleToZeroOnInvalidOffset: 'true' }, 0, false],
    ['uncommitted group, earliest: whole log', { consumerGroup: `${topic}-none`, offsetResetPolicy: 'earliest', lagThreshold: '100' }, 60, true],
    ['uncommitted group, earliest: capped', { consumerGroup: `${topic}-none`, offsetResetPolicy: 'earliest', lagThreshold: '10' }, 30, true],
    ['partly committed group, latest', { consumerGroup: `${topic}-part` }, 2, true],
    [
      'partly committed group, limitToPartitionsWithLag',
      { consumerGroup: `${topic}-part`, offsetResetPolicy: 'earliest', lagThreshold: '1', limitToPartitionsWithLag: 'true' },
      2,
      true,
    ],
  ])('%s', async (_title, metadata, value, active) => {
    await expect(readOnce({ topic, ...metadata })).resolves.toEqual({ value, active });
  });

  it('without a topic, sums every topic the group has committed to', async () => {
    await expect(readOnce({ consumerGroup: `${topic}-half`, allowIdleConsumers: 'true' })).resolves.toEqual({ value: 30, active: true });
  });

  it('a real consumer committing its progress brings the lag to zero', async () => {
    const groupId = `${topic}-consumer`;
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let consumed = 0;
    await consumer.run({ autoCommitInterval: 100, eachMessage: () => Promise.resolve(void consumed++) });
    const deadline = Date.now() + 30_000;
    while (consumed < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await consumer.disconnect();
    expect(consumed).toBe(60);
    await expect(readOnce({ topic, consumerGroup: groupId })).resolves.toEqual({ value: 0, active: false });
  }, 60_000);

  it('fails clearly for a topic that does not exist', async () => {
    await expect(readOnce({ topic: `${topic}-missing`, consumerGroup: 'g' })).rejects.toThrow();
  });

  const saslBrokers = process.env.KAFKA_SASL_BROKERS;
  it.runIf(saslBrokers)('authenticates with SASL/PLAIN from the auth parameters', async () => {
    const metadata = { bootstrapServers: saslBrokers ?? '', topic, consumerGroup: `${topic}-half`, lagThreshold: '100', sasl: 'plaintext' };
    const username = process.env.KAFKA_SASL_USERNAME ?? '';
    const password = process.env.KAFKA_SASL_PASSWORD ?? '';
    await expect(readOnce(metadata, { username, password })).resolves.toEqual({ value: 30, active: true });
    const failure = await readOnce(metadata, { username, password: 'not-the-password' }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure?.message).not.toContain('not-the-password');
  });
});
