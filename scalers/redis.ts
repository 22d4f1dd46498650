import { field, positiveTarget, type MetadataOf } from './metadata.js';
import { acquireRedis, redisAddressOrigin, redisConnectionRules, redisConnectionSchema, redisFlavourOf, type RedisFlavour } from './redis-connection.js';
import { ScalerReadError } from './scaler.js';
import { pooledSource, schemaParser, singleMetricScaler } from './single-metric.js';

const schema = {
  ...redisConnectionSchema,
  listName: field.string(),
  listLength: field.int({ default: 5 }),
  activationListLength: field.int({ default: 0 }),
};

export type RedisListMetadata = MetadataOf<typeof schema>;
export interface RedisListConfig extends RedisListMetadata {
  flavour: RedisFlavour;
}

export const parseRedisList = schemaParser({
  schema,
  errorPrefix: 'error parsing redis metadata',
  rules: (input) => [...redisConnectionRules<RedisListMetadata>(redisFlavourOf(input.trigger.type)), positiveTarget<RedisListMetadata>('listLength')],
  config: (parsed, input): RedisListConfig => ({ ...parsed.values, flavour: redisFlavourOf(input.trigger.type), ...redisAddressOrigin(parsed) }),
});

/**
 * The length of whatever the key holds, in one round trip: sorted sets, sets and hashes count their members,
 * and a list or a missing key counts with LLEN (0 when missing), as KEDA does.
 */
export const keyLengthScript = `
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'list' or kind == 'none' then return redis.call('LLEN', KEYS[1]) end
if kind == 'zset' then return redis.call('ZCARD', KEYS[1]) end
if kind == 'set' then return redis.call('SCARD', KEYS[1]) end
if kind == 'hash' then return redis.call('HLEN', KEYS[1]) end
return redis.error_reply('ERR unsupported key type: ' .. kind)
`;

export const redisListScaler = singleMetricScaler<RedisListConfig, number>({
  types: ['redis', 'redis-cluster', 'redis-sentinel'],
  schema,
  example: { metadata: { address: '127.0.0.1:1', listName: 'jobs', sentinelMaster: 'mymaster' }, authParams: { password: 'pw' } },
  parse: parseRedisList,
  metricName: (config) => `redis-${config.listName}`,
  target: (config) => config.listLength,
  source: (config, deps, timeoutMs) => {
    const lease = acquireRedis(config.flavour, config, deps, timeoutMs);
    return pooledSource(lease.pooled, `${lease.key}|list|${config.listName}`, async (handle) => {
      const reply = await handle.client.eval(keyLengthScript, 1, config.listName);
      if (typeof reply !== 'number') throw new ScalerReadError(`unexpected reply to the length of "${config.listName}"`);
      return reply;
    });
  },
  value: (length) => length,
  activation: (config) => config.activationListLength,
});
