import { connect, type ChannelModel, type Channel, type Options } from 'amqplib';
import type { ParseInput, ParseResult } from './definition.js';
import { metadataInput, podIdentityOf, prefixed } from './definition.js';
import { HttpAgentHandle, httpGet } from './http-get.js';
import { checkRules, field, parseMetadata, type MetadataOf, type Rule, type Source } from './metadata.js';
import { ScalerReadError, type MetricReading, type ScalerDeps } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { pooledSource, singleMetricScaler, type MetricSource } from './single-metric.js';
import { sourceLabel } from './source-errors.js';

export const rabbitModes = ['QueueLength', 'MessageRate', 'DeliverGetRate', 'PublishedToDeliveredRatio', 'ExpectedQueueConsumptionTime'] as const;
export type RabbitMode = (typeof rabbitModes)[number];
const httpOnlyModes: readonly RabbitMode[] = ['MessageRate', 'DeliverGetRate', 'PublishedToDeliveredRatio', 'ExpectedQueueConsumptionTime'];
const operations = ['sum', 'avg', 'max'] as const;
/** KEDA's target when a trigger names neither mode, value nor queueLength. */
const defaultQueueLength = 20;

const schema = {
  queueName: field.string(),
  mode: field.string({ default: 'Unknown' }),
  queueLength: field.float({ optional: true }),
  value: field.float({ optional: true }),
  activationValue: field.float({ default: 0 }),
  // Not marked secret so checks may read it; a host is never echoed (only its scheme), as it may carry a password.
  host: field.string({ from: ['triggerMetadata', 'authParams', 'resolvedEnv'] }),
  protocol: field.string({ from: ['triggerMetadata', 'authParams'], default: 'auto' }),
  vhostName: field.string({ from: ['triggerMetadata', 'authParams'], optional: true }),
  useRegex: field.bool({ default: false }),
  excludeUnacknowledged: field.bool({ default: false }),
  pageSize: field.int({ default: 100 }),
  operation: field.oneOf(operations, { default: 'sum' }),
  timeout: field.duration({ optional: true }),
  username: field.string({ from: ['authParams', 'resolvedEnv'], optional: true }),
  password: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
  ca: field.string({ from: ['authParams'], optional: true, secret: true }),
  cert: field.string({ from: ['authParams'], optional: true, secret: true }),
  key: field.string({ from: ['authParams'], optional: true, secret: true }),
  keyPassword: field.string({ from: ['authParams'], optional: true, secret: true }),
  tls: field.string({ from: ['authParams'], default: 'disable' }),
  unsafeSsl: field.bool({ default: false }),
  workloadIdentityResource: field.string({ from: ['authParams'], optional: true }),
  oauthTokenURI: field.string({ from: ['authParams'], optional: true }),
};

type RabbitMetadata = MetadataOf<typeof schema>;

export interface RabbitMqConfig extends Omit<RabbitMetadata, 'mode' | 'value'> {
  mode: RabbitMode;
  /** The target per replica, after KEDA's defaults and the deprecated queueLength. */
  value: number;
  /** The protocol in use: `protocol`, or with `auto` the host's scheme. */
  transport: 'amqp' | 'http';
  hostFrom?: Source;
}

/** `auto` follows the host's scheme, as KEDA does; undefined when the scheme fits neither protocol. */
export function resolveProtocol(protocol: string, host: string): 'amqp' | 'http' | undefined {
  if (protocol === 'amqp' || protocol === 'http') return protocol;
  const scheme = URL.canParse(host) ? new URL(host).protocol : '';
  if (scheme === 'amqp:' || scheme === 'amqps:') return 'amqp';
  if (scheme === 'http:' || scheme === 'https:') return 'http';
  return undefined;
}

/** KEDA's mode/value/queueLength reconciliation: a value of 0 counts as not given. */
export function modeAndValue(m: Pick<RabbitMetadata, 'mode' | 'value' | 'queueLength'>): { mode: RabbitMode; value: number } | string {
  const queueLength = m.queueLength ?? 0;
  const value = m.value ?? 0;
  if (queueLength === 0 && m.mode === 'Unknown' && value === 0) return { mode: 'QueueLength', value: defaultQueueLength };
  if (queueLength !== 0 && (m.mode !== 'Unknown' || value !== 0)) return 'queueLength is deprecated; use mode and value';
  if (queueLength !== 0) return { mode: 'QueueLength', value: queueLength };
  if (m.mode === 'Unknown') return 'mode must be specified';
  if (value === 0) return 'value must be specified';
  const mode = rabbitModes.find((known) => known === m.mode);
  if (mode === undefined) return `trigger mode ${m.mode} must be one of ${rabbitModes.slice(0, -1).join(', ')} or ${rabbitModes.at(-1) ?? ''}`;
  return { mode, value };
}

/** A value is shown in an error only when the user wrote it in the trigger; a TriggerAuthentication's may be a Secret's. */
function shown(value: string, from: Source | undefined): string {
  return from === undefined || from === 'triggerMetadata' ? value : '<redacted>';
}

function rules(offlineProtocol: boolean, origins: Partial<Record<keyof RabbitMetadata, Source>>): Rule<RabbitMetadata>[] {
  const protocolOf = (m: RabbitMetadata) => resolveProtocol(m.protocol, m.host);
  const httpOnly = (flag: 'useRegex' | 'excludeUnacknowledged'): Rule<RabbitMetadata> => ({
    fields: [flag, 'protocol', 'host'],
    check: (m) => (m[flag] && protocolOf(m) !== 'http' ? `configure ${flag}=true only with HTTP protocol` : undefined),
  });
  const always: Rule<RabbitMetadata>[] = [
    {
      fields: ['protocol'],
      check: (m) =>
        ['amqp', 'http', 'auto'].includes(m.protocol)
          ? undefined
          : `the protocol has to be either \`amqp\`, \`http\`, or \`auto\` but is \`${shown(m.protocol, origins.protocol)}\``,
    },
    { fields: ['tls'], check: (m) => (m.tls === 'enable' || m.tls === 'disable' ? undefined : `incorrect value for TLS given: ${shown(m.tls, origins.tls)}`) },
    { fields: ['cert', 'key'], check: (m) => ((m.cert === undefined) !== (m.key === undefined) ? 'both key and certificate must be provided' : undefined) },
    { fields: ['pageSize'], check: (m) => (m.pageSize < 1 ? 'pageSize should be 1 or greater' : undefined) },
    {
      fields: ['username', 'password'],
      check: (m) => ((m.username === undefined) !== (m.password === undefined) ? 'username and password must be given together' : undefined),
    },
    {
      fields: ['mode', 'value', 'queueLength'],
      check: (m) => {
        const r = modeAndValue(m);
        return typeof r === 'string' ? r : undefined;
      },
    },
    {
      fields: ['workloadIdentityResource', 'oauthTokenURI'],
      check: (m) =>
        m.workloadIdentityResource !== undefined || m.oauthTokenURI !== undefined
          ? 'Azure AD workload identity and OAuth2 are not supported for rabbitmq by swell'
          : undefined,
    },
  ];
  if (offlineProtocol) return always;
  return [
    ...always,
    {
      fields: ['protocol', 'host'],
      check: (m) =>
        m.protocol === 'auto' && protocolOf(m) === undefined
          ? `unknown host URL scheme: \`${URL.canParse(m.host) ? new URL(m.host).protocol.replace(/:$/, '') : ''}\``
          : undefined,
    },
    httpOnly('useRegex'),
    httpOnly('excludeUnacknowledged'),
    {
      fields: ['mode', 'value', 'queueLength', 'protocol', 'host'],
      check: (m) => {
        const resolved = modeAndValue(m);
        const protocol = protocolOf(m);
        if (typeof resolved === 'string' || protocol === undefined) return undefined;
        return httpOnlyModes.includes(resolved.mode) && protocol !== 'http'
          ? `protocol ${protocol} not supported; must be HTTP to use trigger mode ${resolved.mode}`
          : undefined;
      },
    },
    {
      fields: ['timeout', 'protocol', 'host'],
      check: (m) => (protocolOf(m) === 'amqp' && m.timeout !== undefined && m.timeout !== 0 ? "AMQP protocol doesn't support custom timeouts" : undefined),
    },
  ];
}

export function parseRabbitMq(input: ParseInput): ParseResult<RabbitMqConfig> {
  const parsed = parseMetadata(schema, metadataInput(input));
  const podIdentity = podIdentityOf(input).provider;
  const errors = [
    ...parsed.errors,
    ...checkRules(parsed, rules(parsed.unresolved.has('host') && parsed.values.protocol === 'auto', parsed.origins)),
    ...(podIdentity !== undefined ? [`podIdentity provider "${podIdentity}" is not supported for rabbitmq by swell`] : []),
  ];
  const resolved = modeAndValue(parsed.values);
  const { mode, value } = typeof resolved === 'string' ? { mode: 'QueueLength' as const, value: defaultQueueLength } : resolved;
  const config: RabbitMqConfig = {
    ...parsed.values,
    mode,
    value,
    transport: resolveProtocol(parsed.values.protocol, parsed.values.host ?? '') ?? 'amqp',
    ...(parsed.origins.host ? { hostFrom: parsed.origins.host } : {}),
  };
  return { config, errors: prefixed('error parsing RabbitMQ metadata', errors) };
}

/** What one queue (or the queues a regex matched) looked like at the management API. */
export interface QueueStats {
  messages: number;
  messagesReady: number;
  publishRate: number;
  deliverGetRate: number;
}

/** Go's url.QueryEscape: unreserved characters stay, a space is '+', everything else %XX. */
export function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** KEDA's split of the host's path: the last segment is the vhost (overridden by vhostName), the rest a path prefix. */
export function vhostAndPath(rawPath: string, vhostName: string | undefined): { vhost: string; path: string } {
  const parts = rawPath.split('/');
  let vhost = `/${parts.at(-1) ?? ''}`;
  const prefix = parts
    .slice(0, -1)
    .filter((p) => p !== '')
    .join('/');
  if (vhostName !== undefined) vhost = `/${queryEscape(vhostName)}`;
  if (vhost === '/') vhost = '/%2F';
  return { vhost, path: prefix ? `/${prefix}` : '' };
}

/** The management API URL for the queue (or the regex search), without credentials. */
export function managementURL(c: Pick<RabbitMqConfig, 'host' | 'vhostName' | 'queueName' | 'useRegex' | 'pageSize'>): URL {
  const host = new URL(c.host);
  const { vhost, path } = vhostAndPath(host.pathname, c.vhostName);
  const base = `${host.protocol}//${host.host}${path}/api/queues${vhost}`;
  if (c.useRegex) return new URL(`${base}?page=1&use_regex=true&pagination=false&name=${queryEscape(c.queueName)}&page_size=${c.pageSize}`);
  return new URL(`${base}/${queryEscape(c.queueName)}`);
}

interface QueueReply {
  messages?: unknown;
  messages_ready?: unknown;
  message_stats?: { publish_details?: { rate?: unknown }; deliver_get_details?: { rate?: unknown } };
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/**
 * A queue the management API has no statistics for yet (they follow the broker by a few seconds) carries no
 * counts; reading that as an empty queue could scale a busy worker to zero, so it is a failed read instead.
 */
function statsOf(q: QueueReply, queueName: string): QueueStats {
  if (typeof q.messages !== 'number') throw new ScalerReadError(`RabbitMQ has no statistics for queue ${JSON.stringify(queueName)} yet`);
  return {
    messages: numberOr0(q.messages),
    messagesReady: numberOr0(q.messages_ready),
    publishRate: numberOr0(q.message_stats?.publish_details?.rate),
    deliverGetRate: numberOr0(q.message_stats?.deliver_get_details?.rate),
  };
}

/** The queues of one management API reply: the one queue asked for, or the page of a regex search. */
export function parseManagementReply(status: number, body: string, c: Pick<RabbitMqConfig, 'queueName' | 'useRegex'>): QueueStats[] {
  if (status !== 200) throw new ScalerReadError(`RabbitMQ management API answered ${status} for queue ${JSON.stringify(c.queueName)}`);
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    throw new ScalerReadError(`RabbitMQ management API sent a body that is not JSON for queue ${JSON.stringify(c.queueName)}`);
  }
  if (!c.useRegex) return [statsOf(reply as QueueReply, c.queueName)];
  const page = reply as { items?: unknown; page_count?: unknown };
  if (numberOr0(page.page_count) > 1) throw new ScalerReadError('regex matches more queues than can be recovered at once');
  return Array.isArray(page.items) ? (page.items as (QueueReply & { name?: unknown })[]).map((q) => statsOf(q, String(q.name))) : [];
}

/** KEDA's composed queue for regex matches: sum, average (whole messages) or maximum of each figure. */
export function composeQueues(queues: readonly QueueStats[], operation: (typeof operations)[number]): QueueStats {
  const empty: QueueStats = { messages: 0, messagesReady: 0, publishRate: 0, deliverGetRate: 0 };
  if (queues.length === 0) return empty;
  const keys = Object.keys(empty) as (keyof QueueStats)[];
  const fold = (pick: (values: number[]) => number): QueueStats =>
    Object.fromEntries(keys.map((k) => [k, pick(queues.map((q) => q[k]))])) as unknown as QueueStats;
  if (operation === 'max') return fold((v) => Math.max(0, ...v));
  const sum = fold((v) => v.reduce((a, b) => a + b, 0));
  if (operation === 'sum') return sum;
  const n = queues.length;
  return {
    messages: Math.trunc(sum.messages / n),
    messagesReady: Math.trunc(sum.messagesReady / n),
    publishRate: sum.publishRate / n,
    deliverGetRate: sum.deliverGetRate / n,
  };
}

/** The metric value and activity for each mode, as KEDA computes them. */
export function rabbitReading(stats: QueueStats, c: Pick<RabbitMqConfig, 'mode' | 'activationValue' | 'excludeUnacknowledged'>): MetricReading {
  const messages = c.excludeUnacknowledged ? stats.messagesReady : stats.messages;
  const { publishRate: publish, deliverGetRate: deliver } = stats;
  const act = c.activationValue;
  switch (c.mode) {
    case 'QueueLength':
      return { value: messages, active: messages > act };
    case 'MessageRate':
      return { value: publish, active: publish > act || messages > act };
    case 'DeliverGetRate':
      return { value: deliver, active: deliver > act };
    case 'PublishedToDeliveredRatio': {
      const ratio = publish > 0 && deliver === 0 ? act : publish > 0 && deliver > 0 ? publish / deliver : 0;
      return { value: ratio, active: ratio > act || (publish > 0 && deliver === 0) };
    }
    case 'ExpectedQueueConsumptionTime': {
      const eta = deliver === 0 ? act : (publish - deliver) / deliver + messages / deliver;
      return { value: eta, active: eta > act || deliver === 0 };
    }
  }
}

/** AMQP connection settings from the host URI, with vhostName and username/password overriding it as in KEDA. */
export function amqpConnectOptions(c: Pick<RabbitMqConfig, 'host' | 'vhostName' | 'username' | 'password'>): Options.Connect {
  const url = new URL(c.host);
  const secure = url.protocol === 'amqps:';
  const pathVhost = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : '/';
  return {
    protocol: secure ? 'amqps' : 'amqp',
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 5671 : 5672,
    username: c.username ?? (decodeURIComponent(url.username) || 'guest'),
    password: c.password ?? (decodeURIComponent(url.password) || 'guest'),
    vhost: c.vhostName ?? pathVhost,
    heartbeat: 30,
  };
}

/**
 * One AMQP connection per broker, vhost and account, opened on first use, with one channel for the passive
 * queue checks. A check of a missing queue makes the broker close the channel, and a dropped connection takes
 * it along: both are reopened on the next check.
 */
export class AmqpHandle {
  #model: Promise<ChannelModel> | undefined;
  #channel: Promise<Channel> | undefined;
  #lastError: unknown;
  #closed = false;

  constructor(
    private readonly options: Options.Connect,
    private readonly socket: Record<string, unknown>,
  ) {}

  async messageCount(queue: string): Promise<number> {
    const channel = await this.channel();
    try {
      return (await channel.checkQueue(queue)).messageCount;
    } catch (error) {
      if ((error as { code?: unknown }).code === 404)
        throw new ScalerReadError(`RabbitMQ queue ${JSON.stringify(queue)} does not exist in vhost ${JSON.stringify(this.options.vhost)}`);
      throw error;
    }
  }

  connectionError(): unknown {
    return this.#lastError;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const model = this.#model;
    this.#model = undefined;
    this.#channel = undefined;
    await model?.then((m) => m.close()).catch(() => undefined);
  }

  private channel(): Promise<Channel> {
    if (this.#closed) return Promise.reject(new ScalerReadError('the RabbitMQ connection was closed'));
    this.#channel ??= this.model().then(async (model) => {
      const channel = await model.createChannel();
      channel.on('error', (err: unknown) => (this.#lastError = err));
      channel.on('close', () => (this.#channel = undefined));
      return channel;
    });
    this.#channel.catch(() => (this.#channel = undefined));
    return this.#channel;
  }

  private model(): Promise<ChannelModel> {
    this.#model ??= connect(this.options, this.socket).then((model) => {
      model.on('error', (err: unknown) => (this.#lastError = err));
      model.on('close', () => {
        this.#model = undefined;
        this.#channel = undefined;
      });
      this.#lastError = undefined;
      return model;
    });
    this.#model.catch((err: unknown) => {
      this.#lastError = err;
      this.#model = undefined;
    });
    return this.#model;
  }
}

function tlsSocketOptions(c: RabbitMqConfig): Record<string, unknown> {
  if (c.tls !== 'enable') return {};
  return {
    rejectUnauthorized: !c.unsafeSsl,
    ...(c.ca !== undefined ? { ca: [c.ca] } : {}),
    ...(c.cert !== undefined ? { cert: c.cert } : {}),
    ...(c.key !== undefined ? { key: c.key } : {}),
    ...(c.keyPassword !== undefined ? { passphrase: c.keyPassword } : {}),
  };
}

/** Where the broker is, for errors and logs: its address only when the user wrote it in the trigger, never credentials. */
function brokerLabel(c: RabbitMqConfig): string {
  const url = new URL(c.host);
  return sourceLabel('RabbitMQ', `${url.protocol}//${url.host}`, c.hostFrom);
}

/** The queue (or the queues a regex matched) through the management API, one GET per read. */
function httpSource(config: RabbitMqConfig, deps: ScalerDeps): MetricSource<QueueStats[]> {
  const host = new URL(config.host);
  const username = config.username ?? decodeURIComponent(host.username);
  const password = config.password ?? decodeURIComponent(host.password);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (username !== '' || password !== '') headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const tls = tlsSocketOptions(config);
  const agentKey = sourceKey('http', { origin: host.origin, unsafeSsl: config.unsafeSsl }, tls);
  const lease = deps.connections.acquire(
    agentKey,
    brokerLabel(config),
    () => new HttpAgentHandle(host.protocol === 'https:', { rejectUnauthorized: !config.unsafeSsl, ...tls }),
    [config.host, password],
  );
  const url = managementURL(config);
  return pooledSource(lease, sourceKey('rabbitmq-http', { agentKey, url: url.href }, headers), async (handle, signal) => {
    const reply = await httpGet(url, { agent: handle.agent, headers, signal });
    return parseManagementReply(reply.status, reply.body, config);
  });
}

/** The queue's ready messages through a passive declare on a pooled AMQP connection. */
function amqpSource(config: RabbitMqConfig, deps: ScalerDeps, timeoutMs: number): MetricSource<QueueStats[]> {
  const options = amqpConnectOptions(config);
  const socket = { timeout: timeoutMs, clientProperties: { connection_name: 'swell' }, ...tlsSocketOptions(config) };
  const { password, ...shown } = options;
  const connectionKey = sourceKey('amqp', shown, { password, socket });
  const lease = deps.connections.acquire(connectionKey, brokerLabel(config), () => new AmqpHandle(options, socket), [config.host, password ?? '']);
  return pooledSource(lease, `${connectionKey}|queue|${config.queueName}`, async (handle) => [
    { messages: await handle.messageCount(config.queueName), messagesReady: 0, publishRate: 0, deliverGetRate: 0 },
  ]);
}

export const rabbitMqScaler = singleMetricScaler<RabbitMqConfig, QueueStats[]>({
  types: ['rabbitmq'],
  schema,
  example: {
    metadata: { queueName: 'jobs', mode: 'QueueLength', value: '5' },
    authParams: { host: 'http://127.0.0.1:1/', username: 'scaler', password: 'pw' },
  },
  parse: parseRabbitMq,
  metricName: (config) => `rabbitmq-${queryEscape(config.queueName)}`,
  target: (config) => config.value,
  timeoutMs: (config) => config.timeout,
  source: (config, deps, timeoutMs) => (config.transport === 'http' ? httpSource(config, deps) : amqpSource(config, deps, timeoutMs)),
  interpreter: (config) => (queues) => rabbitReading(composeQueues(queues, config.operation), config),
});
