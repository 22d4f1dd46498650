import { HttpAgentHandle, httpGet } from './http-get.js';
import { field, positiveTarget, type MetadataOf } from './metadata.js';
import { ScalerReadError } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { sourceLabel } from './source-errors.js';
import { pooledSource, schemaParser, singleMetricScaler } from './single-metric.js';

const schema = {
  account: field.string({ from: ['authParams', 'triggerMetadata'], optional: true }),
  accountID: field.string({ from: ['authParams', 'triggerMetadata'], optional: true }),
  stream: field.string(),
  consumer: field.string(),
  lagThreshold: field.int({ default: 10 }),
  activationLagThreshold: field.int({ default: 0 }),
  useHttps: field.bool({ default: false }),
  natsServerMonitoringEndpoint: field.string({ from: ['authParams', 'triggerMetadata'] }),
};

type NatsJetStreamMetadata = MetadataOf<typeof schema>;
export type NatsJetStreamConfig = NatsJetStreamMetadata & { endpointFrom?: 'authParams' | 'triggerMetadata' | 'resolvedEnv' };

export const parseNatsJetStream = schemaParser({
  schema,
  errorPrefix: 'error parsing NATS JetStream metadata',
  rules: () => [
    { fields: ['account', 'accountID'], check: (m) => (m.account === undefined && m.accountID === undefined ? 'no account name or id given' : undefined) },
    positiveTarget<NatsJetStreamMetadata>('lagThreshold'),
  ],
  config: (parsed): NatsJetStreamConfig => ({
    ...parsed.values,
    ...(parsed.origins.natsServerMonitoringEndpoint ? { endpointFrom: parsed.origins.natsServerMonitoringEndpoint } : {}),
  }),
});

/** KEDA's monitoring URL: /jsz for the account (by id, else name), with consumers and their config. */
export function jszURL(
  config: Pick<NatsJetStreamConfig, 'useHttps' | 'natsServerMonitoringEndpoint' | 'account' | 'accountID'>,
  host = config.natsServerMonitoringEndpoint,
): URL {
  const url = new URL(`${config.useHttps ? 'https' : 'http'}://${host}/jsz`);
  url.searchParams.set('acc', config.accountID ?? config.account ?? '');
  url.searchParams.set('consumers', 'true');
  url.searchParams.set('config', 'true');
  return url;
}

interface ConsumerDetail {
  name?: string;
  num_pending?: number;
  num_ack_pending?: number;
  cluster?: { leader?: string };
}
interface StreamDetail {
  name?: string;
  state?: { last_seq?: number };
  consumer_detail?: ConsumerDetail[];
}
export interface JszReply {
  account_details?: { id?: string; name?: string; stream_detail?: StreamDetail[] }[];
  meta_cluster?: { cluster_size?: number };
}
export interface VarzReply {
  server_name?: string;
  connect_urls?: string[];
  cluster?: { urls?: string[] };
}

type Target = Pick<NatsJetStreamConfig, 'account' | 'accountID' | 'stream' | 'consumer'>;

function findStream(reply: JszReply, t: Target): StreamDetail | undefined {
  const accounts = (reply.account_details ?? []).filter(
    (a) => (t.accountID !== undefined && a.id === t.accountID) || (t.account !== undefined && a.name === t.account),
  );
  return accounts.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === t.stream);
}

function findConsumer(reply: JszReply, t: Target): ConsumerDetail | undefined {
  return findStream(reply, t)?.consumer_detail?.find((c) => c.name === t.consumer);
}

/**
 * The consumer's lag as KEDA counts it: messages not yet delivered plus delivered but unacknowledged; a stream
 * without that consumer counts its last sequence. A stream the account does not have is a failed read.
 */
export function consumerLag(reply: JszReply, t: Target): number {
  const stream = findStream(reply, t);
  if (!stream) throw new ScalerReadError(`NATS JetStream stream ${JSON.stringify(t.stream)} not found in account ${JSON.stringify(t.accountID ?? t.account)}`);
  const consumer = stream.consumer_detail?.find((c) => c.name === t.consumer);
  if (consumer) return (consumer.num_pending ?? 0) + (consumer.num_ack_pending ?? 0);
  return stream.state?.last_seq ?? 0;
}

export type GetJson = (url: URL) => Promise<unknown>;

/**
 * In a cluster only the consumer's leader has its current figures. The leader's node, once found, is asked
 * first next time; when it no longer leads (or no longer has the consumer) every node the first one knows of
 * (its advertised client URLs, else its cluster routes) is asked for its name and figures until the leader
 * is found, as KEDA does.
 */
export class ClusterReader {
  private leaderURL: URL | undefined;
  private leaderName: string | undefined;

  constructor(private readonly config: NatsJetStreamConfig) {}

  /** `get` is this read's own (its connection and abort signal); only the leader is kept between reads. */
  async lag(get: GetJson): Promise<number> {
    const first = (await get(this.leaderURL ?? jszURL(this.config))) as JszReply;
    const consumer = findConsumer(first, this.config);
    const cachedLeader = this.leaderName;
    if (cachedLeader !== undefined && consumer?.cluster?.leader === cachedLeader) return consumerLag(first, this.config);
    this.leaderURL = undefined;
    this.leaderName = undefined;
    if ((first.meta_cluster?.cluster_size ?? 0) <= 1) return consumerLag(first, this.config);
    return this.fromLeader(get);
  }

  private async fromLeader(get: GetJson): Promise<number> {
    const endpoint = this.config.natsServerMonitoringEndpoint;
    const scheme = this.config.useHttps ? 'https' : 'http';
    const varz = (await get(new URL(`${scheme}://${endpoint}/varz`))) as VarzReply;
    const port = new URL(`${scheme}://${endpoint}`).port;
    const advertised = varz.connect_urls ?? [];
    for (const clusterURL of advertised.length > 0 ? advertised : (varz.cluster?.urls ?? [])) {
      const hostname = clusterURL.split(':')[0] ?? '';
      const node = advertised.length > 0 ? hostname : (clusterURL.split('.')[0] ?? '');
      const host = advertised.length > 0 ? (port ? `${hostname}:${port}` : hostname) : `${node}.${new URL(`${scheme}://${endpoint}`).host}`;
      const name = advertised.length > 0 ? ((await get(new URL(`${scheme}://${host}/varz`))) as VarzReply).server_name : node;
      const url = jszURL(this.config, host);
      const reply = (await get(url)) as JszReply;
      const consumer = findConsumer(reply, this.config);
      if (consumer && name !== undefined && consumer.cluster?.leader === name) {
        this.leaderURL = url;
        this.leaderName = name;
        return consumerLag(reply, this.config);
      }
    }
    throw new ScalerReadError(`leader node not found for consumer ${this.config.consumer}`);
  }
}

function parseJson(status: number, body: string, what: string): unknown {
  if (status !== 200) throw new ScalerReadError(`NATS monitoring endpoint answered ${status} for ${what}`);
  try {
    return JSON.parse(body);
  } catch {
    throw new ScalerReadError(`NATS monitoring endpoint sent a body that is not JSON for ${what}`);
  }
}

export const natsJetStreamScaler = singleMetricScaler<NatsJetStreamConfig, number>({
  types: ['nats-jetstream'],
  schema,
  example: { metadata: { natsServerMonitoringEndpoint: '127.0.0.1:1', account: '$G', stream: 'jobs', consumer: 'workers' } },
  parse: parseNatsJetStream,
  metricName: (config) => `nats-jetstream-${config.stream}`,
  target: (config) => config.lagThreshold,
  source: (config, deps) => {
    const origin = jszURL(config).origin;
    const label = sourceLabel('NATS monitoring', config.natsServerMonitoringEndpoint, config.endpointFrom);
    const lease = deps.connections.acquire(sourceKey('http', { origin }), label, () => new HttpAgentHandle(config.useHttps, {}), [
      config.natsServerMonitoringEndpoint,
    ]);
    const key = sourceKey('nats-jetstream', { origin, account: config.accountID ?? config.account, stream: config.stream, consumer: config.consumer });
    const cluster = new ClusterReader(config);
    return pooledSource(lease, key, (handle, signal) =>
      cluster.lag(async (url) => {
        const reply = await httpGet(url, { agent: handle.agent, headers: { accept: 'application/json' }, signal });
        return parseJson(reply.status, reply.body, url.pathname);
      }),
    );
  },
  value: (lag) => lag,
  activation: (config) => config.activationLagThreshold,
});
