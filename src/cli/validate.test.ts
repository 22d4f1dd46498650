import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { validateCommand, validateManifests } from './validate.js';

const fixtures = join(import.meta.dirname, '..', '..', 'test', 'unit', 'fixtures');
const fixture = (name: string) => join(fixtures, name);

describe('validateManifests', () => {
  it('accepts manifests shaped like KEDA documentation examples and skips other kinds', () => {
    const results = validateManifests(readFileSync(fixture('keda-valid.yaml'), 'utf8'));
    expect(results.map((r) => [r.kind, r.namespace, r.name, r.valid])).toEqual([
      ['TriggerAuthentication', 'shop', 'sqs-credentials', true],
      ['ScaledObject', 'shop', 'checkout-queue', true],
      ['ScaledObject', 'billing', 'invoice-consumer', true],
      ['ScaledObject', 'web', 'office-hours', true],
      ['ClusterTriggerAuthentication', null, 'shared-redis', true],
      ['ScaledJob', 'media', 'thumbnailer', true],
    ]);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
  });

  it('names the object and field of each problem', () => {
    const results = validateManifests(readFileSync(fixture('keda-invalid.yaml'), 'utf8'));
    expect(results.map((r) => [r.name, r.valid, [...new Set(r.errors.map((e) => e.path))]])).toEqual([
      ['bounds', false, ['spec.minReplicaCount']],
      ['metadata-typo', false, ['spec.triggers[0]']],
      // The schema error does not hide the trigger's own problems.
      ['no-template', false, ['spec.jobTargetRef.template', 'spec.triggers[0]']],
    ]);
    expect(results[1]?.errors[0]?.message).toMatch(/queueURL/);
  });

  it('checks trigger metadata once the schema passes', () => {
    const [result] = validateManifests(`
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata: { name: j }
spec:
  jobTargetRef: { template: { spec: { containers: [] } } }
  triggers:
    - type: cron
      useCachedMetrics: true
      metadata: {}
`);
    expect(result?.errors.map((e) => e.path)).toContain('spec.triggers[0].useCachedMetrics');
    expect(result?.errors.filter((e) => /useCachedMetrics/.test(e.message))).toHaveLength(1);
    expect(result?.errors.some((e) => e.path === 'spec.triggers[0]')).toBe(true);
  });

  it('reports unknown trigger types and YAML syntax errors', () => {
    const results = validateManifests('apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {scaleTargetRef: {name: w}, triggers: [{type: rabbitmq, metadata: {}}]}\n---\nkey: [unclosed\n');
    expect(results[0]?.errors[0]?.message).toMatch(/no scaler found for type: rabbitmq/);
    expect(results[1]).toMatchObject({ valid: false, name: 'document 2' });
  });

  it('expands kind: List', () => {
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ClusterTriggerAuthentication', metadata: { name: 'c' }, spec: {} }] });
    expect(validateManifests(text).map((r) => r.name)).toEqual(['c']);
  });
});

describe('validateCommand', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
    return { out: () => out.join(''), err: () => err.join('') };
  }

  it.each<[string, string[], number]>([
    ['all valid', ['-f', fixture('keda-valid.yaml')], 0],
    ['some invalid', ['-f', fixture('keda-valid.yaml'), '-f', fixture('keda-invalid.yaml')], 1],
    ['a missing file', ['-f', fixture('does-not-exist.yaml')], 2],
    ['no -f', [], 2],
    ['an unknown flag', ['-f', fixture('keda-valid.yaml'), '--strict'], 2],
    ['a bad output format', ['-f', fixture('keda-valid.yaml'), '-o', 'xml'], 2],
  ])('exits for %s with the right status', async (_n, argv, code) => {
    capture();
    expect(await validateCommand(argv)).toBe(code);
  });

  it('prints JSON results', async () => {
    const io = capture();
    expect(await validateCommand(['-f', fixture('keda-invalid.yaml'), '--output', 'json'])).toBe(1);
    const parsed = JSON.parse(io.out()) as { kind: string; namespace: string | null; name: string; valid: boolean; errors: { path: string; message: string }[] }[];
    expect(parsed[0]).toMatchObject({ kind: 'ScaledObject', namespace: 'shop', name: 'bounds', valid: false, errors: [{ path: 'spec.minReplicaCount', message: 'MinReplicaCount=10 must be less than MaxReplicaCount=3' }] });
  });

  it('prints one line per problem in text mode', async () => {
    const io = capture();
    await validateCommand(['-f', fixture('keda-invalid.yaml')]);
    expect(io.out()).toContain('ScaledObject shop/bounds: invalid\n  error   spec.minReplicaCount: MinReplicaCount=10 must be less than MaxReplicaCount=3\n');
    expect(io.out()).toMatch(/3 KEDA object\(s\) checked, 3 invalid\n$/);
  });
});

describe('every scaler through swell validate', () => {
  // One broken and one sound trigger per scaler: `swell validate` reports what the scaler's own metadata parser
  // says, on the trigger's path, and passes the sound one. Offline, the authenticationRef's parameters count as
  // present (SQS credentials, for one).
  const cases: [type: string, broken: Record<string, string>, sound: Record<string, string>, expectedFragment: RegExp][] = [
    ['aws-sqs-queue', { queueLength: '5x' }, { queueURL: 'https://sqs.us-east-1.amazonaws.com/1/q', awsRegion: 'us-east-1' }, /queueURL|queueLength/],
    ['kafka', { bootstrapServers: 'b:9092', topic: 't' }, { bootstrapServers: 'b:9092', consumerGroup: 'g', topic: 't' }, /consumerGroup/],
    ['redis', { address: 'r:6379' }, { address: 'r:6379', listName: 'jobs' }, /listName/],
    ['redis-streams', { address: 'r:6379' }, { address: 'r:6379', stream: 's', consumerGroup: 'g' }, /stream/],
    ['cron', { timezone: 'Etc/UTC', start: '0 8 * * *' }, { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '3' }, /end|desiredReplicas/],
    ['prometheus', { serverAddress: 'http://p:9090', query: 'up' }, { serverAddress: 'http://p:9090', query: 'up', threshold: '10' }, /threshold/],
    ['cpu', { value: 'lots' }, { type: 'Utilization', value: '60' }, /type|value/],
  ];
  const manifest = (type: string, metadata: Record<string, string>) =>
    JSON.stringify({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: `so-${type}`, namespace: 'n' }, spec: { scaleTargetRef: { name: 'w' }, minReplicaCount: 1, triggers: [{ type, metadata, authenticationRef: { name: 'creds' } }] } });

  it.each(cases)('%s', (type, broken, sound, expectedFragment) => {
    const [bad] = validateManifests(manifest(type, broken));
    expect(bad?.valid).toBe(false);
    const triggerErrors = bad?.errors.filter((e) => e.path.startsWith('spec.triggers[0]')) ?? [];
    expect(triggerErrors.length).toBeGreaterThan(0);
    expect(triggerErrors.map((e) => e.message).join('\n')).toMatch(expectedFragment);
    const [good] = validateManifests(manifest(type, sound));
    expect(good?.errors).toEqual([]);
  });
});
