import { HttpAgentHandle, httpGet } from './http-get.js';
import { field, positiveTarget, type MetadataOf, type Rule } from './metadata.js';
import { ScalerReadError } from './scaler.js';
import { sourceKey } from './shared-reads.js';
import { sourceLabel } from './source-errors.js';
import { pooledSource, schemaParser, singleMetricScaler } from './single-metric.js';

/** KEDA's default management URL: the queue's MessageCount attribute, read through Jolokia. */
export const defaultRestApiTemplate =
  'http://<<managementEndpoint>>/console/jolokia/read/org.apache.activemq.artemis:broker="<<brokerName>>",component=addresses,address="<<brokerAddress>>",subcomponent=queues,routing-type="anycast",queue="<<queueName>>"/MessageCount';

const credentials = ['authParams', 'triggerMetadata', 'resolvedEnv'] as const;

const schema = {
  managementEndpoint: field.string({ optional: true }),
  queueName: field.string({ optional: true }),
  brokerName: field.string({ optional: true }),
  brokerAddress: field.string({ optional: true }),
  username: field.string({ from: credentials }),
  password: field.string({ from: credentials, secret: true }),
  restApiTemplate: field.string({ optional: true }),
  queueLength: field.int({ default: 10 }),
  // KEDA's code defaults this to 10 (its documentation says 0); swell does what KEDA does.
  activationQueueLength: field.int({ default: 10 }),
  corsHeader: field.string({ optional: true }),
  unsafeSsl: field.bool({ default: false }),
};

type ArtemisMetadata = MetadataOf<typeof schema>;

export interface ArtemisConfig extends ArtemisMetadata {
  managementEndpoint: string;
  queueName: string;
  brokerName: string;
  brokerAddress: string;
  restApiTemplate: string;
  corsHeader: string;
}

/** The endpoint, broker, address and queue named inside a custom restApiTemplate's object name. */
export function templateParameters(template: string): { managementEndpoint: string; brokerName: string; brokerAddress: string; queueName: string } | string {
  if (!URL.canParse(template)) return `can't parse restApiTemplate : unable to parse the artemis restAPITemplate`;
  const url = new URL(template);
  const path = decodeURIComponent(url.pathname);
  const objectName = path.slice(path.indexOf(':') + 1).split('/')[0] ?? '';
  const properties = new Map(
    objectName.split(',').map((pair) => {
      const eq = pair.indexOf('=');
      return [pair.slice(0, eq), pair.slice(eq + 1).replace(/^"|"$/g, '')] as const;
    }),
  );
  const brokerAddress = properties.get('address') ?? '';
  const queueName = properties.get('queue') ?? '';
  const brokerName = properties.get('broker') ?? '';
  if (brokerAddress === '') return "can't parse restApiTemplate : no brokerAddress given";
  if (queueName === '') return "can't parse restApiTemplate : no queueName is given";
  if (brokerName === '') return `can't parse restApiTemplate : no brokerName given: ${template}`;
  return { managementEndpoint: url.host, brokerName, brokerAddress, queueName };
}

const requiredWithoutTemplate: [keyof ArtemisMetadata, string][] = [
  ['managementEndpoint', 'no management endpoint given'],
  ['queueName', 'no queue name given'],
  ['brokerName', 'no broker name given'],
  ['brokerAddress', 'no broker address given'],
];

const rules: Rule<ArtemisMetadata>[] = [
  positiveTarget('queueLength'),
  {
    fields: ['restApiTemplate', 'managementEndpoint', 'queueName', 'brokerName', 'brokerAddress'],
    check: (m) => {
      if (m.restApiTemplate !== undefined) {
        const parameters = templateParameters(m.restApiTemplate);
        return typeof parameters === 'string' ? parameters : undefined;
      }
      return requiredWithoutTemplate.find(([key]) => m[key] === undefined)?.[1];
    },
  },
];

export const parseArtemisQueue = schemaParser({
  schema,
  errorPrefix: 'error parsing artemis metadata',
  rules: () => rules,
  config: (parsed): ArtemisConfig => {
    const m = parsed.values;
    const fromTemplate = m.restApiTemplate !== undefined ? templateParameters(m.restApiTemplate) : undefined;
    const named = typeof fromTemplate === 'object' ? fromTemplate : undefined;
    const managementEndpoint = named?.managementEndpoint ?? m.managementEndpoint ?? '';
    return {
      ...m,
      managementEndpoint,
      queueName: named?.queueName ?? m.queueName ?? '',
      brokerName: named?.brokerName ?? m.brokerName ?? '',
      brokerAddress: named?.brokerAddress ?? m.brokerAddress ?? '',
      restApiTemplate: m.restApiTemplate ?? defaultRestApiTemplate,
      corsHeader: m.corsHeader ?? `http://${managementEndpoint}`,
    };
  },
});

/** The template with its placeholders filled in, as KEDA fills them. */
export function artemisURL(c: Pick<ArtemisConfig, 'restApiTemplate' | 'managementEndpoint' | 'queueName' | 'brokerName' | 'brokerAddress'>): URL {
  const filled = c.restApiTemplate
    .replaceAll('<<managementEndpoint>>', c.managementEndpoint)
    .replaceAll('<<queueName>>', c.queueName)
    .replaceAll('<<brokerName>>', c.brokerName)
    .replaceAll('<<brokerAddress>>', c.brokerAddress);
  return new URL(filled);
}

/** Jolokia answers 200 even for a failed read; its own status must say 200 too. */
export function parseJolokiaReply(status: number, body: string): number {
  let reply: { value?: unknown; status?: unknown } = {};
  try {
    reply = JSON.parse(body) as typeof reply;
  } catch {
    throw new ScalerReadError(`artemis management endpoint response error code : ${status} (the body is not JSON)`);
  }
  if (status !== 200 || reply.status !== 200 || typeof reply.value !== 'number') {
    throw new ScalerReadError(`artemis management endpoint response error code : ${status} ${typeof reply.status === 'number' ? reply.status : 0}`);
  }
  return reply.value;
}

export const artemisQueueScaler = singleMetricScaler<ArtemisConfig, number>({
  types: ['artemis-queue'],
  schema,
  example: {
    metadata: { managementEndpoint: '127.0.0.1:1', brokerName: 'broker', brokerAddress: 'jobs', queueName: 'jobs' },
    authParams: { username: 'scaler', password: 'pw' },
  },
  parse: parseArtemisQueue,
  metricName: (config) => `artemis-${config.queueName}`,
  target: (config) => config.queueLength,
  source: (config, deps) => {
    const url = artemisURL(config);
    const headers = {
      accept: 'application/json',
      origin: config.corsHeader,
      authorization: `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`,
    };
    const agentKey = sourceKey('http', { origin: url.origin, unsafeSsl: config.unsafeSsl });
    const label = sourceLabel('Artemis management', url.host, 'triggerMetadata');
    const lease = deps.connections.acquire(agentKey, label, () => new HttpAgentHandle(url.protocol === 'https:', { rejectUnauthorized: !config.unsafeSsl }), [
      config.password,
    ]);
    return pooledSource(lease, sourceKey('artemis', { agentKey, url: url.href, origin: config.corsHeader }, headers), async (handle, signal) => {
      const reply = await httpGet(url, { agent: handle.agent, headers, signal });
      return parseJolokiaReply(reply.status, reply.body);
    });
  },
  value: (count) => count,
  activation: (config) => config.activationQueueLength,
});
