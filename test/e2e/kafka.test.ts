// @sandbox kube,kafka
import { Kafka, logLevel } from 'kafkajs';
import { scalingStory } from './support.js';

/*
 * A team autoscales a Kafka consumer group on its lag: the test commits the group's offset as a consumer
 * would. One partition, so allowIdleConsumers lets the HPA go past the partition count, as in the KEDA docs.
 */
scalingStory('Kafka consumer lag: 0 → 1 → 6 → 2 → 1 → 0', 'kafka', async (namespace) => {
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean);
  if (brokers.length === 0) throw new Error('KAFKA_BROKERS is not set');
  const kafka = new Kafka({ clientId: 'swell-e2e', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  const topic = `orders-${namespace}`;
  const groupId = `workers-${namespace}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] });
  let produced = 0;
  return {
    metricName: `s0-kafka-${topic}`,
    trigger: () =>
      Promise.resolve({
        type: 'kafka',
        metadata: { bootstrapServers: brokers.join(','), consumerGroup: groupId, topic, lagThreshold: '5', allowIdleConsumers: 'true' },
      }),
    async setBacklog(n) {
      // Lag = end offset - committed offset: produce to reach n, or commit as a consumer that processed the rest.
      const consumed = produced - n;
      if (consumed < 0) {
        await producer.send({ topic, messages: Array.from({ length: -consumed }, (_, i) => ({ value: `order ${produced + i}` })) });
        produced = n;
      } else {
        await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: String(consumed) }] });
      }
    },
    async close() {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await Promise.all([admin.disconnect(), producer.disconnect()]);
    },
  };
});
