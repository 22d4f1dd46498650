import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './net.js';
import { KAFKA_VERSION, kafkaComponent, kafkaEndpoints, kafkaServerProperties, randomClusterId, type KafkaServerSettings } from './kafka.js';

/** Parses the key=value lines that kafkaServerProperties writes (no continuation lines). */
function parseProperties(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => {
        const at = line.indexOf('=');
        return [line.slice(0, at), line.slice(at + 1).replace(/\\(.)/g, '$1')] as const;
      }),
  );
}

const settings: KafkaServerSettings = {
  ports: { plaintext: 41001, sasl: 41002, controller: 41003 },
  dataDir: '/state/kafka/data',
  username: 'swell',
  password: 'swell-secret',
};

describe('kafkaServerProperties', () => {
  const properties = parseProperties(kafkaServerProperties(settings));

  it.each([
    ['process.roles', 'broker,controller'],
    ['controller.quorum.voters', '1@127.0.0.1:41003'],
    ['listeners', 'PLAINTEXT://127.0.0.1:41001,SASL_PLAINTEXT://127.0.0.1:41002,CONTROLLER://127.0.0.1:41003'],
    ['advertised.listeners', 'PLAINTEXT://127.0.0.1:41001,SASL_PLAINTEXT://127.0.0.1:41002'],
    ['listener.security.protocol.map', 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['listener.name.sasl_plaintext.sasl.enabled.mechanisms', 'PLAIN'],
    ['log.dirs', '/state/kafka/data'],
    ['offsets.topic.replication.factor', '1'],
  ])('sets %s=%s', (key, value) => {
    expect(properties.get(key)).toBe(value);
  });

  it('binds every listener to loopback', () => {
    for (const listener of (properties.get('listeners') ?? '').split(',')) expect(listener).toMatch(/^[A-Z_]+:\/\/127\.0\.0\.1:\d+$/);
  });

  it('declares the sandbox account for the PLAIN mechanism', () => {
    expect(properties.get('listener.name.sasl_plaintext.plain.sasl.jaas.config')).toBe(
      'org.apache.kafka.common.security.plain.PlainLoginModule required username="swell" password="swell-secret" user_swell="swell-secret";',
    );
  });

  it('escapes backslashes in paths the way Java properties expect', () => {
    expect(kafkaServerProperties({ ...settings, dataDir: 'C:\\data' })).toContain('log.dirs=C:\\\\data\n');
  });

  it.each([
    { username: 'sw ell', password: 'p' },
    { username: 'swell', password: 'a"b' },
    { username: 'swell', password: 'x;y' },
  ])('refuses credentials that would break the JAAS line: $username / $password', (account) => {
    expect(() => kafkaServerProperties({ ...settings, ...account })).toThrow(/SASL username\/password/);
  });
});

describe('randomClusterId', () => {
  it('encodes 16 bytes as 22 base64url characters', () => {
    const id = randomClusterId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
  });

  it('never starts with a dash', () => {
    const draws = [Buffer.alloc(16, 0xfb), Buffer.alloc(16, 0x01)]; // 0xfb... encodes as "-..."
    const id = randomClusterId(() => draws.shift() ?? Buffer.alloc(16, 0x02));
    expect(id).toBe(Buffer.alloc(16, 0x01).toString('base64url'));
  });
});

describe('kafkaEndpoints', () => {
  it('publishes both listeners and the sandbox account', () => {
    expect(kafkaEndpoints(settings).env).toEqual({
      KAFKA_BROKERS: '127.0.0.1:41001',
      KAFKA_SASL_BROKERS: '127.0.0.1:41002',
      KAFKA_SASL_USERNAME: 'swell',
      KAFKA_SASL_PASSWORD: 'swell-secret',
    });
  });
});

it('KAFKA_VERSION matches kafka.version in tools/kafka/pom.xml', async () => {
  const pom = await readFile(join(import.meta.dirname, '..', '..', 'tools', 'kafka', 'pom.xml'), 'utf8');
  expect(/<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1]).toBe(KAFKA_VERSION);
});

describe('healthy', () => {
  // A probe that waited on a retry or a long connect time-out would run into the test's own time-out.
  it('is false, without waiting on a time-out, when nothing listens or the env is missing', { timeout: 5_000 }, async () => {
    const component = kafkaComponent();
    const port = await freePort();
    expect(await component.healthy({ env: { KAFKA_BROKERS: `127.0.0.1:${port}` }, endpoints: {} })).toBe(false);
    expect(await component.healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});
