import { describe, expect, it } from 'vitest';
import { describeSourceError, redactor, sourceLabel } from './source-errors.js';

const systemError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('describeSourceError', () => {
  it.each([
    { name: 'refused', err: systemError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:6379'), expected: 'connection refused to Redis 10.0.0.5:6379' },
    {
      name: 'refused, found along the cause chain',
      err: new Error('KafkaJSNumberOfRetriesExceeded', { cause: systemError('ECONNREFUSED', 'x') }),
      expected: 'connection refused to Redis 10.0.0.5:6379',
    },
    {
      name: 'refused, under kafkajs originalError',
      err: Object.assign(new Error('retries'), { originalError: systemError('ECONNREFUSED', 'x') }),
      expected: 'connection refused to Redis 10.0.0.5:6379',
    },
    {
      name: 'refused, only known from the connection',
      err: new Error('Reached the max retries per request limit (which is 1).'),
      connectionError: systemError('ECONNREFUSED', 'x'),
      expected: 'connection refused to Redis 10.0.0.5:6379',
    },
    {
      name: "ioredis' retry message with nothing underneath",
      err: new Error('Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest"'),
      expected: 'lost the connection to Redis 10.0.0.5:6379',
    },
    { name: 'connect timeout', err: systemError('ETIMEDOUT', 'connect ETIMEDOUT'), expected: 'timed out connecting to Redis 10.0.0.5:6379' },
    { name: 'DNS', err: systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND redis.prod'), expected: 'the host of Redis 10.0.0.5:6379 was not found (DNS)' },
    { name: 'reset', err: systemError('ECONNRESET', 'read ECONNRESET'), expected: 'connection reset by Redis 10.0.0.5:6379' },
    {
      name: 'untrusted certificate',
      err: systemError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'),
      expected: 'TLS with Redis 10.0.0.5:6379 failed: DEPTH_ZERO_SELF_SIGNED_CERT',
    },
    {
      name: 'a reply error keeps its words, redacted',
      err: new Error('WRONGTYPE Operation against a key holding the wrong kind of value at 10.0.0.5'),
      redact: redactor(['10.0.0.5:6379']),
      expected: 'Redis 10.0.0.5:6379: WRONGTYPE Operation against a key holding the wrong kind of value at <hidden>',
    },
    { name: 'a code-like word that is no code is ignored', err: Object.assign(new Error('boom'), { code: 42 }), expected: 'Redis 10.0.0.5:6379: boom' },
  ])('$name', ({ err, connectionError, redact, expected }) => {
    expect(describeSourceError(err, 'Redis 10.0.0.5:6379', { connectionError, ...(redact ? { redact } : {}) })).toBe(expected);
  });
});

describe('sourceLabel', () => {
  it.each([
    { from: 'triggerMetadata' as const, expected: 'Redis standalone 10.0.0.5:6379' },
    { from: undefined, expected: 'Redis standalone 10.0.0.5:6379' },
    { from: 'authParams' as const, expected: 'Redis standalone (address from the TriggerAuthentication)' },
    { from: 'resolvedEnv' as const, expected: 'Redis standalone (address from the scale target env)' },
  ])('an address from $from reads "$expected"', ({ from, expected }) => {
    expect(sourceLabel('Redis standalone', '10.0.0.5:6379', from)).toBe(expected);
  });
});

describe('redactor', () => {
  it('hides each value and its host part, longest first', () => {
    const redact = redactor(['redis.prod.internal:6380', 'https://kafka-1.prod:9093']);
    expect(redact('dial redis.prod.internal:6380 then redis.prod.internal; kafka-1.prod:9093 and https://kafka-1.prod:9093')).toBe(
      'dial <hidden> then <hidden>; <hidden>:9093 and <hidden>',
    );
  });
  it('leaves text alone when nothing is hidden', () => {
    expect(redactor([])('connect 10.0.0.5:6379')).toBe('connect 10.0.0.5:6379');
  });
});
