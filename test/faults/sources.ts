import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { Gauge, Registry } from 'prom-client';
import type { KubeClient } from '../../src/kube/client.js';
import type { ComponentName } from '../../src/sandbox/component.js';
import { addScrapeTarget, removeScrapeTarget } from '../../src/sandbox/prometheus.js';
import { SANDBOX_AWS_REGION } from '../../src/sandbox/sqs.js';
import { sleep } from './support.js';

/*
 * Each event source of the sandbox as the fault scenarios need it: a trigger (target 5 per replica), a way to
 * make exactly n units of work wait, the daemon to kill or stop, and what to redo after an in-memory server
 * (Redis, ElasticMQ) came back empty.
 */

export interface FaultSource {
  readonly kind: Extract<ComponentName, 'redis' | 'kafka' | 'sqs' | 'prometheus'>;
  /** The sandbox daemon serving it. */
  readonly daemon: string;
  /** host:port the trigger reaches it at; an error about it should name it. */
  readonly address: string;
  /** Creates what the trigger needs in `namespace` (Secrets, TriggerAuthentications); returns the trigger. */
  trigger(client: KubeClient, namespace: string): Promise<Record<string, unknown>>;
  /** Makes exactly `n` units of work wait. */
  setBacklog(n: number): Promise<void>;
  /** After the server was restarted: recreate what it lost (queues, lists) so the trigger works again. */
  afterRestart(): Promise<void>;
  close(): Promise<void>;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the sandbox setup should have started it`);
  return value;
}

export async function redisSource(id: string): Promise<FaultSource> {
  const url = env('REDIS_URL');
  // No offline queue: a call while Redis is down fails at once instead of replaying later.
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 3000 });
  redis.on('error', () => undefined);
  await redis.connect();
  const listName = `jobs-${id}`;
  const { hostname, port } = new URL(url);
  let backlog = 0;
  const setBacklog = async (n: number) => {
    await redis.del(listName);
    if (n > 0) await redis.rpush(listName, ...Array.from({ length: n }, (_, i) => `job-${i}`));
    backlog = n;
  };
  return {
    kind: 'redis',
    daemon: 'redis-server',
    address: `${hostname}:${port}`,
    trigger: () => Promise.resolve({ type: 'redis', metadata: { address: `${hostname}:${port}`, listName, listLength: '5' } }),
    setBacklog,
    async afterRestart() {
      // Redis keeps nothing across a restart in the sandbox (no snapshots): the list is refilled.
      await sleep(200);
      await setBacklog(backlog);
    },
    async close() {
      await redis.del(listName).catch(() => 0);
      redis.disconnect();
    },
  };
}

export async function kafkaSource(id: string): Promise<FaultSource> {
  const brokers = env('KAFKA_BROKERS').split(',');
  const kafka = new Kafka({ clientId: 'swell-faults', brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  let admin: Admin = kafka.admin();
  let producer: Producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  const topic = `orders-${id}`;
  const groupId = `workers-${id}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] });
  let produced = 0;
  return {
    kind: 'kafka',
    daemon: 'kafka',
    address: brokers[0] ?? '',
    trigger: () =>
      Promise.resolve({
        type: 'kafka',
        metadata: { bootstrapServers: brokers.join(','), consumerGroup: groupId, topic, lagThreshold: '5', allowIdleConsumers: 'true' },
      }),
    async setBacklog(n) {
      // Lag = end offset − committed offset: produce up to n if needed, then commit as a consumer would.
      if (n > produced) {
        await producer.send({ topic, messages: Array.from({ length: n - produced }, (_, i) => ({ value: `order ${produced + i}` })) });
        produced = n;
      }
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: String(produced - n) }] });
    },
    async afterRestart() {
      // Topic, messages and the group's offsets live on disk and survive; the test's own clients reconnect.
      await Promise.all([admin.disconnect(), producer.disconnect()]).catch(() => undefined);
      admin = kafka.admin();
      producer = kafka.producer();
      await Promise.all([admin.connect(), producer.connect()]);
    },
    async close() {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await Promise.all([admin.disconnect(), producer.disconnect()]).catch(() => undefined);
    },
  };
}

export async function sqsSource(id: string): Promise<FaultSource> {
  const endpoint = env('SQS_ENDPOINT');
  const credentials = { accessKeyId: 'swell-faults', secretAccessKey: `faults-secret-${id}` };
  const sqs = new SQSClient({ endpoint, region: SANDBOX_AWS_REGION, credentials, maxAttempts: 2 });
  const queueName = `orders-${id}`;
  const createQueue = async () => (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl ?? '';
  let queueUrl = await createQueue();
  let backlog = 0;
  const send = async (count: number) => {
    for (let sent = 0; sent < count; sent += 10) {
      const batch = Array.from({ length: Math.min(10, count - sent) }, (_, i) => ({ Id: `m${sent + i}`, MessageBody: `order ${sent + i}` }));
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch }));
    }
  };
  // What a consumer does: receive and delete (never left in flight, which the scaler also counts).
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
  const setBacklog = async (n: number) => {
    if (n > backlog) await send(n - backlog);
    else if (n < backlog) await consume(backlog - n);
    backlog = n;
  };
  return {
    kind: 'sqs',
    daemon: 'elasticmq',
    address: new URL(endpoint).host,
    async trigger(client, namespace) {
      await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'aws-credentials' },
          stringData: { id: credentials.accessKeyId, secret: credentials.secretAccessKey },
        },
      });
      await client.request('POST', `/apis/keda.sh/v1alpha1/namespaces/${namespace}/triggerauthentications`, {
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
        metadata: { queueURL: queueUrl, queueLength: '5', awsRegion: SANDBOX_AWS_REGION, awsEndpoint: endpoint },
      };
    },
    setBacklog,
    async afterRestart() {
      // ElasticMQ keeps queues in memory: the same name on the same port gives the same queue URL.
      queueUrl = await createQueue();
      const wanted = backlog;
      backlog = 0;
      await setBacklog(wanted);
    },
    async close() {
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
      sqs.destroy();
    },
  };
}

export async function prometheusSource(id: string): Promise<FaultSource> {
  const url = env('PROMETHEUS_URL');
  const targetsFile = env('PROMETHEUS_TARGETS_FILE');
  const registry = new Registry();
  const backlog = new Gauge({ name: 'faults_backlog_jobs', help: 'jobs waiting in a fault scenario', labelNames: ['scenario'], registers: [registry] });
  backlog.set({ scenario: id }, 0);
  const server: Server = createServer((_req, res) => {
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  await addScrapeTarget(targetsFile, target);
  const query = `sum(faults_backlog_jobs{scenario="${id}"})`;
  const reported = async (): Promise<number | undefined> => {
    const reply = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(3000) })).json()) as {
      data?: { result?: { value: [number, string] }[] };
    };
    const value = reply.data?.result?.[0]?.value[1];
    return value === undefined ? undefined : Number(value);
  };
  const waitReported = async (n: number) => {
    for (let attempt = 0; attempt < 60; attempt += 1) {
      if ((await reported().catch(() => undefined)) === n) return;
      await sleep(250);
    }
    throw new Error(`Prometheus did not report ${n} for ${query}`);
  };
  await waitReported(0);
  let wanted = 0;
  return {
    kind: 'prometheus',
    daemon: 'prometheus',
    address: new URL(url).host,
    trigger: () => Promise.resolve({ type: 'prometheus', metadata: { serverAddress: url, query, threshold: '5' } }),
    async setBacklog(n) {
      wanted = n;
      backlog.set({ scenario: id }, n);
      await waitReported(n);
    },
    async afterRestart() {
      // Prometheus keeps its data folder; the query answers again after its next scrape.
      await waitReported(wanted);
    },
    async close() {
      await removeScrapeTarget(targetsFile, target);
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
