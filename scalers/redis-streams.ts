import type { Cluster, Redis } from 'ioredis';
import { metricTargetProblem } from '../src/kube/quantity.js';
import type { ParseInput, ParseResult } from './definition.js';
import { metadataInput, prefixed } from './definition.js';
import { checkRules, field, parseMetadata, type MetadataOf, type Rule } from './metadata.js';
import { acquireRedis, redisAddressOrigin, redisConnectionRules, redisConnectionSchema, redisFlavourOf, type RedisFlavour } from './redis-connection.js';
import { ScalerReadError } from './scaler.js';
import { pooledSource, singleMetricScaler } from './single-metric.js';

const schema = {
  ...redisConnectionSchema,
  stream: field.string(),
  consumerGroup: field.string({ optional: true }),
  pendingEntriesCount: field.int({ default: 5 }),
  streamLength: field.int({ default: 5 }),
  lagCount: field.int({ optional: true }),
  activationLagCount: field.int({ default: 0 }),
};

export type RedisStreamsMetadata = MetadataOf<typeof schema>;

/** What the scaler counts: unacknowledged entries of a group, entries in the stream, or a group's lag. */
export type StreamMode = 'pending' | 'length' | 'lag';

export interface RedisStreamsConfig extends RedisStreamsMetadata {
  flavour: RedisFlavour;
  mode: StreamMode;
  /** The HPA target for the chosen mode. */
  target: number;
}

/** KEDA picks the mode from the group and lagCount: lag with both, pending entries with a group only, else length. */
export function streamModeOf(m: Pick<RedisStreamsMetadata, 'consumerGroup' | 'lagCount'>): StreamMode {
  if (m.consumerGroup === undefined) return 'length';
  return m.lagCount !== undefined && m.lagCount !== 0 ? 'lag' : 'pending';
}

function targetOf(mode: StreamMode, m: RedisStreamsMetadata): number {
  switch (mode) {
    case 'pending':
      return m.pendingEntriesCount;
    case 'length':
      return m.streamLength;
    case 'lag':
      return m.lagCount ?? 0;
  }
}

const targetNames: Record<StreamMode, string> = { pending: 'pendingEntriesCount', length: 'streamLength', lag: 'lagCount' };

/** Only the target of the mode in use reaches the HPA. */
const modeTargetRule: Rule<RedisStreamsMetadata> = {
  fields: ['consumerGroup', 'lagCount', 'pendingEntriesCount', 'streamLength'],
  check: (m) => {
    const mode = streamModeOf(m);
    return metricTargetProblem(targetNames[mode], targetOf(mode, m));
  },
};

export function parseRedisStreams(input: ParseInput): ParseResult<RedisStreamsConfig> {
  const flavour = redisFlavourOf(input.trigger.type);
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, [...redisConnectionRules<RedisStreamsMetadata>(flavour), modeTargetRule])];
  if (parsed.unresolved.has('stream') && !input.offline) errors.push('missing redis stream name');
  const mode = streamModeOf(parsed.values);
  return {
    config: { ...parsed.values, flavour, mode, target: targetOf(mode, parsed.values), ...redisAddressOrigin(parsed) },
    errors: prefixed('error parsing redis streams metadata', errors),
  };
}

type RedisClient = Redis | Cluster;

/** XINFO GROUPS replies with a flat [name, value, name, value...] array per group. */
export function groupLag(groups: unknown, group: string): number | null | undefined {
  if (!Array.isArray(groups)) return undefined;
  for (const entry of groups) {
    if (!Array.isArray(entry)) continue;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    if (fields.get('name') !== group) continue;
    const lag = fields.get('lag');
    return lag === null || lag === undefined ? null : Number(lag);
  }
  return undefined;
}

export function redisMajorVersion(info: string): number {
  const match = /^redis_version:(\d+)/m.exec(info);
  return match ? Number(match[1]) : 0;
}

async function pendingCount(client: RedisClient, stream: string, group: string): Promise<number> {
  const reply = await client.xpending(stream, group);
  return Number(reply[0] ?? 0);
}

async function lagOf(client: RedisClient, stream: string, group: string): Promise<number> {
  const version = redisMajorVersion(await client.info('server'));
  if (version < 7) throw new ScalerReadError('redis version 7+ required for lag');
  let groups: unknown;
  try {
    groups = await client.xinfo('GROUPS', stream);
  } catch (err) {
    if (err instanceof Error && /no such key/i.test(err.message)) return 0;
    throw err;
  }
  const lag = groupLag(groups, group);
  // A group not registered yet has everything ahead of it; Redis reports no lag when it cannot tell
  // (after deletions), and the stream length is then the safe upper bound.
  if (lag === undefined || lag === null) return client.xlen(stream);
  return lag;
}

function countOf(mode: StreamMode, client: RedisClient, config: RedisStreamsConfig): Promise<number> {
  const group = config.consumerGroup ?? '';
  switch (mode) {
    case 'pending':
      return pendingCount(client, config.stream, group);
    case 'length':
      return client.xlen(config.stream);
    case 'lag':
      return lagOf(client, config.stream, group);
  }
}

export const redisStreamsScaler = singleMetricScaler<RedisStreamsConfig, number>({
  types: ['redis-streams', 'redis-cluster-streams', 'redis-sentinel-streams'],
  schema,
  example: { metadata: { address: '127.0.0.1:1', stream: 'events', consumerGroup: 'workers', sentinelMaster: 'mymaster' }, authParams: { password: 'pw' } },
  parse: parseRedisStreams,
  metricName: (config) => `redis-streams-${config.stream}`,
  target: (config) => config.target,
  source: (config, deps, timeoutMs) => {
    const lease = acquireRedis(config.flavour, config, deps, timeoutMs);
    const key = `${lease.key}|stream|${config.mode}|${config.stream}|${config.consumerGroup ?? ''}`;
    return pooledSource(lease.pooled, key, (handle) => countOf(config.mode, handle.client, config));
  },
  value: (count) => count,
  activation: (config) => config.activationLagCount,
});
