// @sandbox sqs
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The SQS scaler reads the Approximate* queue attributes; the sandbox's ElasticMQ must report each of them
// through the AWS JSON protocol that @aws-sdk/client-sqs v3 speaks.

const counts: QueueAttributeName[] = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'];
type Counts = { visible: number; notVisible: number; delayed: number };

describe('sandbox sqs', () => {
  const queueName = `swell-it-${randomUUID()}`;
  const sent = 3 + Math.floor(Math.random() * 5);
  let sqs: SQSClient;
  let queueUrl: string;

  async function attributes(): Promise<Counts> {
    const { Attributes: a = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: counts }));
    return {
      visible: Number(a.ApproximateNumberOfMessages),
      notVisible: Number(a.ApproximateNumberOfMessagesNotVisible),
      delayed: Number(a.ApproximateNumberOfMessagesDelayed),
    };
  }

  /** The counts are "approximate" in SQS; poll briefly rather than assume they settle at once. */
  async function expectCounts(expected: Counts): Promise<void> {
    const deadline = Date.now() + 10_000;
    let actual = await attributes();
    while (JSON.stringify(actual) !== JSON.stringify(expected) && Date.now() < deadline) {
      await sleep(200);
      actual = await attributes();
    }
    expect(actual).toEqual(expected);
  }

  beforeAll(async () => {
    const endpoint = process.env.SQS_ENDPOINT;
    if (!endpoint) throw new Error('SQS_ENDPOINT is not set: run through the integration project so the sandbox starts ElasticMQ');
    sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 2 });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: { VisibilityTimeout: '60' } }));
    if (!QueueUrl) throw new Error('CreateQueue returned no QueueUrl');
    queueUrl = QueueUrl;
  });

  afterAll(async () => {
    if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    sqs.destroy();
  });

  it('starts empty', async () => {
    await expectCounts({ visible: 0, notVisible: 0, delayed: 0 });
  });

  it('counts sent messages as ApproximateNumberOfMessages', async () => {
    const entries = Array.from({ length: sent }, (_, i) => ({ Id: `m${i}`, MessageBody: `job ${i}` }));
    const { Successful = [], Failed = [] } = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    expect(Failed).toEqual([]);
    expect(Successful).toHaveLength(sent);
    await expectCounts({ visible: sent, notVisible: 0, delayed: 0 });
  });

  it('moves received messages to ApproximateNumberOfMessagesNotVisible', async () => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 2, VisibilityTimeout: 60, WaitTimeSeconds: 0 }),
    );
    expect(Messages.length).toBeGreaterThan(0);
    await expectCounts({ visible: sent - Messages.length, notVisible: Messages.length, delayed: 0 });
  });

  it('counts messages sent with DelaySeconds as ApproximateNumberOfMessagesDelayed', async () => {
    const before = await attributes();
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'later', DelaySeconds: 60 }));
    await expectCounts({ ...before, delayed: before.delayed + 1 });
  });

  it('reports a missing queue as QueueDoesNotExist', async () => {
    const missing = queueUrl.replace(queueName, `${queueName}-missing`);
    await expect(sqs.send(new GetQueueAttributesCommand({ QueueUrl: missing, AttributeNames: counts }))).rejects.toMatchObject({
      name: expect.stringMatching(/QueueDoesNotExist|NonExistentQueue/) as unknown,
    });
  });
});
