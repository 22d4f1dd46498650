// @sandbox redis
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { Scaler, ScalerContext, TriggerSpec } from '../../scalers/scaler.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';
import { FakeClock } from '../../src/controller/fake-clock.js';

const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const address = `${redisUrl.hostname}:${redisUrl.port}`;
let admin: Redis;
const prefix = `swell-test-${randomUUID().slice(0, 8)}`;

beforeAll(() => {
  admin = new Redis({ host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.acl('DELUSER', `${prefix}-user`);
  admin.disconnect();
});

function context(trigger: TriggerSpec, extra: Partial<ScalerContext> = {}): ScalerContext {
  return { triggerIndex: 0, trigger, authParams: {}, resolvedEnv: {}, namespace: 'default', ...extra };
}

function metricOf(scaler: Scaler): string {
  const spec = scaler.metricSpecs[0];
  if (spec?.kind !== 'External') throw new Error('expected an external metric');
  return spec.metricName;
}

async function commandCalls(command: string): Promise<number> {
  const stats = await admin.info('commandstats');
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats);
  return Number(match?.[1] ?? 0);
}

describe('redis list scaler on a real server', () => {
  it('counts lists, sets, sorted sets and hashes, and judges activity', async () => {
    const list = `${prefix}:list`;
    await admin.rpush(list, 'a', 'b', 'c', 'd', 'e', 'f');
    await admin.sadd(`${prefix}:set`, 'x', 'y');
    await admin.zadd(`${prefix}:zset`, 1, 'x', 2, 'y', 3, 'z');
    await admin.hset(`${prefix}:hash`, { a: '1' });
    await admin.set(`${prefix}:string`, 'v');
    const deps = testDeps();
    const read = async (listName: string, activationListLength = '0') => {
      const scaler = createScaler(context({ type: 'redis', metadata: { address, listName, activationListLength } }), deps);
      try {
        return await scaler.read(metricOf(scaler));
      } finally {
        await scaler.close();
      }
    };
    await expect(read(list)).resolves.toEqual({ value: 6, active: true });
    await expect(read(list, '6')).resolves.toEqual({ value: 6, active: false });
    await expect(read(`${prefix}:set`)).resolves.toEqual({ value: 2, active: true });
    await expect(read(`${prefix}:zset`)).resolves.toEqual({ value: 3, active: true });
    await expect(read(`${prefix}:hash`)).resolves.toEqual({ value: 1, active: true });
    await expect(read(`${prefix}:missing`)).resolves.toEqual({ value: 0, active: false });
    await expect(read(`${prefix}:string`)).rejects.toThrow('unsupported key type: string');
    expect(deps.connections.size).toBe(0);
  });

  it('authenticates with a username and password from the TriggerAuthentication', async () => {
    const user = `${prefix}-user`;
    const password = `pw-${randomUUID()}`;
    await admin.acl('SETUSER', user, 'on', `>${password}`, `~${prefix}*`, '+@all');
    await admin.rpush(`${prefix}:auth`, '1', '2');
    const trigger: TriggerSpec = { type: 'redis', metadata: { address, listName: `${prefix}:auth` }, authenticationRef: { name: 'redis-auth' } };
    const good = createScaler(context(trigger, { authParams: { username: user, password } }), testDeps());
    await expect(good.read(metricOf(good))).resolves.toEqual({ value: 2, active: true });
    await good.close();
    const bad = createScaler(context(trigger, { authParams: { username: user, password: 'wrong-password' } }), testDeps());
    const failure = await bad.read(metricOf(bad)).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failure?.message).toMatch(/WRONGPASS|invalid username-password/i);
    expect(failure?.message).not.toContain('wrong-password');
    await bad.close();
  });

  it('100 scalers on one list cause one LLEN per polling interval', async () => {
    const list = `${prefix}:shared`;
    await admin.rpush(list, ...Array.from({ length: 42 }, (_, i) => String(i)));
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock);
    const scalers = Array.from({ length: 100 }, (_, i) =>
      createScaler(context({ type: 'redis', metadata: { address, listName: list } }, { triggerIndex: i % 3 }), deps),
    );
    const intervalMs = 30_000;
    const before = await commandCalls('llen');
    for (let interval = 0; interval < 3; interval++) {
      // Each scale loop polls at its own moment within the interval; the HPA asks again in between.
      for (let step = 0; step < 4; step++) {
        const readings = await Promise.all(scalers.map((s) => s.read(metricOf(s), { maxAgeMs: intervalMs })));
        expect(new Set(readings.map((r) => r.value))).toEqual(new Set([42]));
        await clock.advance(intervalMs / 5);
      }
      await clock.advance(intervalMs);
    }
    const llens = (await commandCalls('llen')) - before;
    expect(llens).toBe(3);
    expect(deps.connections.size).toBe(1);
    await Promise.all(scalers.map((s) => s.close()));
    expect(deps.connections.size).toBe(0);
  });

  it('a server that never answers times out without delaying reads from a healthy one', async () => {
    const sockets: net.Socket[] = [];
    const blackHole = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const deadAddress = `127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`;
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock, { requestTimeoutMs: 400 });
    await admin.rpush(`${prefix}:healthy`, '1');
    const dead = createScaler(context({ type: 'redis', metadata: { address: deadAddress, listName: 'l' } }), deps);
    const healthy = createScaler(context({ type: 'redis', metadata: { address, listName: `${prefix}:healthy` } }), deps);
    let deadOutcome: string | undefined;
    const deadRead = dead.read(metricOf(dead)).then(
      () => (deadOutcome = 'answered'),
      (err: unknown) => (deadOutcome = (err as Error).message),
    );
    await expect(healthy.read(metricOf(healthy))).resolves.toEqual({ value: 1, active: true });
    // The pool times the read on the runtime's clock: nothing before the timeout, the timeout at it.
    await clock.advance(399);
    expect(deadOutcome).toBeUndefined();
    await clock.advance(1);
    expect(await deadRead).toMatch(/timed out after 400 ms reading Redis standalone 127\.0\.0\.1:\d+/);
    await dead.close();
    await healthy.close();
    sockets.forEach((s) => s.destroy());
    await new Promise<void>((resolve) => blackHole.close(() => resolve()));
  });
});

describe('redis streams scaler on a real server', () => {
  const stream = `${prefix}:events`;
  beforeAll(async () => {
    for (let i = 0; i < 10; i++) await admin.xadd(stream, '*', 'n', String(i));
    await admin.xgroup('CREATE', stream, 'workers', '0');
    // A consumer takes 4 entries and acknowledges 1 of them: 3 pending, 6 never delivered.
    const delivered = (await admin.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', '4', 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]>;
    const firstId = delivered[0]?.[1][0]?.[0] ?? '';
    await admin.xack(stream, 'workers', firstId);
  });

  it.each([
    ['stream length', { stream }, 10, 5],
    ['pending entries of a group', { stream, consumerGroup: 'workers' }, 3, 5],
    ['lag of a group', { stream, consumerGroup: 'workers', lagCount: '2' }, 6, 2],
    ['lag of a group not created yet (the whole stream)', { stream, consumerGroup: 'newcomers', lagCount: '2' }, 10, 2],
    ['lag of a stream that does not exist', { stream: `${prefix}:nothing`, consumerGroup: 'workers', lagCount: '2' }, 0, 2],
  ])('%s', async (_title, metadata, value, target) => {
    const scaler = createScaler(context({ type: 'redis-streams', metadata: { address, ...metadata } }), testDeps());
    expect(scaler.metricSpecs[0]).toMatchObject({ target });
    await expect(scaler.read(metricOf(scaler))).resolves.toEqual({ value, active: value > 0 });
    await scaler.close();
  });
});
