import type { ParseInput, ParseResult, ScalerDefinition } from './definition.js';
import { metadataInput, prefixed } from './definition.js';
import { checkRules, field, parseMetadata, positiveTarget, type MetadataOf } from './metadata.js';
import { acquireRedis, redisAddressOrigin, redisConnectionRules, redisConnectionSchema, redisFlavourOf, type RedisFlavour } from './redis-connection.js';
import {
  assertOwnMetric,
  defaultRequestTimeoutMs,
  externalMetricSpec,
  ScalerReadError,
  type MetricReading,
  type Scaler,
  type ScalerContext,
  type ScalerDeps,
} from './scaler.js';

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

export function parseRedisList(input: ParseInput): ParseResult<RedisListConfig> {
  const flavour = redisFlavourOf(input.trigger.type);
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, [...redisConnectionRules<RedisListMetadata>(flavour), positiveTarget<RedisListMetadata>('listLength')])];
  return { config: { ...parsed.values, flavour, ...redisAddressOrigin(parsed) }, errors: prefixed('error parsing redis metadata', errors) };
}

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

function createRedisListScaler(config: RedisListConfig, context: ScalerContext, deps: ScalerDeps): Scaler {
  const timeoutMs = deps.requestTimeoutMs ?? defaultRequestTimeoutMs;
  const lease = acquireRedis(config.flavour, config, deps, timeoutMs);
  const spec = externalMetricSpec(context, `redis-${config.listName}`, config.listLength);
  const fetch = (): Promise<number> =>
    lease.pooled.use(timeoutMs, async (handle) => {
      const reply = await handle.client.eval(keyLengthScript, 1, config.listName);
      if (typeof reply !== 'number') throw new ScalerReadError(`unexpected reply to the length of "${config.listName}"`);
      return reply;
    });
  return {
    metricSpecs: [spec],
    async read(metricName, options): Promise<MetricReading> {
      assertOwnMetric([spec], metricName);
      const value = await deps.reads.read(`${lease.key}|list|${config.listName}`, options?.maxAgeMs ?? 0, fetch);
      return { value, active: value > config.activationListLength };
    },
    close: () => lease.pooled.release(),
  };
}

export const redisListScaler: ScalerDefinition<RedisListConfig> = {
  types: ['redis', 'redis-cluster', 'redis-sentinel'],
  allowsCachedMetrics: true,
  external: true,
  parse: parseRedisList,
  create: createRedisListScaler,
};
