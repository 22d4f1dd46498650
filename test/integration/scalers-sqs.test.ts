// @sandbox sqs
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';
import { FakeClock } from '../../src/controller/fake-clock.js';

const endpoint = process.env.SQS_ENDPOINT ?? 'http://127.0.0.1:9324';
const credentials = { accessKeyId: 'swell-test', secretAccessKey: 'swell-test-secret' };
const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials });
const queueName = `swell-${randomUUID().slice(0, 8)}`;
let queueUrl = '';

beforeAll(async () => {
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl ?? '';
  // 5 sent, 2 of them received (in flight, invisible for 60 s), plus 1 delayed: 3 visible, 2 in flight, 1 delayed.
  for (let i = 0; i < 5; i++) await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `m${i}` }));
  await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 2, VisibilityTimeout: 60 }));
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'later', DelaySeconds: 60 }));
});

afterAll(async () => {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  sqs.destroy();
});

function context(metadata: Record<string, string>, index = 0): ScalerContext {
  return {
    triggerIndex: index,
    trigger: { type: 'aws-sqs-queue', metadata: { queueURL: queueUrl, awsRegion: 'us-east-1', awsEndpoint: endpoint, ...metadata } },
    authParams: { awsAccessKeyID: credentials.accessKeyId, awsSecretAccessKey: credentials.secretAccessKey },
    resolvedEnv: {},
    namespace: 'default',
  };
}

describe('aws-sqs-queue scaler on ElasticMQ', () => {
  it.each([
    ['visible plus in flight (default)', {}, 5, true],
    ['visible only', { scaleOnInFlight: 'false' }, 3, true],
    ['visible, in flight and delayed', { scaleOnDelayed: 'true' }, 6, true],
    ['below activation', { activationQueueLength: '5' }, 5, false],
  ])('%s', async (_title, metadata, value, active) => {
    const scaler = createScaler(context(metadata), testDeps());
    expect(scaler.metricSpecs[0]).toMatchObject({ metricName: `s0-aws-sqs-${queueName}`, target: 5 });
    await expect(scaler.read(`s0-aws-sqs-${queueName}`)).resolves.toEqual({ value, active });
    await scaler.close();
  });

  it('scalers with different options on one queue share a client and each apply their own sum', async () => {
    const deps = testDeps(new FakeClock(testEpochMs));
    const scalers = [createScaler(context({}), deps), createScaler(context({ scaleOnInFlight: 'false' }), deps)];
    const readings = await Promise.all(scalers.map((s) => s.read(`s0-aws-sqs-${queueName}`, { maxAgeMs: 30_000 })));
    expect(readings.map((r) => r.value)).toEqual([5, 3]);
    expect(deps.connections.size).toBe(1);
    await Promise.all(scalers.map((s) => s.close()));
    expect(deps.connections.size).toBe(0);
  });

  it('fails clearly for a queue that does not exist', async () => {
    const missing = `${endpoint}/000000000000/${queueName}-missing`;
    const scaler = createScaler(context({ queueURL: missing }), testDeps());
    await expect(scaler.read(`s0-aws-sqs-${queueName}-missing`)).rejects.toThrow(/exist/i);
    await scaler.close();
  });
});
