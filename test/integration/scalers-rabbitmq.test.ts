// @sandbox rabbitmq
import { randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';
import { FakeClock } from '../../src/controller/fake-clock.js';
import { measureReadsPerInterval } from './scaler-reads.js';

const amqpUrl = process.env.RABBITMQ_AMQP_URL ?? '';
const managementUrl = process.env.RABBITMQ_MANAGEMENT_URL ?? '';
const run = randomUUID().slice(0, 8);
const queue = `swell-jobs-${run}`;
const others = [`swell-batch-${run}-a`, `swell-batch-${run}-b`];
let model: ChannelModel;
let channel: ConfirmChannel;
/** Between one read of a scaler and its next, as the ScaledObjects here would poll. */
const pollingIntervalMs = 1_000;

async function fill(name: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) channel.sendToQueue(name, Buffer.from(`job-${i}`));
  await channel.waitForConfirms();
}

/**
 * The management API's counts trail the queue: a queue writes its counts into the broker's statistics while it
 * is busy (every 1 s in the sandbox) and once more as it goes idle, and the management collector copies them
 * every 5 s (its smallest sample interval). So a new queue first has no counts (a failed read), then may show the
 * 0 it was created with, then the messages published into it; on a busy machine for many seconds.
 * Every attempt is a new poll: the scaler's clock moves on by a polling interval, as the operator's does.
 * With the clock standing still the scaler's shared reads would answer every attempt with the first value
 * read, which is how a 0 read in that window once stayed 0 for the whole minute.
 */
async function settled(clock: FakeClock, read: () => Promise<number>, expected: number): Promise<number | undefined> {
  const deadline = Date.now() + 60_000;
  let value: number | undefined;
  while (value !== expected && Date.now() < deadline) {
    value = await read().catch(() => undefined);
    if (value === expected) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
    await clock.advance(pollingIntervalMs);
  }
  return value;
}

function context(metadata: Record<string, string>, authParams: Record<string, string> = {}, index = 0): ScalerContext {
  return { triggerIndex: index, trigger: { type: 'rabbitmq', metadata }, authParams, resolvedEnv: {}, namespace: 'default' };
}

beforeAll(async () => {
  if (!amqpUrl || !managementUrl) throw new Error('RABBITMQ_AMQP_URL and RABBITMQ_MANAGEMENT_URL must be set: run through the integration project');
  model = await connect(amqpUrl);
  channel = await model.createConfirmChannel();
  for (const name of [queue, ...others]) await channel.assertQueue(name, { durable: false });
  await fill(queue, 7);
  await fill(others[0] ?? '', 3);
  await fill(others[1] ?? '', 5);
});

afterAll(async () => {
  for (const name of [queue, ...others]) await channel?.deleteQueue(name).catch(() => undefined);
  await model?.close();
});

describe('rabbitmq scaler on the sandbox broker', () => {
  it('counts a queue over AMQP and over the management API, with activation', { timeout: 90_000 }, async () => {
    for (const host of [amqpUrl, managementUrl]) {
      const clock = new FakeClock(testEpochMs);
      const scaler = createScaler(context({ host, queueName: queue, mode: 'QueueLength', value: '5', activationValue: '6' }), testDeps(clock));
      const name = `s0-rabbitmq-${queue}`;
      expect(scaler.metricSpecs[0]).toMatchObject({ metricName: name, target: 5 });
      const value = await settled(clock, async () => (await scaler.read(name)).value, 7);
      expect(value).toBe(7);
      await expect(scaler.read(name)).resolves.toEqual({ value: 7, active: true });
      await scaler.close();
    }
  });

  it('takes the account from a TriggerAuthentication instead of the host', async () => {
    const bare = new URL(managementUrl);
    const { username, password } = bare;
    bare.username = '';
    bare.password = '';
    const scaler = createScaler(context({ host: bare.href, queueName: queue }, { username, password }), testDeps());
    expect((await scaler.read(`s0-rabbitmq-${queue}`)).value).toBe(7);
    await scaler.close();
    const wrong = createScaler(context({ host: bare.href, queueName: queue }, { username, password: 'wrong' }), testDeps());
    await expect(wrong.read(`s0-rabbitmq-${queue}`)).rejects.toThrow(/401/);
    await wrong.close();
  });

  it('sums, averages or takes the largest of the queues a regex matches', { timeout: 90_000 }, async () => {
    const expected = { sum: 8, avg: 4, max: 5 };
    for (const [operation, value] of Object.entries(expected)) {
      const clock = new FakeClock(testEpochMs);
      const scaler = createScaler(context({ host: managementUrl, queueName: `^swell-batch-${run}-.*$`, useRegex: 'true', operation }), testDeps(clock));
      const name = scaler.metricSpecs[0]?.kind === 'External' ? scaler.metricSpecs[0].metricName : '';
      expect(await settled(clock, async () => (await scaler.read(name)).value, value)).toBe(value);
      await scaler.close();
    }
  });

  it('fails clearly for a queue that does not exist, over both protocols, and recovers', async () => {
    for (const host of [amqpUrl, managementUrl]) {
      const scaler = createScaler(context({ host, queueName: `${queue}-missing` }), testDeps());
      await expect(scaler.read(`s0-rabbitmq-${queue}-missing`)).rejects.toThrow(/does not exist|404/);
      await scaler.close();
    }
    const deps = testDeps();
    const missing = createScaler(context({ host: amqpUrl, queueName: `${queue}-missing` }), deps);
    const present = createScaler(context({ host: amqpUrl, queueName: queue }), deps);
    await expect(missing.read(`s0-rabbitmq-${queue}-missing`)).rejects.toThrow(/does not exist/);
    expect((await present.read(`s0-rabbitmq-${queue}`)).value).toBe(7);
    await Promise.all([missing.close(), present.close()]);
  });

  it.each([
    ['AMQP', () => amqpUrl],
    ['HTTP', () => managementUrl],
  ])('100 ScaledObjects on one queue over %s: one request per interval, one connection', async (protocol, host) => {
    const clock = new FakeClock(testEpochMs);
    const probe = createScaler(context({ host: host(), queueName: queue }), testDeps(clock));
    await settled(clock, async () => (await probe.read(`s0-rabbitmq-${queue}`)).value, 7);
    await probe.close();
    const measured = await measureReadsPerInterval((i) => context({ host: host(), queueName: queue }, {}, i % 3));
    process.stdout.write(`rabbitmq ${protocol}: ${JSON.stringify(measured)}\n`);
    expect(measured.requestsPerInterval).toBe(1);
    expect(measured.connections).toBe(1);
    expect(measured.values).toEqual([7, 7, 7]);
  });
});
