// @sandbox redis
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The Redis scaler reads list lengths (LLEN) and stream lengths (XLEN); both must work on the sandbox server.
describe('sandbox redis', () => {
  const prefix = `swell-it:${randomUUID()}`;
  const listKey = `${prefix}:list`;
  const streamKey = `${prefix}:stream`;
  let redis: Redis;

  beforeAll(async () => {
    const url = process.env.REDIS_URL;
    if (!url) throw new Error('REDIS_URL is not set: run through the integration project so the sandbox starts Redis');
    redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, commandTimeout: 2000, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    await redis.del(listKey, streamKey);
    await redis.quit();
  });

  it('counts list items pushed with LPUSH', async () => {
    const items = Array.from({ length: 2 + Math.floor(Math.random() * 8) }, (_, i) => `job-${i}`);
    await redis.lpush(listKey, ...items);
    expect(await redis.llen(listKey)).toBe(items.length);
    await redis.rpop(listKey);
    expect(await redis.llen(listKey)).toBe(items.length - 1);
    expect(await redis.llen(`${prefix}:absent`)).toBe(0);
  });

  it('counts stream entries added with XADD', async () => {
    const entries = 2 + Math.floor(Math.random() * 8);
    const ids: string[] = [];
    for (let i = 0; i < entries; i++) {
      const id = await redis.xadd(streamKey, '*', 'event', `e${i}`);
      if (id) ids.push(id);
    }
    expect(ids).toHaveLength(entries);
    expect(await redis.xlen(streamKey)).toBe(entries);
    await redis.xdel(streamKey, ids[0] ?? '');
    expect(await redis.xlen(streamKey)).toBe(entries - 1);
  });
});
