import { describe, expect, it } from 'vitest';
import { parseSqs, queueCountsFrom, queueLengthOf, queueNameFromURL } from './aws-sqs-queue.js';
import type { ParseInput } from './definition.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

const url = 'https://sqs.eu-west-1.amazonaws.com/123456789012/DeleteArtifactQ';
const keys = { awsAccessKeyID: 'AKIA', awsSecretAccessKey: 'secret' };

function parse(metadata: Record<string, string>, extra: Partial<ParseInput> = {}) {
  return parseSqs({ trigger: { type: 'aws-sqs-queue', metadata }, triggerIndex: 0, authParams: keys, resolvedEnv: {}, offline: false, ...extra });
}

describe('queueNameFromURL', () => {
  it.each([
    [url, 'DeleteArtifactQ'],
    ['http://127.0.0.1:9324/000000000000/orders.fifo', 'orders.fifo'],
    ['orders', 'orders'],
    ['/000000000000/orders', 'orders'],
    ['https://sqs.eu-west-1.amazonaws.com/orders', undefined],
    ['https://sqs.eu-west-1.amazonaws.com/acct/orders/extra', undefined],
    ['https://sqs.eu-west-1.amazonaws.com/acct/', undefined],
  ])('%s → %s', (raw, name) => expect(queueNameFromURL(raw)).toBe(name));
});

describe('SQS metadata', () => {
  it('applies KEDA defaults', () => {
    const { config, errors } = parse({ queueURL: url, awsRegion: 'eu-west-1' });
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ queueLength: 5, activationQueueLength: 0, scaleOnInFlight: true, scaleOnDelayed: false, queueName: 'DeleteArtifactQ' });
    expect(config.credentials).toEqual({ kind: 'static', accessKeyId: 'AKIA', secretAccessKey: 'secret' });
  });

  it('reads the queue URL and keys through the container env', () => {
    const { config, errors } = parse(
      { queueURLFromEnv: 'QUEUE', awsRegion: 'eu-west-1', awsAccessKeyIDFromEnv: 'AK', awsSecretAccessKeyFromEnv: 'SK' },
      { authParams: {}, resolvedEnv: { QUEUE: url, AK: 'id-from-env', SK: 'key-from-env' } },
    );
    expect(errors).toEqual([]);
    expect(config.queueURL).toBe(url);
    expect(config.credentials).toEqual({ kind: 'static', accessKeyId: 'id-from-env', secretAccessKey: 'key-from-env' });
  });

  it.each([
    [{ awsRegion: 'eu-west-1' }, keys, 'missing required parameter "queueURL" in [triggerMetadata resolvedEnv]'],
    [{ queueURL: url, awsRegion: '  ' }, keys, 'missing required parameter "awsRegion" in [triggerMetadata authParams]'],
    [{ queueURL: url, awsRegion: 'r', queueLength: '5x' }, keys, 'unable to set param "queueLength" value "5x": not an integer'],
    [{ queueURL: url, awsRegion: 'r', scaleOnInFlight: 'maybe' }, keys, 'unable to set param "scaleOnInFlight" value "maybe": not a boolean'],
    [{ queueURL: 'https://sqs.amazonaws.com/q', awsRegion: 'r' }, keys, 'cannot get queueName from queueURL'],
    [{ queueURL: url, awsRegion: 'r' }, {}, 'awsAccessKeyID not found'],
    [{ queueURL: url, awsRegion: 'r' }, { awsAccessKeyId: 'AKIA' }, 'awsSecretAccessKey not found'],
  ])('rejects %j with auth %j', (metadata, authParams, problem) => {
    expect(parse(metadata, { authParams }).errors).toEqual([`error parsing SQS queue metadata: ${problem}`]);
  });

  it('needs no keys with aws pod identity or identityOwner operator', () => {
    expect(parse({ queueURL: url, awsRegion: 'r' }, { authParams: {}, podIdentity: { provider: 'aws' } }).config.credentials).toEqual({
      kind: 'default-chain',
    });
    expect(parse({ queueURL: url, awsRegion: 'r', identityOwner: 'operator' }, { authParams: {} }).errors).toEqual([]);
  });

  it('offline, keys behind an authenticationRef count as present', () => {
    const trigger = { type: 'aws-sqs-queue', metadata: { queueURL: url, awsRegion: 'r' }, authenticationRef: { name: 'aws' } };
    expect(validateTriggerMetadata(trigger, { offline: true })).toEqual([]);
    expect(validateTriggerMetadata({ ...trigger, authenticationRef: undefined }, { offline: true })).toEqual([
      'error parsing SQS queue metadata: awsAccessKeyID not found',
    ]);
  });

  it('names the metric after the normalised queue name', () => {
    const trigger = { type: 'aws-sqs-queue', metadata: { queueURL: 'http://127.0.0.1:9324/000000000000/orders.fifo', awsRegion: 'r', queueLength: '7' } };
    const scaler = createScaler(contextFor(trigger, { authParams: keys, triggerIndex: 2 }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's2-aws-sqs-orders-fifo', targetType: 'AverageValue', target: 7 }]);
    return scaler.close();
  });
});

describe('SQS queue length', () => {
  const attributes = { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '4', ApproximateNumberOfMessagesDelayed: '5' };
  it.each([
    [true, false, 7],
    [false, false, 3],
    [true, true, 12],
    [false, true, 8],
  ])('inFlight=%s delayed=%s → %i', (scaleOnInFlight, scaleOnDelayed, total) => {
    expect(queueLengthOf(queueCountsFrom(attributes), { scaleOnInFlight, scaleOnDelayed })).toBe(total);
  });
  it('names a missing or malformed attribute', () => {
    expect(() => queueCountsFrom({ ...attributes, ApproximateNumberOfMessagesDelayed: undefined })).toThrow(
      'metric ApproximateNumberOfMessagesDelayed not found in SQS queue attributes',
    );
    expect(() => queueCountsFrom({ ...attributes, ApproximateNumberOfMessages: 'x' })).toThrow('ApproximateNumberOfMessages');
  });
});
