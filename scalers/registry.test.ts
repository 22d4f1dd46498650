import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createScaler, scalerDefinitions, supportedTriggerTypes, validateTriggerMetadata } from './registry.js';
import { normalizeMetricName, ScalerConfigError } from './scaler.js';
import { contextFor, testDeps } from './testing.js';

describe('registry', () => {
  it('serves every type its definitions declare, each by exactly one definition', () => {
    const declared = scalerDefinitions.flatMap((d) => d.types);
    expect(new Set(declared).size).toBe(declared.length);
    expect([...supportedTriggerTypes].sort()).toEqual([...declared].sort());
    for (const type of declared) {
      const example = scalerDefinitions.find((d) => d.types.includes(type))?.example;
      const trigger = { type, metadata: { ...example?.metadata }, ...(example?.authParams ? { authenticationRef: { name: 'auth' } } : {}) };
      expect(validateTriggerMetadata(trigger, { offline: true }), type).toEqual([]);
    }
  });

  it('has an example manifest under examples/ for every scaler', () => {
    const examples = readdirSync(join(import.meta.dirname, '..', 'examples'))
      .filter((name) => name.endsWith('.yaml'))
      .map((name) => readFileSync(join(import.meta.dirname, '..', 'examples', name), 'utf8'));
    for (const definition of scalerDefinitions) {
      const shown = definition.types.some((type) => examples.some((text) => new RegExp(`^\\s*- type: ${type}$`, 'm').test(text)));
      expect(shown, `an example of ${definition.types.join('/')}`).toBe(true);
    }
  });

  it('names an unknown trigger type', () => {
    expect(validateTriggerMetadata({ type: 'no-such-queue', metadata: {} })).toEqual(['no scaler found for type: no-such-queue']);
    expect(() => createScaler(contextFor({ type: 'no-such-queue' }), testDeps())).toThrow('no scaler found for type: no-such-queue');
  });

  it('refuses Utilization for external metrics', () => {
    const trigger = { type: 'redis', metricType: 'Utilization' as const, metadata: { address: 'r:1', listName: 'l' } };
    expect(validateTriggerMetadata(trigger)).toEqual([
      "'Utilization' metric type is unsupported for external metrics, allowed values are 'Value' or 'AverageValue'",
    ]);
  });

  it('throws one ScalerConfigError carrying every problem, each naming its field', () => {
    const context = contextFor({ type: 'kafka', metadata: { lagThreshold: 'ten', offsetResetPolicy: 'oldest' } }, { triggerIndex: 3 });
    let caught: unknown;
    try {
      createScaler(context, testDeps());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ScalerConfigError);
    const error = caught as ScalerConfigError;
    expect(error.triggerIndex).toBe(3);
    expect(error.problems).toEqual([
      'error parsing kafka metadata: missing required parameter "bootstrapServers" in [triggerMetadata resolvedEnv]',
      'error parsing kafka metadata: missing required parameter "consumerGroup" in [triggerMetadata resolvedEnv]',
      'error parsing kafka metadata: unable to set param "lagThreshold" value "ten": not an integer',
      'error parsing kafka metadata: parameter "offsetResetPolicy" value "oldest" must be one of [latest earliest]',
    ]);
    expect(error.message).toContain('trigger 3 (type "kafka")');
  });

  it('keeps secrets out of configuration errors', () => {
    const context = contextFor(
      { type: 'redis', metadata: { listName: 'l', address: 'r:1', enableTLS: 'true' } },
      { authParams: { password: 'hunter2', tls: 'enable' } },
    );
    expect(() => createScaler(context, testDeps())).toThrow(ScalerConfigError);
    try {
      createScaler(context, testDeps());
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('refuses to read a metric the scaler does not publish', async () => {
    const scaler = createScaler(contextFor({ type: 'redis', metadata: { address: '127.0.0.1:1', listName: 'l' } }), testDeps());
    await expect(scaler.read('s0-redis-other')).rejects.toThrow('no metric named "s0-redis-other"');
    await scaler.close();
  });
});

describe('normalizeMetricName', () => {
  it.each([
    ['a/b.c:d%e(f)g', 'a-b-c-d-e-f-g'],
    ['Keep_Case,comma', 'Keep_Case,comma'],
  ])('%s → %s', (raw, normalised) => expect(normalizeMetricName(raw)).toBe(normalised));
});

describe('metric targets the HPA would refuse', () => {
  // The HPA refuses a target of 0 or less (and swell writes fractions in milli-units), so each scaler rejects
  // such a target when it parses, which `swell validate`, the webhook and the operator all go through.
  const base: Record<string, Record<string, string>> = {
    'aws-sqs-queue': { queueURL: 'https://sqs.us-east-1.amazonaws.com/1/q', awsRegion: 'us-east-1', awsAccessKeyID: 'x' },
    kafka: { bootstrapServers: 'b:9092', consumerGroup: 'g', topic: 't' },
    redis: { address: 'r:6379', listName: 'jobs' },
    'redis-streams': { address: 'r:6379', stream: 's' },
    prometheus: { serverAddress: 'http://p:9090', query: 'up', threshold: '1' },
    cpu: { type: 'Utilization' },
    memory: { type: 'AverageValue' },
  };
  const cases: [type: string, field: string, extra: Record<string, string>][] = [
    ['aws-sqs-queue', 'queueLength', {}],
    ['kafka', 'lagThreshold', {}],
    ['redis', 'listLength', {}],
    ['redis-streams', 'streamLength', {}],
    ['redis-streams', 'pendingEntriesCount', { consumerGroup: 'g' }],
    ['redis-streams', 'lagCount', { consumerGroup: 'g' }],
    ['prometheus', 'threshold', {}],
    ['cpu', 'value', {}],
    ['memory', 'value', {}],
  ];
  const check = (type: string, metadata: Record<string, string>) =>
    validateTriggerMetadata({ type, metadata, ...(type === 'aws-sqs-queue' ? { authenticationRef: { name: 'aws' } } : {}) }, { offline: true });

  it.each(cases)('%s refuses %s 0 and -1 and accepts 3', (type, field, extra) => {
    for (const bad of ['0', '-1']) {
      // lagCount 0 selects another mode instead of being a target of 0.
      if (field === 'lagCount' && bad === '0') continue;
      const problems = check(type, { ...base[type], ...extra, [field]: bad });
      expect(problems.join('\n'), `${type} ${field}=${bad}`).toMatch(new RegExp(`"${field}" must be (positive|greater than 0)`));
    }
    expect(check(type, { ...base[type], ...extra, [field]: '3' })).toEqual([]);
  });

  it('checks only the target of the redis-streams mode in use', () => {
    expect(check('redis-streams', { ...base['redis-streams'], pendingEntriesCount: '0' })).toEqual([]);
  });

  it.each([
    ['prometheus', 'threshold', '0.0004', /"threshold" must be at least 0.001/],
    ['prometheus', 'threshold', '0.001', undefined],
    ['cpu', 'value', '0', /"value" must be greater than 0/],
  ])('%s %s %s', (type, field, value, expected) => {
    const problems = check(type, { ...base[type], [field]: value }).join('\n');
    if (expected) expect(problems).toMatch(expected);
    else expect(problems).toBe('');
  });
});
