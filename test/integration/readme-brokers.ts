import { QueueServiceClient } from '@azure/storage-queue';
import { connect as amqpConnect } from 'amqplib';
import { AckPolicy, connect as natsConnect } from 'nats';

/** What the broker examples name as in-cluster addresses and accounts, and what stands in for each on the sandbox. */
export function brokerSubstitutions(env: (name: string) => string): { what: string; pattern: RegExp; replacement: string }[] {
  return [
    {
      what: 'the RabbitMQ AMQP URL',
      pattern: /amqp:\/\/orders-scaler:orders-scaler-password@rabbitmq\.messaging\.svc:5672\//g,
      replacement: env('RABBITMQ_AMQP_URL'),
    },
    { what: 'the NATS monitoring endpoint', pattern: /nats\.messaging\.svc:8222/g, replacement: env('NATS_MONITORING_ENDPOINT') },
    {
      what: 'the Azure Storage connection string',
      pattern: /DefaultEndpointsProtocol=https;AccountName=thumbnails;AccountKey=dGh1bWJuYWlscy1rZXk=;EndpointSuffix=core\.windows\.net/g,
      replacement: env('AZURE_STORAGE_CONNECTION_STRING'),
    },
    { what: 'the Artemis management endpoint', pattern: /artemis\.messaging\.svc:8161/g, replacement: env('ARTEMIS_MANAGEMENT_ENDPOINT') },
    { what: 'the Artemis broker name', pattern: /^(\s*)brokerName: broker$/gm, replacement: `$1brokerName: ${env('ARTEMIS_BROKER_NAME')}` },
    { what: 'the Artemis user', pattern: /\bshipping-scaler\b(?!-)/g, replacement: env('ARTEMIS_USERNAME') },
    { what: 'the Artemis password', pattern: /\bshipping-scaler-password\b/g, replacement: env('ARTEMIS_PASSWORD') },
  ];
}

/** The queues, stream and consumer the broker examples read; returns how to remove them again. */
export async function prepareBrokerSources(env: (name: string) => string): Promise<() => Promise<void>> {
  const rabbit = await amqpConnect(env('RABBITMQ_AMQP_URL'));
  const channel = await rabbit.createChannel();
  await channel.assertQueue('orders', { durable: false });
  const nats = await natsConnect({ servers: env('NATS_URL') });
  const jsm = await nats.jetstreamManager();
  await jsm.streams.add({ name: 'invoices', subjects: ['invoices.>'] });
  await jsm.consumers.add('invoices', { durable_name: 'invoice-worker', ack_policy: AckPolicy.Explicit });
  const azure = QueueServiceClient.fromConnectionString(env('AZURE_STORAGE_CONNECTION_STRING')).getQueueClient('thumbnails');
  await azure.createIfNotExists();
  await artemis(env, 'createQueue(java.lang.String,boolean)', [
    JSON.stringify({ name: 'shipments', address: 'shipments', 'routing-type': 'ANYCAST', durable: false }),
    true,
  ]);
  return async () => {
    await channel.deleteQueue('orders').catch(() => undefined);
    await rabbit.close();
    await jsm.streams.delete('invoices').catch(() => undefined);
    await nats.close();
    await azure.deleteIfExists();
    await artemis(env, 'destroyQueue(java.lang.String,boolean)', ['shipments', true]).catch(() => undefined);
  };
}

async function artemis(env: (name: string) => string, operation: string, args: unknown[]): Promise<void> {
  const endpoint = env('ARTEMIS_MANAGEMENT_ENDPOINT');
  const response = await fetch(`http://${endpoint}/console/jolokia`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${env('ARTEMIS_USERNAME')}:${env('ARTEMIS_PASSWORD')}`).toString('base64')}`,
      origin: `http://${endpoint}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ type: 'exec', mbean: `org.apache.activemq.artemis:broker="${env('ARTEMIS_BROKER_NAME')}"`, operation, arguments: args }),
  });
  const reply = (await response.json()) as { status?: number; error?: string };
  if (reply.status !== 200) throw new Error(`Artemis ${operation} failed: ${reply.error ?? response.status}`);
}
