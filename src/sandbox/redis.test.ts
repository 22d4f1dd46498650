import { describe, expect, it } from 'vitest';
import { freePort } from './net.js';
import { redisComponent, redisServerArgs } from './redis.js';

/** redis-server takes `--name value` pairs; read them back as a map. */
function options(args: string[]): Map<string, string> {
  const pairs = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) pairs.set(args[i] ?? '', args[i + 1] ?? '');
  return pairs;
}

describe('redisServerArgs', () => {
  const parsed = options(redisServerArgs(41234, '/state/redis'));
  it.each([
    ['--bind', '127.0.0.1'],
    ['--port', '41234'],
    ['--dir', '/state/redis'],
    ['--save', ''],
    ['--appendonly', 'no'],
    ['--daemonize', 'no'],
    ['--logfile', ''],
  ])('passes %s %j', (name, value) => {
    expect(parsed.get(name)).toBe(value);
  });
});

describe('healthy', () => {
  // A probe that waited on a retry or a long connect time-out would run into the test's own time-out.
  it('is false, without waiting on a time-out, when nothing listens or the env is missing', { timeout: 5_000 }, async () => {
    const component = redisComponent();
    const port = await freePort();
    expect(await component.healthy({ env: { REDIS_URL: `redis://127.0.0.1:${port}` }, endpoints: {} })).toBe(false);
    expect(await component.healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});
