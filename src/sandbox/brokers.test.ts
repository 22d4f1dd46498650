import { describe, expect, it } from 'vitest';
import { artemisComponent, artemisCreateArgs, artemisEndpoints, artemisJavaArgs } from './artemis.js';
import { azuriteArgs, azuriteComponent, azuriteConnectionString } from './azurite.js';
import { natsComponent, natsEndpoints, natsServerArgs } from './nats.js';
import { freePort } from './net.js';
import { rabbitMqComponent, rabbitMqConfig, rabbitMqEndpoints, rabbitMqEnv } from './rabbitmq.js';

const ports = { amqp: 41001, management: 41002, distribution: 41003, epmd: 41004 };

/** Every "--flag value" or "--flag" of an argument list, for checking what a server is told. */
function flags(args: readonly string[]): Map<string, string | true> {
  const found = new Map<string, string | true>();
  args.forEach((arg, i) => {
    if (!arg.startsWith('-')) return;
    const next = args[i + 1];
    found.set(arg, next !== undefined && !next.startsWith('-') ? next : true);
  });
  return found;
}

describe('rabbitmq sandbox server', () => {
  it('listens on loopback only, with statistics every second and the sandbox account', () => {
    const config = rabbitMqConfig(ports);
    expect(config).toContain('listeners.tcp.default = 127.0.0.1:41001');
    expect(config).toContain('management.tcp.ip = 127.0.0.1');
    expect(config).toContain('management.tcp.port = 41002');
    expect(config).toContain('collect_statistics_interval = 1000');
  });

  it('keeps its node, data, logs and port mapper apart from the system service', () => {
    expect(rabbitMqEnv('/state/rabbitmq', ports)).toMatchObject({
      RABBITMQ_NODENAME: 'swell41001@localhost',
      RABBITMQ_MNESIA_BASE: '/state/rabbitmq/mnesia',
      RABBITMQ_CONFIG_FILE: '/state/rabbitmq/rabbitmq.conf',
      RABBITMQ_DIST_PORT: '41003',
      ERL_EPMD_PORT: '41004',
      ERL_EPMD_ADDRESS: '127.0.0.1',
      HOME: '/state/rabbitmq',
    });
    expect(rabbitMqEndpoints(ports).env.RABBITMQ_AMQP_URL).toBe('amqp://swell:swell-secret@127.0.0.1:41001/');
  });
});

describe('nats sandbox server', () => {
  it('serves clients and monitoring on loopback with JetStream storing in the state folder', () => {
    const parsed = flags(natsServerArgs(42001, 42002, '/state/nats'));
    expect(Object.fromEntries(parsed)).toMatchObject({
      '--addr': '127.0.0.1',
      '--port': '42001',
      '--http_port': '42002',
      '--jetstream': true,
      '--store_dir': '/state/nats',
    });
    expect(natsEndpoints(42001, 42002).env).toEqual({ NATS_URL: 'nats://127.0.0.1:42001', NATS_MONITORING_ENDPOINT: '127.0.0.1:42002' });
  });
});

describe('azurite sandbox server', () => {
  it('serves the queue service on loopback with its development account', () => {
    expect(Object.fromEntries(flags(azuriteArgs(43001, '/state/azurite')))).toMatchObject({
      '--queueHost': '127.0.0.1',
      '--queuePort': '43001',
      '--location': '/state/azurite',
    });
    expect(azuriteConnectionString(43001)).toMatch(
      /^DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=[^;]+;QueueEndpoint=http:\/\/127\.0\.0\.1:43001\/devstoreaccount1;$/,
    );
  });
});

describe('artemis sandbox server', () => {
  it('creates a broker instance with login, loopback listeners and only the core protocol', () => {
    const parsed = flags(artemisCreateArgs('/state/artemis/instance', 44001, 44002));
    expect(Object.fromEntries(parsed)).toMatchObject({
      '--name': 'swell',
      '--require-login': true,
      '--host': '127.0.0.1',
      '--default-port': '44001',
      '--http-host': '127.0.0.1',
      '--http-port': '44002',
      '--no-amqp-acceptor': true,
    });
    expect(artemisJavaArgs('/state/artemis/instance')).toContain('-Djolokia.policyLocation=file:/state/artemis/instance/etc/jolokia-access.xml');
    expect(artemisJavaArgs('/state/artemis/instance')).toContain('-Xmx256m');
    expect(artemisEndpoints(44001, 44002).env).toMatchObject({ ARTEMIS_MANAGEMENT_ENDPOINT: '127.0.0.1:44002', ARTEMIS_BROKER_NAME: 'swell' });
  });
});

describe('healthy', () => {
  // A probe that waited on a retry or a long connect time-out would run into the test's own time-out.
  it('is false, without waiting on a time-out, when nothing listens or the env is missing', { timeout: 10_000 }, async () => {
    const port = await freePort();
    const cases = [
      [rabbitMqComponent(), { RABBITMQ_MANAGEMENT_URL: `http://u:p@127.0.0.1:${port}/` }],
      [natsComponent(), { NATS_MONITORING_ENDPOINT: `127.0.0.1:${port}` }],
      [azuriteComponent(), { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(port) }],
      [artemisComponent(), { ARTEMIS_MANAGEMENT_ENDPOINT: `127.0.0.1:${port}` }],
    ] as const;
    for (const [component, env] of cases) {
      expect(await component.healthy({ env, endpoints: {} }), component.name).toBe(false);
      expect(await component.healthy({ env: {}, endpoints: {} }), component.name).toBe(false);
    }
  });
});
