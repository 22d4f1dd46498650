import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../src/log.js';
import type { PooledConnection } from './connection-pool.js';
import { field, type MetadataOf, type ParsedMetadata, type Rule, type Source } from './metadata.js';
import type { ScalerDeps } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { describeSourceError, sourceLabel } from './source-errors.js';

/** The three ways KEDA reaches Redis; each trigger type names one. */
export type RedisFlavour = 'standalone' | 'cluster' | 'sentinel';

const everywhere = ['triggerMetadata', 'resolvedEnv', 'authParams'] as const;

function parseTlsSwitch(raw: string): 'enable' | 'disable' {
  if (raw === 'enable' || raw === 'disable') return raw;
  throw new Error(`error incorrect TLS value given, got ${raw}`);
}

/** Connection fields shared by the list and stream scalers, with KEDA's names and lookup orders. */
export const redisConnectionSchema = {
  address: field.list({ name: ['address', 'addresses'], from: ['triggerMetadata', 'authParams', 'resolvedEnv'], optional: true }),
  host: field.list({ name: ['host', 'hosts'], from: everywhere, optional: true }),
  port: field.list({ name: ['port', 'ports'], from: everywhere, optional: true }),
  username: field.string({ from: everywhere, optional: true }),
  password: field.string({ from: everywhere, optional: true, secret: true }),
  sentinelUsername: field.string({ from: ['triggerMetadata', 'authParams', 'resolvedEnv'], optional: true }),
  sentinelPassword: field.string({ from: ['triggerMetadata', 'authParams', 'resolvedEnv'], optional: true, secret: true }),
  sentinelMaster: field.string({ from: ['triggerMetadata', 'authParams', 'resolvedEnv'], optional: true }),
  databaseIndex: field.int({ default: 0 }),
  enableTLS: field.bool({ optional: true }),
  tls: field.custom(parseTlsSwitch, { from: ['authParams'], optional: true }),
  unsafeSsl: field.bool({ default: false }),
  cert: field.string({ name: ['cert', 'Cert'], from: ['authParams'], optional: true, secret: true }),
  key: field.string({ from: ['authParams'], optional: true, secret: true }),
  keyPassword: field.string({ from: ['authParams'], optional: true, secret: true }),
  ca: field.string({ from: ['authParams'], optional: true, secret: true }),
};

export type RedisConnectionMetadata = MetadataOf<typeof redisConnectionSchema> & {
  /** Where the address (or host) was found: only one from the trigger's metadata is shown in errors and logs. */
  addressFrom?: Source;
};

/** Where a parsed trigger's Redis address came from. */
export function redisAddressOrigin(parsed: Pick<ParsedMetadata<RedisConnectionMetadata>, 'origins'>): { addressFrom?: Source } {
  const from = parsed.origins.address ?? parsed.origins.host;
  return from ? { addressFrom: from } : {};
}

export function redisConnectionRules<T extends RedisConnectionMetadata>(flavour: RedisFlavour): Rule<T>[] {
  const rules: Rule<T>[] = [
    {
      fields: ['address', 'host', 'port'],
      check: (m) => {
        if ((m.host?.length ?? 0) !== (m.port?.length ?? 0)) {
          return 'not enough hosts or ports given. number of hosts should be equal to the number of ports';
        }
        return redisAddresses(m).length === 0
          ? 'no addresses or hosts given. address should be a comma separated list of host:port or set the host/port values'
          : undefined;
      },
    },
    {
      fields: ['enableTLS', 'tls'],
      check: (m) =>
        m.enableTLS !== undefined && m.tls !== undefined ? 'unable to set `tls` in both ScaledObject and TriggerAuthentication together' : undefined,
    },
  ];
  if (flavour === 'sentinel') {
    rules.push({
      fields: ['sentinelMaster'],
      check: (m) => (m.sentinelMaster === undefined ? 'missing required parameter "sentinelMaster" for redis-sentinel' : undefined),
    });
  }
  return rules;
}

/** address(es) first, then host:port pairs, as KEDA joins them. */
export function redisAddresses(m: Pick<RedisConnectionMetadata, 'address' | 'host' | 'port'>): string[] {
  const pairs = (m.host ?? []).map((h, i) => `${h}:${m.port?.[i] ?? ''}`);
  return [...(m.address ?? []), ...pairs];
}

function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return { host: address, port: 6379 };
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

function tlsOptions(m: RedisConnectionMetadata): ConnectionOptions | undefined {
  if (!(m.enableTLS === true || m.tls === 'enable')) return undefined;
  return {
    rejectUnauthorized: !m.unsafeSsl,
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    ...(m.cert !== undefined ? { cert: m.cert } : {}),
    ...(m.key !== undefined ? { key: m.key } : {}),
    ...(m.keyPassword !== undefined ? { passphrase: m.keyPassword } : {}),
  };
}

/**
 * An ioredis client (standalone, sentinel-backed or cluster) that the pool can close. ioredis reports why a
 * connection failed only as an event, and fails the command with its own retry message; the last such error
 * is kept so a failed read can say what really happened.
 */
export class RedisHandle {
  #lastError: unknown;
  constructor(readonly client: Redis | Cluster) {
    client.on('error', (err: unknown) => (this.#lastError = err));
    client.on('ready', () => (this.#lastError = undefined));
  }
  connectionError(): unknown {
    return this.#lastError;
  }
  close(): Promise<void> {
    this.client.disconnect();
    return Promise.resolve();
  }
}

function openRedis(flavour: RedisFlavour, m: RedisConnectionMetadata, timeoutMs: number, log: Logger, label: string): RedisHandle {
  const tls = tlsOptions(m);
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    ...(m.username !== undefined ? { username: m.username } : {}),
    ...(m.password !== undefined ? { password: m.password } : {}),
    ...(tls ? { tls } : {}),
  };
  const addresses = redisAddresses(m).map(hostAndPort);
  let client: Redis | Cluster;
  if (flavour === 'cluster') {
    client = new Cluster(addresses, { lazyConnect: true, redisOptions: common, clusterRetryStrategy: (n: number) => Math.min(n * 200, 2000) });
  } else if (flavour === 'sentinel') {
    client = new Redis({
      ...common,
      db: m.databaseIndex,
      sentinels: addresses,
      name: m.sentinelMaster ?? '',
      ...(m.sentinelUsername !== undefined ? { sentinelUsername: m.sentinelUsername } : {}),
      ...(m.sentinelPassword !== undefined ? { sentinelPassword: m.sentinelPassword } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    });
  } else {
    const first = addresses[0] ?? { host: '127.0.0.1', port: 6379 };
    client = new Redis({ ...common, db: m.databaseIndex, host: first.host, port: first.port });
  }
  // Without a listener ioredis reports connection errors as uncaught; reads surface them to the caller. Its
  // message carries the address, which may have come from a Secret: the label names the server instead.
  client.on('error', (err: Error) => log.debug({ err: describeSourceError(err, label, { redact: () => 'connection error' }) }, 'redis connection error'));
  return new RedisHandle(client);
}

export interface RedisLease {
  /** Identifies server and credentials; a prefix for read-coalescing keys. */
  readonly key: string;
  readonly pooled: PooledConnection<RedisHandle>;
}

/** A pooled client for this trigger's server and credentials, shared with every trigger that has the same. */
export function acquireRedis(flavour: RedisFlavour, m: RedisConnectionMetadata, deps: ScalerDeps, timeoutMs: number): RedisLease {
  const addresses = redisAddresses(m);
  const server = {
    flavour,
    addresses: flavour === 'standalone' ? addresses.slice(0, 1) : [...addresses].sort(),
    db: flavour === 'cluster' ? 0 : m.databaseIndex,
    tls: tlsOptions(m) !== undefined,
    unsafeSsl: m.unsafeSsl,
    username: m.username,
    sentinelMaster: m.sentinelMaster,
    sentinelUsername: m.sentinelUsername,
    // Shown and hidden addresses get separate connections, so an error never shows one under the other's name.
    addressShown: m.addressFrom === undefined || m.addressFrom === 'triggerMetadata',
  };
  const secrets = { password: m.password, sentinelPassword: m.sentinelPassword, ca: m.ca, cert: m.cert, key: m.key };
  const key = sourceKey('redis', server, secrets);
  const label = sourceLabel(`Redis ${flavour}`, server.addresses.join(','), m.addressFrom);
  const hidden = server.addressShown ? [] : addresses;
  return { key, pooled: deps.connections.acquire(key, label, () => openRedis(flavour, m, timeoutMs, deps.log, label), hidden) };
}

export function redisFlavourOf(type: string): RedisFlavour {
  if (type.startsWith('redis-cluster')) return 'cluster';
  if (type.startsWith('redis-sentinel')) return 'sentinel';
  return 'standalone';
}
