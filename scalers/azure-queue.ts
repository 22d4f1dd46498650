import { QueueServiceClient, RestError, type QueueClient } from '@azure/storage-queue';
import { podIdentityOf } from './definition.js';
import { field, positiveTarget, type MetadataOf, type Rule, type Source } from './metadata.js';
import { ScalerReadError } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { sourceLabel } from './source-errors.js';
import { pooledSource, schemaParser, singleMetricScaler } from './single-metric.js';

/** KEDA peeks at most this many messages when counting only the visible ones. */
export const maxPeekMessages = 32;

const strategies = ['all', 'visibleonly'] as const;
type Strategy = (typeof strategies)[number];

function parseStrategy(raw: string): Strategy {
  const strategy = strategies.find((s) => s === raw.toLowerCase());
  if (strategy === undefined) throw new Error(`invalid queueLengthStrategy ${raw} given`);
  return strategy;
}

const schema = {
  queueName: field.string({ optional: true }),
  queueLength: field.int({ default: 5 }),
  activationQueueLength: field.int({ default: 0 }),
  queueLengthStrategy: field.custom(parseStrategy, { default: 'all' as Strategy }),
  connection: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
  accountName: field.string({ optional: true }),
  cloud: field.string({ optional: true }),
  endpointSuffix: field.string({ optional: true }),
};

type AzureQueueMetadata = MetadataOf<typeof schema>;
export interface AzureQueueConfig extends AzureQueueMetadata {
  queueName: string;
  connectionFrom?: Source;
}

function podIdentityRules(provider: string | undefined): Rule<AzureQueueMetadata>[] {
  if (provider === undefined) {
    return [{ fields: ['connection'], check: (m) => (m.connection === undefined ? 'no connection setting given' : undefined) }];
  }
  if (provider === 'azure-workload') {
    return [
      {
        fields: ['accountName'],
        check: (m) =>
          m.accountName === undefined
            ? 'no accountName given'
            : 'podIdentity provider "azure-workload" is not supported for azure-queue by swell; use a connection string',
      },
    ];
  }
  return [{ fields: [], check: () => `pod identity ${provider} not supported for azure storage queues` }];
}

export const parseAzureQueue = schemaParser({
  schema,
  errorPrefix: 'error parsing azure queue metadata',
  rules: (input) => {
    const identity = podIdentityOf(input);
    return [
      { fields: ['queueName'], check: (m) => (m.queueName === undefined ? 'no queueName given' : undefined) },
      positiveTarget<AzureQueueMetadata>('queueLength'),
      ...(identity.known ? podIdentityRules(identity.provider) : []),
    ];
  },
  config: (parsed): AzureQueueConfig => ({
    ...parsed.values,
    queueName: parsed.values.queueName ?? '',
    ...(parsed.origins.connection ? { connectionFrom: parsed.origins.connection } : {}),
  }),
});

/**
 * The pool's handle: one service client per storage account connection string, made on first use so a
 * connection string the SDK cannot read fails the reads (without showing it), not the scaler's creation.
 */
export class QueueServiceHandle {
  #client: QueueServiceClient | undefined;
  constructor(private readonly connection: string) {}
  get client(): QueueServiceClient {
    try {
      // The pool's request timeout bounds each read; the SDK's own retries would outlast it.
      this.#client ??= QueueServiceClient.fromConnectionString(this.connection, { retryOptions: { maxTries: 1 } });
    } catch {
      throw new ScalerReadError('the Azure Storage connection string cannot be used (expected AccountName, AccountKey and an endpoint or EndpointSuffix)');
    }
    return this.#client;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * KEDA's count: the approximate number of messages (visible and invisible), or with `visibleonly` the number
 * of visible ones by peeking, unless there are at least as many as one peek returns.
 */
export async function queueMessageCount(queue: QueueClient, strategy: Strategy, signal: AbortSignal): Promise<number> {
  try {
    if (strategy === 'visibleonly') {
      const peeked = await queue.peekMessages({ numberOfMessages: maxPeekMessages, abortSignal: signal });
      if (peeked.peekedMessageItems.length < maxPeekMessages) return peeked.peekedMessageItems.length;
    }
    const properties = await queue.getProperties({ abortSignal: signal });
    return properties.approximateMessagesCount ?? 0;
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) throw new ScalerReadError(`Azure Storage queue ${JSON.stringify(queue.name)} does not exist`);
    throw error;
  }
}

export const azureQueueScaler = singleMetricScaler<AzureQueueConfig, number>({
  types: ['azure-queue'],
  schema,
  example: {
    metadata: { queueName: 'jobs' },
    authParams: { connection: 'DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:1/acct;' },
  },
  parse: parseAzureQueue,
  metricName: (config) => `azure-queue-${config.queueName}`,
  target: (config) => config.queueLength,
  source: (config, deps) => {
    const connection = config.connection ?? '';
    const account = sourceKey('azure-queue', {}, { connection });
    const label = sourceLabel('Azure Storage', '', config.connectionFrom ?? 'authParams');
    const lease = deps.connections.acquire(account, label, () => new QueueServiceHandle(connection), [connection]);
    return pooledSource(lease, `${account}|${config.queueLengthStrategy}|${config.queueName}`, (handle, signal) =>
      queueMessageCount(handle.client.getQueueClient(config.queueName), config.queueLengthStrategy, signal),
    );
  },
  value: (count) => count,
  activation: (config) => config.activationQueueLength,
});
