// @sandbox kube,rabbitmq
import { connect } from 'amqplib';
import type { KubeClient } from '../../src/kube/client.js';
import { scalingStory } from './support.js';

/*
 * A team autoscales a RabbitMQ consumer with their unchanged KEDA manifests: the AMQP URL with its account comes
 * from a Secret through a TriggerAuthentication. swell wakes the Deployment, the HPA scales it on the queue
 * length swell serves, and a drained queue puts it back to zero.
 */
scalingStory('RabbitMQ queue: 0 → 1 → 6 → 2 → 1 → 0', 'rabbitmq', async (namespace) => {
  const url = process.env.RABBITMQ_AMQP_URL;
  if (!url) throw new Error('RABBITMQ_AMQP_URL is not set');
  const connection = await connect(url);
  const channel = await connection.createConfirmChannel();
  const queue = `orders-${namespace}`;
  await channel.assertQueue(queue, { durable: false });
  const length = async () => (await channel.checkQueue(queue)).messageCount;
  return {
    metricName: `s0-rabbitmq-${queue}`,
    async trigger(client: KubeClient, ns: string) {
      await client.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
        body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rabbitmq' }, stringData: { host: url } },
      });
      await client.request('POST', `/apis/keda.sh/v1alpha1/namespaces/${ns}/triggerauthentications`, {
        body: {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'TriggerAuthentication',
          metadata: { name: 'rabbitmq' },
          spec: { secretTargetRef: [{ parameter: 'host', name: 'rabbitmq', key: 'host' }] },
        },
      });
      return { type: 'rabbitmq', authenticationRef: { name: 'rabbitmq' }, metadata: { queueName: queue, mode: 'QueueLength', value: '5' } };
    },
    // What producers and consumers do: publish, or take messages and acknowledge them.
    async setBacklog(n) {
      const current = await length();
      if (n === 0) {
        await channel.purgeQueue(queue);
        return;
      }
      for (let i = current; i < n; i++) channel.sendToQueue(queue, Buffer.from(`order ${i}`));
      await channel.waitForConfirms();
      for (let i = n; i < current; i++) {
        const message = await channel.get(queue, { noAck: false });
        if (message) channel.ack(message);
      }
    },
    async close() {
      await channel.deleteQueue(queue).catch(() => undefined);
      await connection.close();
    },
  };
});
