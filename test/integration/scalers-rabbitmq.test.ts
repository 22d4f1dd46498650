// @sandbox rabbitmq
import { randomUUID } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps } from '../../scalers/testing.js';
import { measureReadsPerInterval } from './scaler-reads.js';

const amqpUrl = process.env.RABBITMQ_AMQP_URL ?? '';
const managementUrl = process.env.RABBITMQ_MANAGEMENT_URL ?? '';
const run = randomUUID().slice(0, 8);
const queue = `swell-jobs-${run}`;
const others = [`swell-batch-${run}-a`, `swell-batch-${run}-b`];
let model: ChannelModel;
let channel: ConfirmChannel;

async function fill(name: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) channel.sendToQueue(name, Buffer.from(`job-${i}`));
  await channel.waitForConfirms();
}

/**
 * The management API's counts follow the queue by its statistics interval (1 s in the sandbox), and by many
 * seconds on a busy machine; until a new queue has statistics the scaler reports a failed read.
 */
async function settled(read: () => Promise<number>, expected: number): Promise<number | undefined> {
  const deadline = Date.now() + 60_000;
  let value: number | undefined;
  while (value !== expected && Date.now() < deadline) {
    value = await read().catch(() => undefined);
    if (value !== expected) await new Promise((resolve) => setTimeout(resolve, 250));
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
      const scaler = createScaler(context({ host, queueName: queue, mode: 'QueueLength', value: '5', activationValue: '6' }), testDeps());
      const name = `s0-rabbitmq-${queue}`;
      expect(scaler.metricSpecs[0]).toMatchObject({ metricName: name, target: 5 });
      const value = await settled(async () => (await scaler.read(name)).value, 7);
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
      const scaler = createScaler(context({ host: managementUrl, queueName: `^swell-batch-${run}-.*$`, useRegex: 'true', operation }), testDeps());
      const name = scaler.metricSpecs[0]?.kind === 'External' ? scaler.metricSpecs[0].metricName : '';
      expect(await settled(async () => (await scaler.read(name)).value, value)).toBe(value);
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
    await settled(async () => (await createScaler(context({ host: host(), queueName: queue }), testDeps()).read(`s0-rabbitmq-${queue}`)).value, 7);
    const measured = await measureReadsPerInterval((i) => context({ host: host(), queueName: queue }, {}, i % 3));
    process.stdout.write(`rabbitmq ${protocol}: ${JSON.stringify(measured)}\n`);
    expect(measured.requestsPerInterval).toBe(1);
    expect(measured.connections).toBe(1);
    expect(measured.values).toEqual([7, 7, 7]);
  });
});
