import { describe, expect, it } from 'vitest';
import type { ParseInput } from './definition.js';
import { ClusterReader, consumerLag, jszURL, parseNatsJetStream, type JszReply, type VarzReply } from './nats-jetstream.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

function input(metadata: Record<string, string>, extra: Partial<ParseInput> = {}): ParseInput {
  return { trigger: { type: 'nats-jetstream', metadata }, triggerIndex: 0, authParams: {}, resolvedEnv: {}, offline: false, ...extra };
}

const base = { natsServerMonitoringEndpoint: 'nats.nats:8222', account: '$G', stream: 'orders', consumer: 'workers' };

function jsz(consumers: { name: string; pending: number; ackPending: number; leader?: string }[], clusterSize = 1, lastSeq = 42): JszReply {
  return {
    meta_cluster: { cluster_size: clusterSize },
    account_details: [
      {
        id: 'ACC1',
        name: '$G',
        stream_detail: [
          { name: 'other', state: { last_seq: 1 }, consumer_detail: [] },
          {
            name: 'orders',
            state: { last_seq: lastSeq },
            consumer_detail: consumers.map((c) => ({
              name: c.name,
              num_pending: c.pending,
              num_ack_pending: c.ackPending,
              cluster: { leader: c.leader ?? '' },
            })),
          },
        ],
      },
    ],
  };
}

describe('nats-jetstream metadata', () => {
  it('applies KEDA defaults', () => {
    const { config, errors } = parseNatsJetStream(input(base));
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ lagThreshold: 10, activationLagThreshold: 0, useHttps: false });
  });

  it('takes the endpoint and the account from a TriggerAuthentication first', () => {
    const { config, errors } = parseNatsJetStream(
      input({ stream: 's', consumer: 'c', account: 'meta' }, { authParams: { natsServerMonitoringEndpoint: 'secret:8222', account: 'auth' } }),
    );
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ natsServerMonitoringEndpoint: 'secret:8222', account: 'auth', endpointFrom: 'authParams' });
  });

  it.each([
    [{ ...base, account: '' }, 'no account name or id given'],
    [{ ...base, stream: '' }, 'missing required parameter "stream" in [triggerMetadata]'],
    [{ ...base, natsServerMonitoringEndpoint: '' }, 'missing required parameter "natsServerMonitoringEndpoint" in [authParams triggerMetadata]'],
    [{ ...base, lagThreshold: '1.5' }, 'unable to set param "lagThreshold" value "1.5": not an integer'],
    [{ ...base, useHttps: 'maybe' }, 'unable to set param "useHttps" value "maybe": not a boolean'],
  ])('rejects %j', (metadata, problem) => {
    expect(parseNatsJetStream(input(metadata)).errors).toEqual([`error parsing NATS JetStream metadata: ${problem}`]);
  });

  it('asks /jsz for the account by id, else by name, with consumers and config', () => {
    expect(jszURL({ ...base, useHttps: false }).href).toBe('http://nats.nats:8222/jsz?acc=%24G&consumers=true&config=true');
    expect(jszURL({ ...base, accountID: 'ACC1', useHttps: true }).href).toBe('https://nats.nats:8222/jsz?acc=ACC1&consumers=true&config=true');
  });

  it('names the metric nats-jetstream-<stream>', () => {
    const scaler = createScaler(contextFor({ type: 'nats-jetstream', metadata: { ...base, lagThreshold: '25' } }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-nats-jetstream-orders', targetType: 'AverageValue', target: 25 }]);
    void scaler.close();
    expect(
      validateTriggerMetadata({ type: 'nats-jetstream', metadata: { stream: 's', consumer: 'c' }, authenticationRef: { name: 'nats' } }, { offline: true }),
    ).toEqual([]);
  });
});

describe('nats-jetstream lag', () => {
  it.each([
    ['pending plus unacknowledged of the consumer', [{ name: 'workers', pending: 7, ackPending: 3 }], 10],
    ['the stream last sequence when the consumer is missing', [{ name: 'others', pending: 1, ackPending: 0 }], 42],
  ])('is %s', (_title, consumers, lag) => {
    expect(consumerLag(jsz(consumers), { ...base })).toBe(lag);
  });

  it('matches the account by id as well as by name, and fails for a missing stream', () => {
    expect(consumerLag(jsz([{ name: 'workers', pending: 2, ackPending: 0 }]), { ...base, account: undefined, accountID: 'ACC1' })).toBe(2);
    expect(() => consumerLag(jsz([]), { ...base, stream: 'missing' })).toThrow('NATS JetStream stream "missing" not found in account "$G"');
  });
});

describe('nats-jetstream in a cluster', () => {
  /** Three nodes a, b, c advertising their client URLs; `leader` leads the consumer and alone has fresh figures. */
  function cluster(leader: string, requests: string[]) {
    const nodes = ['a', 'b', 'c'];
    return (url: URL): Promise<unknown> => {
      requests.push(url.host + url.pathname);
      const node = url.hostname === 'nats.nats' ? 'a' : url.hostname;
      if (url.pathname === '/varz') return Promise.resolve({ server_name: node, connect_urls: nodes.map((n) => `${n}:4222`) } satisfies VarzReply);
      return Promise.resolve(jsz([{ name: 'workers', pending: node === leader ? 9 : 1, ackPending: 0, leader }], 3));
    };
  }

  it('finds the consumer leader, reads its figures, and asks it first next time', async () => {
    const requests: string[] = [];
    const reader = new ClusterReader({ ...base, lagThreshold: 10, activationLagThreshold: 0, useHttps: false });
    await expect(reader.lag(cluster('c', requests))).resolves.toBe(9);
    expect(requests).toEqual([
      'nats.nats:8222/jsz',
      'nats.nats:8222/varz',
      'a:8222/varz',
      'a:8222/jsz',
      'b:8222/varz',
      'b:8222/jsz',
      'c:8222/varz',
      'c:8222/jsz',
    ]);
    requests.length = 0;
    await expect(reader.lag(cluster('c', requests))).resolves.toBe(9);
    expect(requests).toEqual(['c:8222/jsz']);
  });

  it('looks again when the leader moved, and fails when no node leads the consumer', async () => {
    const requests: string[] = [];
    const reader = new ClusterReader({ ...base, lagThreshold: 10, activationLagThreshold: 0, useHttps: false });
    await reader.lag(cluster('c', requests));
    await expect(reader.lag(cluster('b', requests))).resolves.toBe(9);
    await expect(reader.lag(cluster('z', requests))).rejects.toThrow('leader node not found for consumer workers');
  });
});
