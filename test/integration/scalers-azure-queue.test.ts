// @sandbox azurite
import { randomUUID } from 'node:crypto';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { testDeps } from '../../scalers/testing.js';
import { measureReadsPerInterval } from './scaler-reads.js';

const connection = process.env.AZURE_STORAGE_CONNECTION_STRING ?? '';
const queueName = `swell-${randomUUID().slice(0, 8)}`;
const metricName = `s0-azure-queue-${queueName}`;
let queue: QueueClient;

function context(metadata: Record<string, string>, index = 0, resolvedEnv: Record<string, string> = {}): ScalerContext {
  const fromEnv = 'connectionFromEnv' in metadata;
  return {
    triggerIndex: index,
    trigger: { type: 'azure-queue', metadata: { queueName, ...metadata } },
    authParams: fromEnv ? {} : { connection },
    resolvedEnv,
    namespace: 'default',
  };
}

beforeAll(async () => {
  if (!connection) throw new Error('AZURE_STORAGE_CONNECTION_STRING must be set: run through the integration project');
  queue = QueueServiceClient.fromConnectionString(connection).getQueueClient(queueName);
  await queue.create();
  for (let i = 0; i < 6; i++) await queue.sendMessage(`job-${i}`);
  // Two received and hidden for 10 minutes: invisible, but not gone.
  await queue.receiveMessages({ numberOfMessages: 2, visibilityTimeout: 600 });
});

afterAll(async () => {
  await queue?.delete().catch(() => undefined);
});

describe('azure-queue scaler on Azurite', () => {
  it.each([
    ['all messages (default)', {}, 6, true],
    ['visible messages only', { queueLengthStrategy: 'visibleonly' }, 4, true],
    ['below activation', { activationQueueLength: '6' }, 6, false],
  ])('counts %s', async (_title, metadata, value, active) => {
    const scaler = createScaler(context({ queueLength: '3', ...metadata }), testDeps());
    expect(scaler.metricSpecs[0]).toMatchObject({ metricName, target: 3 });
    await expect(scaler.read(metricName)).resolves.toEqual({ value, active });
    await scaler.close();
  });

  it('reads the connection string from the env var connectionFromEnv names', async () => {
    const scaler = createScaler(context({ connectionFromEnv: 'STORAGE' }, 0, { STORAGE: connection }), testDeps());
    expect((await scaler.read(metricName)).value).toBe(6);
    await scaler.close();
  });

  it('fails clearly for a missing queue and a wrong key, never showing the key', async () => {
    const missing = createScaler(context({ queueName: `${queueName}-missing` }), testDeps());
    await expect(missing.read(`${metricName}-missing`)).rejects.toThrow(/does not exist/);
    await missing.close();
    const key = /AccountKey=([^;]+)/.exec(connection)?.[1] ?? '';
    const wrongKey = connection.replace(key, Buffer.from('not-the-key').toString('base64'));
    const scaler = createScaler({ ...context({}), authParams: { connection: wrongKey } }, testDeps());
    const error = await scaler.read(metricName).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toMatch(/403|authenticat|signature/i);
    expect(error?.message).not.toContain('bm90LXRoZS1rZXk');
    await scaler.close();
  });

  it('100 ScaledObjects on one queue: one request per interval, one client', async () => {
    const measured = await measureReadsPerInterval((i) => context({}, i % 3));
    process.stdout.write(`azure-queue: ${JSON.stringify(measured)}\n`);
    expect(measured.requestsPerInterval).toBe(1);
    expect(measured.connections).toBe(1);
    expect(measured.values).toEqual([6, 6, 6]);
  });
});
