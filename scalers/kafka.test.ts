import { describe, expect, it } from 'vitest';
import type { ParseInput } from './definition.js';
import { kafkaMetricName, parseKafka } from './kafka.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

const base = { bootstrapServers: 'b1:9092, b2:9092', consumerGroup: 'g', topic: 't' };

function parse(metadata: Record<string, string>, extra: Partial<ParseInput> = {}) {
  return parseKafka({ trigger: { type: 'kafka', metadata }, triggerIndex: 0, authParams: {}, resolvedEnv: {}, offline: false, ...extra });
}

describe('kafka metadata', () => {
  it('applies KEDA defaults', () => {
    const { config, errors } = parse(base);
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      bootstrapServers: ['b1:9092', 'b2:9092'],
      lagThreshold: 10,
      activationLagThreshold: 0,
      offsetResetPolicy: 'latest',
      allowIdleConsumers: false,
      excludePersistentLag: false,
      scaleToZeroOnInvalidOffset: false,
      limitToPartitionsWithLag: false,
      tls: 'disable',
      sasl: 'none',
    });
  });

  it('takes servers, group and topic from the container env', () => {
    const { config } = parse(
      { bootstrapServersFromEnv: 'BROKERS', consumerGroupFromEnv: 'GROUP', topicFromEnv: 'TOPIC' },
      { resolvedEnv: { BROKERS: 'k:9092', GROUP: 'workers', TOPIC: 'jobs' } },
    );
    expect(config).toMatchObject({ bootstrapServers: ['k:9092'], consumerGroup: 'workers', topic: 'jobs' });
  });

  it('ignores partitionLimitation without a topic', () => {
    expect(parse({ ...base, partitionLimitation: '1-3' }).config.partitionLimitation).toEqual([1, 2, 3]);
    expect(parse({ bootstrapServers: 'b', consumerGroup: 'g', partitionLimitation: '1-3' }).config.partitionLimitation).toBeUndefined();
  });

  it('reads SASL and TLS settings from the auth parameters; metadata wins', () => {
    const { config, errors } = parse({ ...base, tls: 'disable' }, { authParams: { sasl: 'scram_sha512', username: 'u', password: 'p', tls: 'enable' } });
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ sasl: 'scram_sha512', username: 'u', tls: 'disable' });
  });

  it.each([
    [{ consumerGroup: 'g' }, {}, 'missing required parameter "bootstrapServers" in [triggerMetadata resolvedEnv]'],
    [{ ...base, bootstrapServers: ' , ' }, {}, 'no bootstrapServers given'],
    [{ ...base, lagThreshold: '0' }, {}, '"lagThreshold" must be positive number'],
    [{ ...base, lagThreshold: '1.5' }, {}, 'unable to set param "lagThreshold" value "1.5": not an integer'],
    [{ ...base, activationLagThreshold: '-1' }, {}, '"activationLagThreshold" must be a non-negative number'],
    [{ ...base, offsetResetPolicy: 'newest' }, {}, 'parameter "offsetResetPolicy" value "newest" must be one of [latest earliest]'],
    [
      { ...base, allowIdleConsumers: 'true', limitToPartitionsWithLag: 'true' },
      {},
      'allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously',
    ],
    [{ bootstrapServers: 'b', consumerGroup: 'g', limitToPartitionsWithLag: 'true' }, {}, 'topic must be specified when using limitToPartitionsWithLag'],
    [
      { ...base, limitToPartitionsWithLag: 'true', ensureEvenDistributionOfPartitions: 'true' },
      {},
      'limitToPartitionsWithLag and ensureEvenDistributionOfPartitions cannot be set simultaneously',
    ],
    [
      { bootstrapServers: 'b', consumerGroup: 'g', ensureEvenDistributionOfPartitions: 'true' },
      {},
      'topic must be specified when using ensureEvenDistributionOfPartitions',
    ],
    [{ ...base, partitionLimitation: '1,x' }, {}, 'unable to set param "partitionLimitation" value "1,x": invalid partition limitation: x'],
    [{ ...base, sasl: 'plaintext' }, { password: 'p' }, 'no username given'],
    [{ ...base, sasl: 'scram_sha256' }, { username: 'u' }, 'no password given'],
    [{ ...base, sasl: 'gssapi' }, {}, 'sasl "gssapi" is not supported by swell'],
    [{ ...base, tls: 'enable' }, { cert: 'C' }, 'key must be provided with cert'],
    [{ ...base, tls: 'enable' }, { key: 'K' }, 'cert must be provided with key'],
    [{ ...base, version: 'latest' }, {}, 'unable to set param "version" value "latest": error parsing kafka version: invalid version `latest`'],
  ])('rejects %j with auth %j', (metadata, authParams, problem) => {
    expect(parse(metadata, { authParams }).errors).toEqual([`error parsing kafka metadata: ${problem}`]);
  });

  it('collects several problems at once', () => {
    expect(parse({ lagThreshold: 'x', offsetResetPolicy: 'y' }).errors).toHaveLength(4);
  });

  it('offline, a topic from the env satisfies limitToPartitionsWithLag', () => {
    const metadata = { bootstrapServers: 'b', consumerGroup: 'g', topicFromEnv: 'T', limitToPartitionsWithLag: 'true' };
    expect(validateTriggerMetadata({ type: 'kafka', metadata }, { offline: true })).toEqual([]);
  });
});

describe('kafka metric names', () => {
  it.each([
    [{ consumerGroup: 'g', topic: 'my-topic' }, 'kafka-my-topic'],
    [{ consumerGroup: 'my-group' }, 'kafka-my-group-topics'],
  ])('%j → %s', (config, name) => expect(kafkaMetricName(config)).toBe(name));

  it('normalises dots in topic names and targets lagThreshold', () => {
    const trigger = { type: 'kafka', metadata: { ...base, topic: 'orders.v1', lagThreshold: '50' }, metricType: 'Value' as const };
    const scaler = createScaler(contextFor(trigger, { triggerIndex: 1 }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's1-kafka-orders-v1', targetType: 'Value', target: 50 }]);
    return scaler.close();
  });
});
