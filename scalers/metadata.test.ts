import { describe, expect, it } from 'vitest';
import { checkRules, field, parseDurationMs, parseMetadata, type MetadataInput } from './metadata.js';

const schema = {
  name: field.string(),
  count: field.int({ default: 5 }),
  ratio: field.float({ optional: true }),
  enabled: field.bool({ default: true }),
  mode: field.oneOf(['fast', 'slow'], { default: 'fast' }),
  timeout: field.duration({ optional: true }),
  hosts: field.list({ name: ['host', 'hosts'], optional: true }),
  headers: field.keyValues({ optional: true }),
  region: field.string({ from: ['triggerMetadata', 'authParams'] }),
  queue: field.string({ from: ['triggerMetadata', 'resolvedEnv'], optional: true }),
  password: field.int({ from: ['authParams'], optional: true, secret: true }),
};

function input(metadata: Record<string, string>, extra: Partial<MetadataInput> = {}): MetadataInput {
  return { metadata, resolvedEnv: {}, authParams: {}, ...extra };
}

const base = { name: 'n', region: 'eu' };

describe('parseMetadata', () => {
  it.each([
    ['defaults apply when absent', {}, { count: 5, enabled: true, mode: 'fast', ratio: undefined }],
    ['values are trimmed', { name: '  spaced \n', count: ' 7 ' }, { name: 'spaced', count: 7 }],
    ['empty counts as absent', { count: '   ', mode: '' }, { count: 5, mode: 'fast' }],
    ['Go bool spellings', { enabled: 'F' }, { enabled: false }],
    ['Go bool spellings (1)', { enabled: '1' }, { enabled: true }],
    ['floats as JSON numbers', { ratio: '-1.5e2' }, { ratio: -150 }],
    ['duration in ms', { timeout: '1500' }, { timeout: 1500 }],
    ['duration as Go string', { timeout: '1m30s' }, { timeout: 90_000 }],
    ['list from the alternate name', { hosts: 'a, b,,c ' }, { hosts: ['a', 'b', 'c'] }],
    ['map', { headers: 'X-A=1, X-B = two=2' }, { headers: { 'X-A': '1', 'X-B': 'two=2' } }],
  ])('%s', (_title, metadata, expected) => {
    const parsed = parseMetadata(schema, input({ ...base, ...metadata }));
    expect(parsed.errors).toEqual([]);
    expect(parsed.values).toMatchObject(expected);
  });

  it.each([
    ['integer with junk', { count: '5x' }, 'unable to set param "count" value "5x": not an integer'],
    ['fraction into an integer', { count: '1.5' }, 'unable to set param "count" value "1.5": not an integer'],
    ['leading plus', { count: '+3' }, 'unable to set param "count" value "+3": not an integer'],
    ['float with junk', { ratio: '0.5.1' }, 'unable to set param "ratio" value "0.5.1": not a number'],
    ['NaN is not a JSON number', { ratio: 'NaN' }, 'unable to set param "ratio" value "NaN": not a number'],
    ['bool', { enabled: 'yes' }, 'unable to set param "enabled" value "yes": not a boolean'],
    ['enum', { mode: 'medium' }, 'parameter "mode" value "medium" must be one of [fast slow]'],
    ['negative duration', { timeout: '-5s' }, 'unable to set param "timeout" value "-5s": duration must not be negative'],
    ['bad map', { headers: 'a=1,b' }, 'unable to set param "headers" value "a=1,b": expected format key=value, got "b"'],
  ])('rejects %s', (_title, metadata, error) => {
    expect(parseMetadata(schema, input({ ...base, ...metadata })).errors).toEqual([error]);
  });

  it('reports every missing required field with its lookup order, all at once', () => {
    const parsed = parseMetadata(schema, input({ count: 'x' }));
    expect(parsed.errors).toEqual([
      'missing required parameter "name" in [triggerMetadata]',
      'unable to set param "count" value "x": not an integer',
      'missing required parameter "region" in [triggerMetadata authParams]',
    ]);
    expect([...parsed.unresolved].sort()).toEqual(['count', 'name', 'region']);
  });

  it('ignores unknown keys', () => {
    expect(parseMetadata(schema, input({ ...base, surprise: 'x' })).errors).toEqual([]);
  });

  it('searches sources in the declared order', () => {
    const fromMeta = parseMetadata(schema, input({ name: 'n', region: 'meta' }, { authParams: { region: 'auth' } }));
    expect(fromMeta.values.region).toBe('meta');
    const fromAuth = parseMetadata(schema, input({ name: 'n', region: ' ' }, { authParams: { region: 'auth' } }));
    expect(fromAuth.values.region).toBe('auth');
  });

  it('reads <name>FromEnv through the container env', () => {
    const parsed = parseMetadata(schema, input({ ...base, queueFromEnv: 'QUEUE_URL' }, { resolvedEnv: { QUEUE_URL: ' q1 ' } }));
    expect(parsed.values.queue).toBe('q1');
    const missing = parseMetadata(schema, input({ ...base, queueFromEnv: 'NOPE' }));
    expect(missing.values.queue).toBeUndefined();
  });

  it('never echoes a secret value in an error', () => {
    const parsed = parseMetadata(schema, input(base, { authParams: { password: 'hunter2' } }));
    expect(parsed.errors).toEqual(['unable to set param "password" value "<redacted>": not an integer']);
  });

  it('offline: env references and auth parameters behind an authenticationRef count as present but unknown', () => {
    const parsed = parseMetadata(schema, {
      ...input({ name: 'n', queueFromEnv: 'Q' }),
      offline: { authParamsUnknown: true },
    });
    expect(parsed.errors).toEqual([]);
    expect(parsed.unresolved).toEqual(new Set(['region', 'queue', 'password']));
  });

  it('offline without an authenticationRef still requires auth-only fields', () => {
    const parsed = parseMetadata(schema, { ...input({ name: 'n' }), offline: { authParamsUnknown: false } });
    expect(parsed.errors).toEqual(['missing required parameter "region" in [triggerMetadata authParams]']);
  });
});

describe('checkRules', () => {
  const rules = [{ fields: ['count', 'region'] as const, check: (v: { count: number }) => (v.count > 3 ? 'count too big' : undefined) }];
  it('runs rules on known values and skips those reading unresolved fields', () => {
    expect(checkRules(parseMetadata(schema, input(base)), [...rules])).toEqual(['count too big']);
    const offline = parseMetadata(schema, { ...input({ name: 'n' }), offline: { authParamsUnknown: true } });
    expect(checkRules(offline, [...rules])).toEqual([]);
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['0', 0],
    ['250ms', 250],
    ['1.5s', 1500],
    ['2h45m', 9_900_000],
    ['1000us', 1],
  ])('%s', (raw, ms) => expect(parseDurationMs(raw)).toBe(ms));
  it.each(['1x', 's', '1s2', '--1s', '1.5.5s'])('rejects %s', (raw) => expect(() => parseDurationMs(raw)).toThrow());
});
