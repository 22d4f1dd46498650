import { describe, expect, it } from 'vitest';
import type { ParseInput } from './definition.js';
import { amqpConnectOptions, composeQueues, managementURL, parseManagementReply, parseRabbitMq, queryEscape, rabbitReading, vhostAndPath } from './rabbitmq.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';

function input(metadata: Record<string, string>, extra: Partial<ParseInput> = {}): ParseInput {
  return { trigger: { type: 'rabbitmq', metadata }, triggerIndex: 0, authParams: {}, resolvedEnv: {}, offline: false, ...extra };
}

const amqpHost = 'amqp://u:p@rabbit:5672/';
const httpHost = 'http://u:p@rabbit:15672/';

describe('rabbitmq metadata', () => {
  it.each([
    [{}, 'QueueLength', 20],
    [{ queueLength: '7' }, 'QueueLength', 7],
    [{ mode: 'QueueLength', value: '12.5' }, 'QueueLength', 12.5],
    [{ mode: 'MessageRate', value: '3', host: httpHost }, 'MessageRate', 3],
  ])('%j gives mode %s with target %d', (extra, mode, value) => {
    const { config, errors } = parseRabbitMq(input({ host: amqpHost, queueName: 'q', ...extra }));
    expect(errors).toEqual([]);
    expect(config).toMatchObject({ mode, value, activationValue: 0, pageSize: 100, operation: 'sum', tls: 'disable' });
  });

  it.each([
    ['amqp://r/', 'amqp'],
    ['amqps://r/', 'amqp'],
    ['http://r/', 'http'],
    ['https://r/', 'http'],
  ])('protocol auto follows the scheme of %s', (host, protocol) => {
    expect(parseRabbitMq(input({ host, queueName: 'q' })).config.transport).toBe(protocol);
  });

  it('takes the host from the TriggerAuthentication or the target env, and the account from either', () => {
    const auth = parseRabbitMq(input({ queueName: 'q' }, { authParams: { host: amqpHost, username: 'a', password: 'b' } }));
    expect(auth.errors).toEqual([]);
    expect(auth.config).toMatchObject({ host: amqpHost, username: 'a', password: 'b', hostFrom: 'authParams' });
    const env = parseRabbitMq(
      input({ queueName: 'q', hostFromEnv: 'H', usernameFromEnv: 'U', passwordFromEnv: 'P' }, { resolvedEnv: { H: httpHost, U: 'a', P: 'b' } }),
    );
    expect(env.config).toMatchObject({ host: httpHost, protocol: 'auto', transport: 'http', username: 'a', password: 'b' });
  });

  it.each([
    [{ queueName: 'q' }, 'missing required parameter "host" in [triggerMetadata authParams resolvedEnv]'],
    [{ host: amqpHost }, 'missing required parameter "queueName" in [triggerMetadata]'],
    [{ host: amqpHost, queueName: 'q', protocol: 'stomp' }, 'the protocol has to be either `amqp`, `http`, or `auto` but is `stomp`'],
    [{ host: 'redis://r/', queueName: 'q' }, 'unknown host URL scheme: `redis`'],
    [{ host: amqpHost, queueName: 'q', mode: 'QueueLength' }, 'value must be specified'],
    [{ host: amqpHost, queueName: 'q', value: '5' }, 'mode must be specified'],
    [{ host: amqpHost, queueName: 'q', queueLength: '5', mode: 'QueueLength', value: '5' }, 'queueLength is deprecated; use mode and value'],
    [
      { host: amqpHost, queueName: 'q', mode: 'Backlog', value: '5' },
      'trigger mode Backlog must be one of QueueLength, MessageRate, DeliverGetRate, PublishedToDeliveredRatio or ExpectedQueueConsumptionTime',
    ],
    [{ host: amqpHost, queueName: 'q', mode: 'MessageRate', value: '5' }, 'protocol amqp not supported; must be HTTP to use trigger mode MessageRate'],
    [{ host: amqpHost, queueName: 'q.*', useRegex: 'true' }, 'configure useRegex=true only with HTTP protocol'],
    [{ host: amqpHost, queueName: 'q', excludeUnacknowledged: 'true' }, 'configure excludeUnacknowledged=true only with HTTP protocol'],
    [{ host: amqpHost, queueName: 'q', timeout: '1000' }, "AMQP protocol doesn't support custom timeouts"],
    [{ host: httpHost, queueName: 'q', pageSize: '0' }, 'pageSize should be 1 or greater'],
    [{ host: httpHost, queueName: 'q', operation: 'median' }, 'parameter "operation" value "median" must be one of [sum avg max]'],
    [{ host: httpHost, queueName: 'q', value: 'lots', mode: 'QueueLength' }, 'unable to set param "value" value "lots": not a number'],
  ])('rejects %j', (metadata, problem) => {
    expect(parseRabbitMq(input(metadata)).errors).toEqual([`error parsing RabbitMQ metadata: ${problem}`]);
  });

  it.each([
    [{ tls: 'on' }, 'incorrect value for TLS given: <redacted>'],
    [{ cert: 'C' }, 'both key and certificate must be provided'],
    [{ username: 'a' }, 'username and password must be given together'],
    [{ workloadIdentityResource: 'api://x' }, 'Azure AD workload identity and OAuth2 are not supported for rabbitmq by swell'],
  ])('rejects the TriggerAuthentication parameters %j', (authParams, problem) => {
    expect(parseRabbitMq(input({ host: httpHost, queueName: 'q' }, { authParams })).errors).toEqual([`error parsing RabbitMQ metadata: ${problem}`]);
  });

  it('never echoes a host that failed to parse, since it carries a password', () => {
    const errors = validateTriggerMetadata({ type: 'rabbitmq', metadata: { host: 'redis://user:hunter2@r/', queueName: 'q' } });
    expect(errors.join()).not.toContain('hunter2');
  });

  it('offline, a host behind an authenticationRef counts as present and protocol checks wait for it', () => {
    const trigger = { type: 'rabbitmq', metadata: { queueName: 'q', mode: 'MessageRate', value: '2' }, authenticationRef: { name: 'rabbit' } };
    expect(validateTriggerMetadata(trigger, { offline: true })).toEqual([]);
    expect(validateTriggerMetadata(trigger)).toHaveLength(1);
  });

  it('names the metric rabbitmq-<queue, query-escaped> with the value as target', () => {
    const scaler = createScaler(
      contextFor({ type: 'rabbitmq', metadata: { host: amqpHost, queueName: 'orders/eu high', mode: 'QueueLength', value: '10' } }),
      testDeps(),
    );
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-rabbitmq-orders-2Feu+high', targetType: 'AverageValue', target: 10 }]);
    void scaler.close();
  });
});

describe('rabbitmq management URL', () => {
  it.each([
    ['http://r:15672/', undefined, 'http://r:15672/api/queues/%2F/q'],
    ['http://r:15672', undefined, 'http://r:15672/api/queues/%2F/q'],
    ['http://r:15672/prod', undefined, 'http://r:15672/api/queues/prod/q'],
    ['http://r:15672/mgmt/prod', undefined, 'http://r:15672/mgmt/api/queues/prod/q'],
    ['http://r:15672/prod', 'a/b', 'http://r:15672/api/queues/a%2Fb/q'],
  ])('%s with vhostName %s reads %s', (host, vhostName, url) => {
    expect(managementURL({ host, queueName: 'q', useRegex: false, pageSize: 100, ...(vhostName ? { vhostName } : {}) }).href).toBe(url);
  });

  it('searches by regex with one page of pageSize queues', () => {
    expect(managementURL({ host: 'https://u:p@r/', queueName: '^jobs-.*$', useRegex: true, pageSize: 20 }).href).toBe(
      'https://r/api/queues/%2F?page=1&use_regex=true&pagination=false&name=%5Ejobs-.%2A%24&page_size=20',
    );
  });

  it('splits the vhost off the path as KEDA does', () => {
    expect(vhostAndPath('/', undefined)).toEqual({ vhost: '/%2F', path: '' });
    expect(vhostAndPath('/a/b/v', undefined)).toEqual({ vhost: '/v', path: '/a/b' });
    expect(queryEscape("a b/c!'()*~")).toBe('a+b%2Fc%21%27%28%29%2A~');
  });
});

describe('rabbitmq readings', () => {
  const stats = { messages: 10, messagesReady: 4, publishRate: 6, deliverGetRate: 2 };
  it.each([
    ['QueueLength', false, 0, 10, true],
    ['QueueLength', true, 0, 4, true],
    ['QueueLength', false, 10, 10, false],
    ['MessageRate', false, 8, 6, true],
    ['MessageRate', false, 10, 6, false],
    ['DeliverGetRate', false, 0, 2, true],
    ['PublishedToDeliveredRatio', false, 0, 3, true],
    ['ExpectedQueueConsumptionTime', false, 0, 7, true],
  ] as const)('%s (excludeUnacknowledged %s, activation %d) reads %d, active %s', (mode, excludeUnacknowledged, activationValue, value, active) => {
    expect(rabbitReading(stats, { mode, excludeUnacknowledged, activationValue })).toEqual({ value, active });
  });

  it('with nothing delivered, the ratio and the ETA fall back to the activation value and count as active', () => {
    const idle = { messages: 5, messagesReady: 5, publishRate: 1, deliverGetRate: 0 };
    expect(rabbitReading(idle, { mode: 'PublishedToDeliveredRatio', excludeUnacknowledged: false, activationValue: 2 })).toEqual({ value: 2, active: true });
    expect(rabbitReading(idle, { mode: 'ExpectedQueueConsumptionTime', excludeUnacknowledged: false, activationValue: 2 })).toEqual({ value: 2, active: true });
  });

  it.each([
    ['sum', { messages: 12, messagesReady: 5, publishRate: 3.5, deliverGetRate: 0 }],
    ['avg', { messages: 4, messagesReady: 1, publishRate: 3.5 / 3, deliverGetRate: 0 }],
    ['max', { messages: 7, messagesReady: 3, publishRate: 2, deliverGetRate: 0 }],
  ] as const)('composes regex matches with %s', (operation, composed) => {
    const queues = [
      { messages: 7, messagesReady: 3, publishRate: 2, deliverGetRate: 0 },
      { messages: 5, messagesReady: 2, publishRate: 1.5, deliverGetRate: 0 },
      { messages: 0, messagesReady: 0, publishRate: 0, deliverGetRate: 0 },
    ];
    expect(composeQueues(queues, operation)).toEqual(composed);
    expect(composeQueues([], operation)).toEqual({ messages: 0, messagesReady: 0, publishRate: 0, deliverGetRate: 0 });
  });

  it('reads the management API reply, refusing regex matches that span pages and failed answers', () => {
    const body = JSON.stringify({ messages: 3, messages_ready: 1, message_stats: { publish_details: { rate: 0.4 } } });
    expect(parseManagementReply(200, body, { queueName: 'q', useRegex: false })).toEqual([
      { messages: 3, messagesReady: 1, publishRate: 0.4, deliverGetRate: 0 },
    ]);
    expect(() => parseManagementReply(200, JSON.stringify({ items: [], page_count: 2 }), { queueName: 'q', useRegex: true })).toThrow(
      'regex matches more queues than can be recovered at once',
    );
    expect(() => parseManagementReply(404, '{}', { queueName: 'q', useRegex: false })).toThrow('RabbitMQ management API answered 404 for queue "q"');
    expect(() => parseManagementReply(200, '{"name":"q"}', { queueName: 'q', useRegex: false })).toThrow('RabbitMQ has no statistics for queue "q" yet');
  });

  it('connects over AMQP with the URI, vhostName and the TriggerAuthentication account overriding it', () => {
    expect(amqpConnectOptions({ host: 'amqp://u:p@r:5673/prod' })).toMatchObject({
      protocol: 'amqp',
      hostname: 'r',
      port: 5673,
      username: 'u',
      password: 'p',
      vhost: 'prod',
    });
    expect(amqpConnectOptions({ host: 'amqps://r/', vhostName: 'v', username: 'a', password: 'b' })).toMatchObject({
      protocol: 'amqps',
      port: 5671,
      username: 'a',
      password: 'b',
      vhost: 'v',
    });
  });
});
