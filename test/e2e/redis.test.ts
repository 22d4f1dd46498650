// @sandbox kube,redis
import { Redis } from 'ioredis';
import { scalingStory } from './support.js';

/*
 * A team autoscales a queue worker on a Redis list with their unchanged KEDA ScaledObject: swell wakes the
 * Deployment from zero, the cluster's own HPA scales it out on the metric swell serves through the aggregation
 * layer, and once the list is drained the HPA scales in and swell puts it back to sleep.
 */
scalingStory('Redis list: 0 → 1 → 6 → 2 → 1 → 0', 'redis', async (namespace) => {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  const listName = `jobs-${namespace}`;
  const { hostname, port } = new URL(url);
  return {
    metricName: `s0-redis-${listName}`,
    trigger: () => Promise.resolve({ type: 'redis', metadata: { address: `${hostname}:${port}`, listName, listLength: '5' } }),
    async setBacklog(n) {
      const length = await redis.llen(listName);
      if (n > length) await redis.rpush(listName, ...Array.from({ length: n - length }, (_, i) => `job-${length + i}`));
      else if (n === 0) await redis.del(listName);
      else await redis.ltrim(listName, 0, n - 1);
    },
    async close() {
      await redis.del(listName);
      redis.disconnect();
    },
  };
});
