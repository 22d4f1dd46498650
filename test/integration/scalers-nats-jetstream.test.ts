// @sandbox nats
import { randomUUID } from 'node:crypto';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps } from '../../scalers/testing.js';
import { measureReadsPerInterval } from './scaler-reads.js';

const monitoring = process.env.NATS_MONITORING_ENDPOINT ?? '';
const stream = `jobs-${randomUUID().slice(0, 8)}`;
const metricName = `s0-nats-jetstream-${stream}`;
let nc: NatsConnection;

function context(metadata: Record<string, string>, index = 0): ScalerContext {
  return {
    triggerIndex: index,
    trigger: { type: 'nats-jetstream', metadata: { natsServerMonitoringEndpoint: monitoring, account: '$G', stream, consumer: 'workers', ...metadata } },
    authParams: {},
    resolvedEnv: {},
    namespace: 'default',
  };
}

beforeAll(async () => {
  if (!monitoring || !process.env.NATS_URL) throw new Error('NATS_URL and NATS_MONITORING_ENDPOINT must be set: run through the integration project');
  nc = await connect({ servers: process.env.NATS_URL });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit, ack_wait: 600_000_000_000 });
  const js = nc.jetstream();
  for (let i = 0; i < 9; i++) await js.publish(`${stream}.job`, new TextEncoder().encode(`job-${i}`));
  // Two delivered and left unacknowledged: still work to do, so they count.
  const consumer = await js.consumers.get(stream, 'workers');
  await consumer.next();
  await consumer.next();
});

afterAll(async () => {
  await (await nc?.jetstreamManager())?.streams.delete(stream).catch(() => undefined);
  await nc?.close();
});

describe('nats-jetstream scaler on the sandbox server', () => {
  it('reads pending plus unacknowledged messages of the consumer, with activation', async () => {
    const scaler = createScaler(context({ lagThreshold: '4', activationLagThreshold: '9' }), testDeps());
    expect(scaler.metricSpecs[0]).toMatchObject({ metricName, target: 4 });
    await expect(scaler.read(metricName)).resolves.toEqual({ value: 9, active: false });
    await scaler.close();
  });

  it('counts the stream last sequence for a consumer that does not exist, as KEDA does', async () => {
    const scaler = createScaler(context({ consumer: 'nobody' }), testDeps());
    expect((await scaler.read(metricName)).value).toBe(9);
    await scaler.close();
  });

  it('fails clearly for a stream or account that does not exist, and for a dead endpoint', async () => {
    const missing = createScaler(context({ stream: `${stream}-missing` }), testDeps());
    await expect(missing.read(`${metricName}-missing`)).rejects.toThrow(/not found/);
    await missing.close();
    const dead = createScaler(context({ natsServerMonitoringEndpoint: '127.0.0.1:1' }), testDeps());
    await expect(dead.read(metricName)).rejects.toThrow(/connection refused/);
    await dead.close();
  });

  it('100 ScaledObjects on one consumer: one request per interval, one connection', async () => {
    const measured = await measureReadsPerInterval((i) => context({}, i % 3));
    process.stdout.write(`nats-jetstream: ${JSON.stringify(measured)}\n`);
    expect(measured.requestsPerInterval).toBe(1);
    expect(measured.connections).toBe(1);
    expect(measured.values).toEqual([9, 9, 9]);
  });
});
