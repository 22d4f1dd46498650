// @sandbox kube,sqs
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { KubeClient } from '../../src/kube/client.js';
import { scalingStory } from './support.js';

/*
 * A team autoscales an SQS consumer: the ScaledObject names the queue, and its credentials come from a Secret
 * through a TriggerAuthentication, as with KEDA. swell wakes the Deployment, the HPA scales it on the queue
 * length swell serves, and an empty queue puts it back to zero.
 */
scalingStory('SQS queue: 0 → 1 → 6 → 2 → 1 → 0', 'sqs', async (namespace) => {
  const endpoint = process.env.SQS_ENDPOINT;
  if (!endpoint) throw new Error('SQS_ENDPOINT is not set');
  const credentials = { accessKeyId: 'swell-e2e', secretAccessKey: 'swell-e2e-secret' };
  const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials });
  const queueName = `orders-${namespace}`;
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl ?? '';
  let backlog = 0;
  const send = async (count: number) => {
    for (let sent = 0; sent < count; sent += 10) {
      const batch = Array.from({ length: Math.min(10, count - sent) }, (_, i) => ({ Id: `m${sent + i}`, MessageBody: `order ${backlog + sent + i}` }));
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch }));
    }
  };
  // What a consumer does: receive, process, delete (never left in flight, which the scaler also counts).
  const consume = async (count: number) => {
    let left = count;
    for (let attempt = 0; left > 0; attempt += 1) {
      if (attempt >= 30) throw new Error(`could not consume ${count} messages from ${queueName}; ${left} left`);
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(10, left), WaitTimeSeconds: 1 }));
      if (Messages.length === 0) continue;
      await sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle ?? '' })) }),
      );
      left -= Messages.length;
    }
  };
  return {
    metricName: `s0-aws-sqs-${queueName}`,
    async trigger(client: KubeClient, ns: string) {
      await client.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'aws-credentials' },
          stringData: { id: credentials.accessKeyId, secret: credentials.secretAccessKey },
        },
      });
      await client.request('POST', `/apis/keda.sh/v1alpha1/namespaces/${ns}/triggerauthentications`, {
        body: {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'TriggerAuthentication',
          metadata: { name: 'aws-credentials' },
          spec: {
            secretTargetRef: [
              { parameter: 'awsAccessKeyID', name: 'aws-credentials', key: 'id' },
              { parameter: 'awsSecretAccessKey', name: 'aws-credentials', key: 'secret' },
            ],
          },
        },
      });
      return {
        type: 'aws-sqs-queue',
        authenticationRef: { name: 'aws-credentials' },
        metadata: { queueURL: queueUrl, queueLength: '5', awsRegion: 'us-east-1', awsEndpoint: endpoint },
      };
    },
    async setBacklog(n) {
      if (n > backlog) await send(n - backlog);
      else if (n === 0) await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
      else await consume(backlog - n);
      backlog = n;
    },
    async close() {
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
      sqs.destroy();
    },
  };
});
