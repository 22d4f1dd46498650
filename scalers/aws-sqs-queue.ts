import { GetQueueAttributesCommand, SQSClient, type QueueAttributeName } from '@aws-sdk/client-sqs';
import type { ParseInput } from './definition.js';
import { podIdentityOf } from './definition.js';
import { field, positiveTarget, type MetadataOf, type Rule } from './metadata.js';
import { ScalerReadError, type ScalerDeps } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { pooledSource, schemaParser, singleMetricScaler, type MetricSource } from './single-metric.js';

const schema = {
  queueURL: field.string({ from: ['triggerMetadata', 'resolvedEnv'] }),
  queueLength: field.int({ default: 5 }),
  activationQueueLength: field.int({ default: 0 }),
  awsRegion: field.string({ from: ['triggerMetadata', 'authParams'] }),
  awsEndpoint: field.string({ optional: true }),
  scaleOnInFlight: field.bool({ default: true }),
  scaleOnDelayed: field.bool({ default: false }),
  identityOwner: field.oneOf(['pod', 'operator'], { optional: true }),
  awsAccessKeyID: field.string({
    name: ['awsAccessKeyID', 'awsAccessKeyId'],
    from: ['authParams', 'triggerMetadata', 'resolvedEnv'],
    optional: true,
    secret: true,
  }),
  awsSecretAccessKey: field.string({ from: ['authParams', 'resolvedEnv'], optional: true, secret: true }),
  awsSessionToken: field.string({ from: ['authParams'], optional: true, secret: true }),
  awsRoleArn: field.string({ from: ['authParams'], optional: true }),
};

type SqsMetadata = MetadataOf<typeof schema>;

export type SqsCredentials = { kind: 'default-chain' } | { kind: 'static'; accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export interface SqsConfig extends SqsMetadata {
  queueName: string;
  credentials: SqsCredentials;
}

/**
 * KEDA accepts a full queue URL or a bare name. A URL's path must be /<account>/<name>; the API call still
 * gets the value exactly as written.
 */
export function queueNameFromURL(queueURL: string): string | undefined {
  let path: string;
  if (queueURL.startsWith('/')) {
    path = queueURL;
  } else if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(queueURL) && URL.canParse(queueURL)) {
    path = new URL(queueURL).pathname;
  } else {
    return queueURL;
  }
  const parts = path.split('/');
  const name = parts[2];
  return parts.length === 3 && name ? name : undefined;
}

const rules: Rule<SqsMetadata>[] = [
  {
    fields: ['queueURL'],
    check: (m) => (queueNameFromURL(m.queueURL) === undefined ? 'cannot get queueName from queueURL' : undefined),
  },
  positiveTarget('queueLength'),
];

const usesAwsPodIdentity = (provider: string | undefined): boolean => provider === 'aws' || provider === 'aws-eks';

function credentialRules(input: ParseInput): Rule<SqsMetadata>[] {
  const identity = podIdentityOf(input);
  if (!identity.known || usesAwsPodIdentity(identity.provider)) return [];
  return [
    {
      fields: ['identityOwner', 'awsRoleArn', 'awsAccessKeyID', 'awsSecretAccessKey'],
      check: (m) => {
        if (m.identityOwner === 'operator') return undefined;
        if (m.awsRoleArn !== undefined) return 'awsRoleArn is not supported by swell; use podIdentity provider aws or access keys';
        if (m.awsAccessKeyID === undefined) return 'awsAccessKeyID not found';
        if (m.awsSecretAccessKey === undefined) return 'awsSecretAccessKey not found';
        return undefined;
      },
    },
  ];
}

function credentialsOf(m: SqsMetadata, input: ParseInput): SqsCredentials {
  const defaultChain = usesAwsPodIdentity(podIdentityOf(input).provider) || m.identityOwner === 'operator';
  if (defaultChain || m.awsAccessKeyID === undefined || m.awsSecretAccessKey === undefined) return { kind: 'default-chain' };
  return {
    kind: 'static',
    accessKeyId: m.awsAccessKeyID,
    secretAccessKey: m.awsSecretAccessKey,
    ...(m.awsSessionToken !== undefined ? { sessionToken: m.awsSessionToken } : {}),
  };
}

export const parseSqs = schemaParser({
  schema,
  errorPrefix: 'error parsing SQS queue metadata',
  rules: (input) => [...rules, ...credentialRules(input)],
  config: ({ values: m }, input): SqsConfig => ({ ...m, queueName: queueNameFromURL(m.queueURL ?? '') ?? '', credentials: credentialsOf(m, input) }),
});

const attributes = {
  visible: 'ApproximateNumberOfMessages',
  inFlight: 'ApproximateNumberOfMessagesNotVisible',
  delayed: 'ApproximateNumberOfMessagesDelayed',
} as const satisfies Record<string, QueueAttributeName>;

export interface QueueCounts {
  visible: number;
  inFlight: number;
  delayed: number;
}

/** The attribute strings SQS returns, as numbers; a missing or malformed one is an error naming it. */
export function queueCountsFrom(reply: Partial<Record<string, string>>): QueueCounts {
  const count = (name: string): number => {
    const raw = reply[name];
    if (raw === undefined) throw new ScalerReadError(`metric ${name} not found in SQS queue attributes`);
    if (!/^\d+$/.test(raw)) throw new ScalerReadError(`SQS attribute ${name} is not a whole number: "${raw}"`);
    return Number(raw);
  };
  return { visible: count(attributes.visible), inFlight: count(attributes.inFlight), delayed: count(attributes.delayed) };
}

/** KEDA's sum: visible messages, plus in-flight and delayed ones when asked for. */
export function queueLengthOf(counts: QueueCounts, config: Pick<SqsConfig, 'scaleOnInFlight' | 'scaleOnDelayed'>): number {
  return counts.visible + (config.scaleOnInFlight ? counts.inFlight : 0) + (config.scaleOnDelayed ? counts.delayed : 0);
}

class SqsClientHandle {
  constructor(readonly client: SQSClient) {}
  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}

function sqsSource(config: SqsConfig, deps: ScalerDeps): MetricSource<QueueCounts> {
  const creds = config.credentials.kind === 'static' ? config.credentials : {};
  const endpoint = config.awsEndpoint ?? `sqs.${config.awsRegion}`;
  const connectionKey = sourceKey('sqs', { endpoint, region: config.awsRegion, credentials: config.credentials.kind }, creds);
  const lease = deps.connections.acquire(connectionKey, `SQS endpoint ${endpoint}`, () => {
    const client = new SQSClient({
      region: config.awsRegion,
      maxAttempts: 1,
      ...(config.awsEndpoint !== undefined ? { endpoint: config.awsEndpoint } : {}),
      ...(config.credentials.kind === 'static' ? { credentials: config.credentials } : {}),
    });
    return new SqsClientHandle(client);
  });
  return pooledSource(lease, `${connectionKey}|${config.queueURL}`, async (handle, signal) => {
    const reply = await handle.client.send(new GetQueueAttributesCommand({ QueueUrl: config.queueURL, AttributeNames: Object.values(attributes) }), {
      abortSignal: signal,
    });
    return queueCountsFrom(reply.Attributes ?? {});
  });
}

export const awsSqsQueueScaler = singleMetricScaler<SqsConfig, QueueCounts>({
  types: ['aws-sqs-queue'],
  schema,
  example: {
    metadata: { queueURL: 'http://127.0.0.1:1/000000000000/orders', awsRegion: 'us-east-1', awsEndpoint: 'http://127.0.0.1:1' },
    authParams: { awsAccessKeyID: 'id', awsSecretAccessKey: 'key' },
  },
  parse: parseSqs,
  metricName: (config) => `aws-sqs-${config.queueName}`,
  target: (config) => config.queueLength,
  source: sqsSource,
  value: queueLengthOf,
  activation: (config) => config.activationQueueLength,
});
