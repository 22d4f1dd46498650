import { describe, expect, it } from 'vitest';
import type { ParseInput } from './definition.js';
import { redisAddresses } from './redis-connection.js';
import { groupLag, parseRedisStreams, redisMajorVersion, streamModeOf } from './redis-streams.js';
import { parseRedisList } from './redis.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

function input(type: string, metadata: Record<string, string>, extra: Partial<ParseInput> = {}): ParseInput {
  return { trigger: { type, metadata }, triggerIndex: 0, authParams: {}, resolvedEnv: {}, offline: false, ...extra };
}

describe('redis list metadata', () => {
  it('applies KEDA defaults', () => {
    const { config, errors } = parseRedisList(input('redis', { address: 'r:6379', listName: 'jobs' }));
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ listLength: 5, activationListLength: 0, databaseIndex: 0, unsafeSsl: false, flavour: 'standalone' });
  });

  it.each([
    ['redis', 'standalone'],
    ['redis-cluster', 'cluster'],
    ['redis-sentinel', 'sentinel'],
  ])('%s connects as %s', (type, flavour) => {
    const metadata = { addresses: 'a:1,b:2', listName: 'l', sentinelMaster: 'mymaster' };
    expect(parseRedisList(input(type, metadata)).config.flavour).toBe(flavour);
  });

  it('takes address, host/port and password from metadata, env or auth', () => {
    const env = parseRedisList(input('redis', { listName: 'l', addressFromEnv: 'ADDR', passwordFromEnv: 'PW' }, { resolvedEnv: { ADDR: 'r:1', PW: 'pw' } }));
    expect(env.config).toMatchObject({ address: ['r:1'], password: 'pw' });
    const auth = parseRedisList(input('redis', { listName: 'l' }, { authParams: { host: 'h', port: '7000', password: 'pw' } }));
    expect(auth.errors).toEqual([]);
    expect(redisAddresses(auth.config)).toEqual(['h:7000']);
  });

  it('joins addresses and host:port pairs in KEDA order', () => {
    expect(redisAddresses({ address: ['a:1'], host: ['h1', 'h2'], port: ['2', '3'] })).toEqual(['a:1', 'h1:2', 'h2:3']);
  });

  it.each([
    ['redis', { address: 'r:1' }, 'missing required parameter "listName" in [triggerMetadata]'],
    ['redis', { listName: 'l' }, 'no addresses or hosts given. address should be a comma separated list of host:port or set the host/port values'],
    ['redis', { listName: 'l', hosts: 'a,b', ports: '1' }, 'not enough hosts or ports given. number of hosts should be equal to the number of ports'],
    ['redis', { listName: 'l', address: 'r:1', listLength: '5x' }, 'unable to set param "listLength" value "5x": not an integer'],
    ['redis', { listName: 'l', address: 'r:1', enableTLS: 'yes' }, 'unable to set param "enableTLS" value "yes": not a boolean'],
    ['redis-sentinel', { listName: 'l', addresses: 's:26379' }, 'missing required parameter "sentinelMaster" for redis-sentinel'],
  ])('%s rejects %j', (type, metadata, problem) => {
    expect(parseRedisList(input(type, metadata)).errors).toEqual([`error parsing redis metadata: ${problem}`]);
  });

  it('refuses tls in both the trigger and the authentication', () => {
    const { errors } = parseRedisList(input('redis', { listName: 'l', address: 'r:1', enableTLS: 'true' }, { authParams: { tls: 'enable' } }));
    expect(errors).toEqual(['error parsing redis metadata: unable to set `tls` in both ScaledObject and TriggerAuthentication together']);
    const bad = parseRedisList(input('redis', { listName: 'l', address: 'r:1' }, { authParams: { tls: 'on' } }));
    expect(bad.errors).toEqual(['error parsing redis metadata: unable to set param "tls" value "<redacted>": error incorrect TLS value given, got <redacted>']);
  });

  it('offline, an address from an authenticationRef counts as present', () => {
    const trigger = { type: 'redis', metadata: { listName: 'l' }, authenticationRef: { name: 'redis-auth' } };
    expect(validateTriggerMetadata(trigger, { offline: true })).toEqual([]);
    expect(validateTriggerMetadata(trigger)).toHaveLength(1);
  });

  it('names the metric redis-<list> for every flavour', () => {
    for (const type of ['redis', 'redis-cluster']) {
      const scaler = createScaler(contextFor({ type, metadata: { address: 'r:1', listName: 'queue:high', listLength: '20' } }), testDeps());
      expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-redis-queue-high', targetType: 'AverageValue', target: 20 }]);
      void scaler.close();
    }
  });
});

describe('redis streams metadata', () => {
  it.each([
    [{}, 'length', 5],
    [{ streamLength: '12' }, 'length', 12],
    [{ consumerGroup: 'g' }, 'pending', 5],
    [{ consumerGroup: 'g', pendingEntriesCount: '9' }, 'pending', 9],
    [{ consumerGroup: 'g', lagCount: '0' }, 'pending', 5],
    [{ consumerGroup: 'g', lagCount: '7' }, 'lag', 7],
    [{ lagCount: '7' }, 'length', 5],
  ])('%j → %s mode with target %i', (extra, mode, target) => {
    const { config, errors } = parseRedisStreams(input('redis-streams', { address: 'r:1', stream: 's', ...extra }));
    expect(errors).toEqual([]);
    expect(config.mode).toBe(mode);
    expect(config.target).toBe(target);
    expect(streamModeOf(config)).toBe(mode);
  });

  it('reports a missing stream the way KEDA does', () => {
    expect(parseRedisStreams(input('redis-streams', { address: 'r:1' })).errors).toEqual([
      'error parsing redis streams metadata: missing required parameter "stream" in [triggerMetadata]',
      'error parsing redis streams metadata: missing redis stream name',
    ]);
  });

  it('names the metric redis-streams-<stream>', () => {
    const scaler = createScaler(contextFor({ type: 'redis-cluster-streams', metadata: { addresses: 'r:1', stream: 'events.v2' } }), testDeps());
    expect(scaler.metricSpecs[0]).toMatchObject({ metricName: 's0-redis-streams-events-v2', target: 5 });
    return scaler.close();
  });
});

describe('stream replies', () => {
  const groups = [
    ['name', 'other', 'consumers', 1, 'pending', 0, 'last-delivered-id', '0-0', 'entries-read', 0, 'lag', 3],
    ['name', 'workers', 'consumers', 2, 'pending', 4, 'last-delivered-id', '1-0', 'entries-read', 5, 'lag', 11],
    ['name', 'stale', 'lag', null],
  ];
  it.each([
    ['workers', 11],
    ['other', 3],
    ['stale', null],
    ['missing', undefined],
  ])('lag of group %s is %s', (group, lag) => expect(groupLag(groups, group)).toBe(lag));
  it.each([
    ['# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n', 7],
    ['redis_version:6.2.1\r\n', 6],
    ['nothing', 0],
  ])('version of %j is %i', (info, major) => expect(redisMajorVersion(info)).toBe(major));
});
