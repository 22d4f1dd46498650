import { describe, expect, it } from 'vitest';
import { parseAzureQueue } from './azure-queue.js';
import type { ParseInput } from './definition.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

const connection = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net';

function input(metadata: Record<string, string>, extra: Partial<ParseInput> = {}): ParseInput {
  return { trigger: { type: 'azure-queue', metadata }, triggerIndex: 0, authParams: { connection }, resolvedEnv: {}, offline: false, ...extra };
}

describe('azure-queue metadata', () => {
  it('applies KEDA defaults', () => {
    const { config, errors } = parseAzureQueue(input({ queueName: 'orders' }));
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      queueName: 'orders',
      queueLength: 5,
      activationQueueLength: 0,
      queueLengthStrategy: 'all',
      connection,
      connectionFrom: 'authParams',
    });
  });

  it('takes the connection string from the TriggerAuthentication, else from the env var connectionFromEnv names', () => {
    const env = parseAzureQueue(input({ queueName: 'q', connectionFromEnv: 'STORAGE' }, { authParams: {}, resolvedEnv: { STORAGE: 'env-conn' } }));
    expect(env.config).toMatchObject({ connection: 'env-conn', connectionFrom: 'resolvedEnv' });
    const both = parseAzureQueue(input({ queueName: 'q', connectionFromEnv: 'STORAGE' }, { resolvedEnv: { STORAGE: 'env-conn' } }));
    expect(both.config.connection).toBe(connection);
  });

  it.each([
    ['VisibleOnly', 'visibleonly'],
    ['all', 'all'],
  ])('reads queueLengthStrategy %s case-insensitively', (raw, strategy) => {
    expect(parseAzureQueue(input({ queueName: 'q', queueLengthStrategy: raw })).config.queueLengthStrategy).toBe(strategy);
  });

  it.each([
    [{}, {}, 'no queueName given'],
    [{ queueName: 'q' }, { authParams: {} }, 'no connection setting given'],
    [{ queueName: 'q', queueLength: 'five' }, {}, 'unable to set param "queueLength" value "five": not an integer'],
    [
      { queueName: 'q', queueLengthStrategy: 'newest' },
      {},
      'unable to set param "queueLengthStrategy" value "newest": invalid queueLengthStrategy newest given',
    ],
    [{ queueName: 'q' }, { authParams: {}, podIdentity: { provider: 'azure-workload' } }, 'no accountName given'],
    [
      { queueName: 'q', accountName: 'acct' },
      { authParams: {}, podIdentity: { provider: 'azure-workload' } },
      'podIdentity provider "azure-workload" is not supported for azure-queue by swell; use a connection string',
    ],
    [{ queueName: 'q' }, { podIdentity: { provider: 'aws' } }, 'pod identity aws not supported for azure storage queues'],
  ] as [Record<string, string>, Partial<ParseInput>, string][])('rejects %j with %j', (metadata, extra, problem) => {
    expect(parseAzureQueue(input(metadata, extra)).errors).toEqual([`error parsing azure queue metadata: ${problem}`]);
  });

  it('never echoes a connection string', () => {
    const errors = validateTriggerMetadata({ type: 'azure-queue', metadata: { queueName: 'q', queueLength: 'AccountKey=hunter2' } });
    expect(errors.join()).not.toContain('AccountKey=c2VjcmV0');
  });

  it('offline, a connection behind an authenticationRef or connectionFromEnv counts as present', () => {
    expect(validateTriggerMetadata({ type: 'azure-queue', metadata: { queueName: 'q' }, authenticationRef: { name: 'a' } }, { offline: true })).toEqual([]);
    expect(validateTriggerMetadata({ type: 'azure-queue', metadata: { queueName: 'q', connectionFromEnv: 'C' } }, { offline: true })).toEqual([]);
    expect(validateTriggerMetadata({ type: 'azure-queue', metadata: { queueName: 'q' } }, { offline: true })).toEqual([
      'error parsing azure queue metadata: no connection setting given',
    ]);
  });

  it('names the metric azure-queue-<queue>', () => {
    const scaler = createScaler(
      contextFor({ type: 'azure-queue', metadata: { queueName: 'orders', queueLength: '8' } }, { authParams: { connection } }),
      testDeps(),
    );
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-azure-queue-orders', targetType: 'AverageValue', target: 8 }]);
    void scaler.close();
  });
});
