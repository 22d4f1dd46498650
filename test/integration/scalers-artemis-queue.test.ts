// @sandbox artemis
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps } from '../../scalers/testing.js';
import { measureReadsPerInterval } from './scaler-reads.js';

const endpoint = process.env.ARTEMIS_MANAGEMENT_ENDPOINT ?? '';
const brokerName = process.env.ARTEMIS_BROKER_NAME ?? 'swell';
const account = { username: process.env.ARTEMIS_USERNAME ?? '', password: process.env.ARTEMIS_PASSWORD ?? '' };
const queueName = `swell-${randomUUID().slice(0, 8)}`;
const metricName = `s0-artemis-${queueName}`;
const queueMBean = `org.apache.activemq.artemis:broker="${brokerName}",component=addresses,address="${queueName}",subcomponent=queues,routing-type="anycast",queue="${queueName}"`;

/** One Jolokia operation on the broker's management API, as an operator of the broker would run it. */
async function jolokia(mbean: string, operation: string, args: unknown[]): Promise<void> {
  const response = await fetch(`http://${endpoint}/console/jolokia`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${account.username}:${account.password}`).toString('base64')}`,
      origin: `http://${endpoint}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ type: 'exec', mbean, operation, arguments: args }),
  });
  const reply = (await response.json()) as { status?: number; error?: string };
  if (reply.status !== 200) throw new Error(`${operation} failed: ${reply.error ?? response.status}`);
}

function context(metadata: Record<string, string>, index = 0): ScalerContext {
  return {
    triggerIndex: index,
    trigger: { type: 'artemis-queue', metadata: { managementEndpoint: endpoint, brokerName, brokerAddress: queueName, queueName, ...metadata } },
    authParams: account,
    resolvedEnv: {},
    namespace: 'default',
  };
}

beforeAll(async () => {
  if (!endpoint) throw new Error('ARTEMIS_MANAGEMENT_ENDPOINT must be set: run through the integration project');
  const config = JSON.stringify({ name: queueName, address: queueName, 'routing-type': 'ANYCAST', durable: false });
  await jolokia(`org.apache.activemq.artemis:broker="${brokerName}"`, 'createQueue(java.lang.String)', [config]);
  for (let i = 0; i < 4; i++) {
    await jolokia(queueMBean, 'sendMessage(java.util.Map,int,java.lang.String,boolean,java.lang.String,java.lang.String)', [
      {},
      3,
      `job-${i}`,
      false,
      account.username,
      account.password,
    ]);
  }
});

afterAll(async () => {
  await jolokia(`org.apache.activemq.artemis:broker="${brokerName}"`, 'destroyQueue(java.lang.String,boolean)', [queueName, true]).catch(() => undefined);
});

describe('artemis-queue scaler on the sandbox broker', () => {
  it.each([
    ['default activation (10): inactive', {}, false],
    ['activation 3: active', { activationQueueLength: '3' }, true],
  ])('reads the message count through Jolokia, %s', async (_title, metadata, active) => {
    const scaler = createScaler(context({ queueLength: '2', ...metadata }), testDeps());
    expect(scaler.metricSpecs[0]).toMatchObject({ metricName, target: 2 });
    await expect(scaler.read(metricName)).resolves.toEqual({ value: 4, active });
    await scaler.close();
  });

  it('reads through a custom restApiTemplate', async () => {
    const template = `http://${endpoint}/console/jolokia/read/${queueMBean}/MessageCount`;
    const scaler = createScaler({ ...context({}), trigger: { type: 'artemis-queue', metadata: { restApiTemplate: template } } }, testDeps());
    expect((await scaler.read(metricName)).value).toBe(4);
    await scaler.close();
  });

  it('fails clearly for a queue that does not exist and for a wrong password, never showing the password', async () => {
    const missing = createScaler(context({ queueName: `${queueName}-missing` }), testDeps());
    await expect(missing.read(`${metricName}-missing`)).rejects.toThrow('artemis management endpoint response error code : 200 404');
    await missing.close();
    const wrong = createScaler({ ...context({}), authParams: { username: account.username, password: 'not-the-password' } }, testDeps());
    const error = await wrong.read(metricName).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toMatch(/response error code : 40[13]/);
    expect(error?.message).not.toContain('not-the-password');
    await wrong.close();
  });

  it('100 ScaledObjects on one queue: one request per interval, one connection', async () => {
    const measured = await measureReadsPerInterval((i) => context({}, i % 3));
    process.stdout.write(`artemis-queue: ${JSON.stringify(measured)}\n`);
    expect(measured.requestsPerInterval).toBe(1);
    expect(measured.connections).toBe(1);
    expect(measured.values).toEqual([4, 4, 4]);
  });
});
