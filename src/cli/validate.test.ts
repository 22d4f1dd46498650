import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { checkManifests, runValidate, validateCommand, validateManifests } from './validate.js';

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

  it('reports unknown trigger types, and YAML syntax errors by position without quoting the input', () => {
    const { results, problems } = checkManifests(
      'apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {scaleTargetRef: {name: w}, triggers: [{type: ibmmq, metadata: {}}]}\n---\nkey: [unclosed-secret-value\n',
      'in.yaml',
    );
    expect(results[0]?.errors[0]?.message).toMatch(/no scaler found for type: ibmmq/);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatchObject({
      source: 'in.yaml',
      document: 2,
      line: 5,
      message: expect.stringMatching(/^YAML syntax error at line \d+, column \d+: /) as unknown,
    });
    expect(JSON.stringify(problems)).not.toContain('unclosed-secret-value');
  });

  it("reports a schema error and the same object's trigger metadata and metadata limits in one pass", () => {
    const [result] = validateManifests(`
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: { name: Bad_Name, namespace: shop }
spec:
  scaleTargetRef: { name: w }
  pollingInterval: soon
  triggers:
    - type: redis
      metadata: { address: "r:6379", listName: jobs, listLength: "0" }
    - type: redis
      metadata: { address: "r:6379" }
`);
    expect(result?.errors.map((e) => e.path)).toEqual(['metadata.name', 'spec.pollingInterval', 'spec.triggers[0]', 'spec.triggers[1]']);
    expect(result?.errors[2]?.message).toMatch(/"listLength" must be greater than 0/);
    expect(result?.errors[3]?.message).toMatch(/listName/);
  });

  it.each<[string, Record<string, unknown>, RegExp | undefined]>([
    ['a name over 253 characters', { name: 'a'.repeat(254) }, /metadata.name: must be a lowercase RFC 1123 subdomain of at most 253/],
    ['an uppercase name', { name: 'Orders' }, /metadata.name: must be a lowercase RFC 1123 subdomain/],
    ['no name at all', {}, /metadata.name: name or generateName is required/],
    ['a bad namespace', { name: 'a', namespace: 'shop.eu' }, /metadata.namespace: must be a lowercase RFC 1123 label/],
    ['a label value over 63 characters', { name: 'a', labels: { team: 'x'.repeat(64) } }, /metadata.labels\["team"\]: invalid label value \(64 characters\)/],
    ['a bad label key', { name: 'a', labels: { 'a/b/c': 'x' } }, /invalid label key/],
    [
      'annotations over 256 KiB in total',
      { name: 'a', annotations: { a: 'x'.repeat(200_000), b: 'y'.repeat(100_000) } },
      /metadata.annotations: may not be more than 262144 bytes in total \(is 300002\)/,
    ],
    ['a ScaledJob name over 63 characters', { name: 's'.repeat(64), kind: 'ScaledJob' }, /must be no more than 63 characters \(is 64\): each Job carries it/],
    ['annotations just under the limit', { name: 'a', annotations: { a: 'x'.repeat(262_000) } }, undefined],
  ])("applies the apiserver's limits: %s", (_name, meta, expected) => {
    const { kind = 'TriggerAuthentication', ...metadata } = meta;
    const spec =
      kind === 'ScaledJob'
        ? {
            jobTargetRef: { template: { spec: { containers: [] } } },
            triggers: [{ type: 'cron', metadata: { timezone: 'UTC', start: '0 8 * * *', end: '0 9 * * *', desiredReplicas: '1' } }],
          }
        : {};
    const [result] = validateManifests(JSON.stringify({ apiVersion: 'keda.sh/v1alpha1', kind, metadata, spec }));
    const text = result?.errors.map((e) => `${e.path}: ${e.message}`).join('\n') ?? '';
    if (expected) expect(text).toMatch(expected);
    else expect(text).toBe('');
    expect(text.length).toBeLessThan(2000);
  });

  it('reports a KEDA kind whose apiVersion is missing (a misspelt key) instead of skipping it', () => {
    const [result] = validateManifests('apiversion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {}\n');
    expect(result).toMatchObject({
      kind: 'ScaledObject',
      name: 'a',
      valid: false,
      errors: [{ path: 'apiVersion', message: 'is missing; ScaledObject needs apiVersion: keda.sh/v1alpha1' }],
    });
  });

  it('expands kind: List', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ apiVersion: 'keda.sh/v1alpha1', kind: 'ClusterTriggerAuthentication', metadata: { name: 'c' }, spec: {} }],
    });
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

  const scratch = mkdtempSync(join(tmpdir(), 'swell-validate-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const file = (name: string, content: string | Buffer) => {
    const path = join(scratch, name);
    writeFileSync(path, content);
    return path;
  };

  it.each<[string, () => string[], number, RegExp]>([
    ['all valid', () => ['-f', fixture('keda-valid.yaml')], 0, /6 KEDA object\(s\) checked, 0 invalid\n$/],
    ['some invalid', () => ['-f', fixture('keda-valid.yaml'), '-f', fixture('keda-invalid.yaml')], 1, /3 invalid\n$/],
    ['a missing file', () => ['-f', fixture('does-not-exist.yaml')], 2, /does-not-exist.yaml: cannot read: no such file/],
    ['a YAML syntax error', () => ['-f', file('syntax.yaml', 'a: [b\n')], 2, /not checked: .*syntax.yaml document 1 \(line 1\): YAML syntax error/],
    ['an empty file', () => ['-f', file('empty.yaml', '')], 2, /no KEDA object found/],
    ['a file of only ---', () => ['-f', file('dashes.yaml', '---\n---\n')], 2, /no KEDA object found/],
    ['only other kinds', () => ['-f', file('other.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n')], 2, /no KEDA object found/],
    ['an empty file with --allow-empty', () => ['-f', file('empty2.yaml', ''), '--allow-empty'], 0, /0 KEDA object\(s\) checked, 0 invalid\n$/],
    ['binary input', () => ['-f', file('bin.yaml', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]))], 2, /binary/],
    ['invalid UTF-8', () => ['-f', file('latin1.yaml', Buffer.from('kind: caf\xe9\n', 'latin1'))], 2, /not valid UTF-8/],
    [
      'valid objects beside a broken document',
      () => ['-f', file('mixed.yaml', `${readFileSync(fixture('keda-valid.yaml'), 'utf8')}\n---\nkey: [x\n`)],
      2,
      /6 KEDA object\(s\) checked, 0 invalid, 1 input problem\(s\)/,
    ],
  ])('exits for %s with the documented status', async (_n, argv, code, output) => {
    const result = await runValidate(argv());
    expect(result.exitCode).toBe(code);
    expect(result.stdout).toMatch(output);
  });

  it.each<[string, string[]]>([
    ['no -f', []],
    ['an unknown flag', ['-f', fixture('keda-valid.yaml'), '--strict']],
    ['a bad output format', ['-f', fixture('keda-valid.yaml'), '-o', 'xml']],
  ])('exits 2 for %s with the problem and where to find usage on stderr', async (_n, argv) => {
    const io = capture();
    expect(await validateCommand(argv)).toBe(2);
    expect(io.err()).toMatch(/^swell validate: [^\n]+\nrun 'swell validate --help' for usage\n$/);
  });

  it('prints JSON results', async () => {
    const io = capture();
    expect(await validateCommand(['-f', fixture('keda-invalid.yaml'), '--output', 'json'])).toBe(1);
    const parsed = JSON.parse(io.out()) as {
      results: { kind: string; namespace: string | null; name: string; valid: boolean; errors: { path: string; message: string }[] }[];
      summary: unknown;
    };
    expect(parsed.results[0]).toMatchObject({
      source: fixture('keda-invalid.yaml'),
      document: 1,
      kind: 'ScaledObject',
      namespace: 'shop',
      name: 'bounds',
      valid: false,
      errors: [{ path: 'spec.minReplicaCount', message: 'MinReplicaCount=10 must be less than MaxReplicaCount=3' }],
    });
    expect(parsed.summary).toEqual({ objects: 3, invalid: 3, problems: 0, exitCode: 1 });
  });

  it.each<[string, string[]]>([
    ['a usage error', ['--output', 'json', '--bogus']],
    ['a missing file', ['-o', 'json', '-f', fixture('nope.yaml')]],
    ['a YAML error', ['--output=json', '-f', fixture('keda-valid.yaml'), '-f', '-']],
  ])('prints JSON for %s too', async (_n, argv) => {
    const stdin = vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from([Buffer.from('a: *nowhere\n')]) as unknown as typeof process.stdin);
    const result = await runValidate(argv);
    stdin.mockRestore();
    expect(result.exitCode).toBe(2);
    const parsed = JSON.parse(result.stdout) as { problems: unknown[]; summary: { exitCode: number } };
    expect(parsed.summary.exitCode).toBe(2);
    expect(parsed.problems.length).toBeGreaterThan(0);
  });

  it('documents every exit status in --help', async () => {
    const { stdout } = await runValidate(['--help']);
    for (const code of ['0', '1', '2']) expect(stdout).toMatch(new RegExp(`^  ${code}  `, 'm'));
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
    [
      'cron',
      { timezone: 'Etc/UTC', start: '0 8 * * *' },
      { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '3' },
      /end|desiredReplicas/,
    ],
    ['prometheus', { serverAddress: 'http://p:9090', query: 'up' }, { serverAddress: 'http://p:9090', query: 'up', threshold: '10' }, /threshold/],
    ['cpu', { value: 'lots' }, { type: 'Utilization', value: '60' }, /type|value/],
  ];
  const manifest = (type: string, metadata: Record<string, string>) =>
    JSON.stringify({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: `so-${type}`, namespace: 'n' },
      spec: { scaleTargetRef: { name: 'w' }, minReplicaCount: 1, triggers: [{ type, metadata, authenticationRef: { name: 'creds' } }] },
    });

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
