import { describe, expect, it } from 'vitest';
import { createKedaValidator } from './validator.js';
import { compileKedaSchemas } from './schema-validation.js';

type Doc = Record<string, unknown>;

function scaledObject(spec: Doc = {}, metadata: Doc = {}): Doc {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'orders', namespace: 'shop', ...metadata },
    spec: { scaleTargetRef: { name: 'orders-worker' }, triggers: [{ type: 'redis', name: 'queue', metadata: { listName: 'orders' } }], ...spec },
  };
}

const validator = createKedaValidator();
const errorsOf = (doc: unknown) => validator.validate(doc)?.errors ?? [];
const warningsOf = (doc: unknown) => validator.validate(doc)?.warnings ?? [];

describe('ScaledObject semantic validation', () => {
  const cpu = { type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } };
  const redis = (name?: string) => ({ type: 'redis', ...(name ? { name } : {}), metadata: { listName: 'l' } });
  it.each<[string, Doc, Doc, { path: string; message: RegExp }[]]>([
    ['a plain valid object', {}, {}, []],
    [
      'min above max',
      { minReplicaCount: 5, maxReplicaCount: 2 },
      {},
      [{ path: 'spec.minReplicaCount', message: /MinReplicaCount=5 must be less than MaxReplicaCount=2/ }],
    ],
    ['min above the default max', { minReplicaCount: 150 }, {}, [{ path: 'spec.minReplicaCount', message: /MaxReplicaCount=100/ }]],
    [
      'idle equal to min',
      { idleReplicaCount: 2, minReplicaCount: 2 },
      {},
      [{ path: 'spec.idleReplicaCount', message: /IdleReplicaCount=2 must be less than MinReplicaCount=2/ }],
    ],
    ['idle 0 with min 0 (KEDA compares with max(min,1))', { idleReplicaCount: 0 }, {}, []],
    ['idle 1 with min 0', { idleReplicaCount: 1 }, {}, [{ path: 'spec.idleReplicaCount', message: /must be less than MinReplicaCount=1/ }]],
    [
      'duplicate trigger names',
      { triggers: [redis('q'), redis('q')] },
      {},
      [{ path: 'spec.triggers[1].name', message: /triggerName "q" is defined multiple times/ }],
    ],
    ['unnamed triggers are not duplicates', { triggers: [redis(), redis()] }, {}, []],
    [
      'useCachedMetrics on cpu',
      { minReplicaCount: 1, triggers: [{ ...cpu, useCachedMetrics: true }] },
      {},
      [{ path: 'spec.triggers[0].useCachedMetrics', message: /not supported for "cpu" scaler/ }],
    ],
    [
      'useCachedMetrics on cron',
      { triggers: [{ type: 'cron', useCachedMetrics: true, metadata: {} }] },
      {},
      [{ path: 'spec.triggers[0].useCachedMetrics', message: /"cron"/ }],
    ],
    [
      'Utilization on an external scaler',
      { triggers: [{ ...redis(), metricType: 'Utilization' }] },
      {},
      [{ path: 'spec.triggers[0].metricType', message: /'Utilization' metric type is unsupported for external metrics/ }],
    ],
    [
      'Value on memory',
      { minReplicaCount: 1, triggers: [{ type: 'memory', metricType: 'Value', metadata: {} }] },
      {},
      [{ path: 'spec.triggers[0].metricType', message: /"Value" is not supported for the memory scaler/ }],
    ],
    ['only cpu with min 0', { triggers: [cpu] }, {}, [{ path: 'spec.minReplicaCount', message: /only cpu\/memory triggers AND minReplica is 0/ }]],
    ['only cpu with min 1', { minReplicaCount: 1, triggers: [cpu] }, {}, []],
    [
      'fallback with only cpu triggers',
      { minReplicaCount: 1, triggers: [cpu], fallback: { failureThreshold: 3, replicas: 2 } },
      {},
      [{ path: 'spec.fallback', message: /at least one trigger that is not cpu or memory/ }],
    ],
    ['fallback with a redis trigger', { fallback: { failureThreshold: 3, replicas: 2 } }, {}, []],
    [
      'fallback behavior scalingModifiers without formula',
      { fallback: { failureThreshold: 3, replicas: 2, behavior: 'scalingModifiers' } },
      {},
      [{ path: 'spec.fallback.behavior', message: /requires spec.advanced.scalingModifiers.formula/ }],
    ],
    [
      'formula without target',
      { advanced: { scalingModifiers: { formula: 'queue * 2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.target', message: /formula is given but target is empty/ }],
    ],
    [
      'non-positive target',
      { advanced: { scalingModifiers: { formula: 'queue', target: '0' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.target', message: /greater than 0/ }],
    ],
    [
      'target without formula',
      { advanced: { scalingModifiers: { target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /formula is required/ }],
    ],
    [
      'formula naming a missing trigger',
      { advanced: { scalingModifiers: { formula: 'queue + other', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /"other"/ }],
    ],
    [
      'formula with functions and literals',
      { advanced: { scalingModifiers: { formula: 'max(queue, 2.5) > 1 ? queue : 0', target: '2', activationTarget: '1.5' } } },
      {},
      [],
    ],
    [
      'formula with expr-lang word operators',
      { triggers: [redis('a'), redis('b')], advanced: { scalingModifiers: { formula: 'a > 1 and not (b < 0 or a == b) ? a ^ 2 : b ?? 0', target: '2' } } },
      {},
      [],
    ],
    [
      'formula that does not parse',
      { advanced: { scalingModifiers: { formula: '(queue + ', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /cannot parse "\(queue \+"/ }],
    ],
    [
      'formula naming an unnamed trigger',
      { triggers: [redis()], advanced: { scalingModifiers: { formula: 'redis * 2', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /unknown name "redis": no trigger has a name/ }],
    ],
    [
      'formula naming a cpu trigger',
      { triggers: [redis('queue'), { ...cpu, name: 'load' }], advanced: { scalingModifiers: { formula: 'queue + load', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /unknown name "load": the triggers it can use are "queue"/ }],
    ],
    [
      'formula with a boolean result',
      { advanced: { scalingModifiers: { formula: 'queue > 5', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /must produce a number, not a boolean/ }],
    ],
    [
      'formula treating a number as a boolean',
      { advanced: { scalingModifiers: { formula: 'queue && 1', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /&& needs true or false, got a number/ }],
    ],
    [
      'formula calling an unknown function',
      { advanced: { scalingModifiers: { formula: 'sqrt(queue)', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /unknown function "sqrt"/ }],
    ],
    [
      'formula reaching for a property',
      { advanced: { scalingModifiers: { formula: 'queue.constructor', target: '2' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.formula', message: /not supported/ }],
    ],
    ['fractional target is allowed', { advanced: { scalingModifiers: { formula: 'queue', target: '0.5' } } }, {}, []],
    [
      'a target that rounds to 0 milli-units',
      { advanced: { scalingModifiers: { formula: 'queue', target: '0.0004' } } },
      {},
      [{ path: 'spec.advanced.scalingModifiers.target', message: /"target" must be at least 0.001/ }],
    ],
    [
      'a negative HPA tolerance',
      { advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { tolerance: '-100m' } } } } },
      {},
      [{ path: 'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.tolerance', message: /must be greater than or equal to 0 \(is -100m\)/ }],
    ],
    ['a zero HPA tolerance', { advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleUp: { tolerance: 0 } } } } }, {}, []],
    [
      'unparsable target and activationTarget',
      { advanced: { scalingModifiers: { formula: 'queue', target: 'five', activationTarget: 'x' } } },
      {},
      [
        { path: 'spec.advanced.scalingModifiers.target', message: /"five" must be a number greater than 0/ },
        { path: 'spec.advanced.scalingModifiers.activationTarget', message: /"x" must be a number/ },
      ],
    ],
    [
      'unparsable paused-replicas',
      {},
      { annotations: { 'autoscaling.keda.sh/paused-replicas': 'three' } },
      [{ path: 'metadata.annotations["autoscaling.keda.sh/paused-replicas"]', message: /not an integer/ }],
    ],
    [
      'negative paused-replicas',
      {},
      { annotations: { 'autoscaling.keda.sh/paused-replicas': '-1' } },
      [{ path: 'metadata.annotations["autoscaling.keda.sh/paused-replicas"]', message: /negative/ }],
    ],
    [
      'over-long name',
      {},
      { name: 'x'.repeat(64) },
      [
        { path: 'metadata.name', message: /no more than 63/ },
        { path: 'metadata.name', message: /HPA name/ },
      ],
    ],
    ['name too long for the derived HPA name', {}, { name: 'x'.repeat(60) }, [{ path: 'metadata.name', message: /HPA name "keda-hpa-x+"/ }]],
    [
      'custom HPA name that is not a DNS name',
      { advanced: { horizontalPodAutoscalerConfig: { name: 'My_HPA' } } },
      {},
      [{ path: 'spec.advanced.horizontalPodAutoscalerConfig.name', message: /RFC 1123/ }],
    ],
  ])('%s', (_name, spec, metadata, expected) => {
    const errors = errorsOf(scaledObject(spec, metadata));
    expect(errors).toHaveLength(expected.length);
    expected.forEach((e, i) => {
      expect(errors[i]?.path).toBe(e.path);
      expect(errors[i]?.message).toMatch(e.message);
    });
  });

  it.each<[string, Doc, Doc, string[]]>([
    ['pollingInterval with min > 0', { minReplicaCount: 1, pollingInterval: 10 }, {}, ['spec.pollingInterval']],
    ['cooldownPeriod with min > 0', { minReplicaCount: 1, cooldownPeriod: 10 }, {}, ['spec.cooldownPeriod']],
    ['timers with idle mode', { minReplicaCount: 1, idleReplicaCount: 0, pollingInterval: 10, cooldownPeriod: 10 }, {}, []],
    ['unparsable paused value', {}, { annotations: { 'autoscaling.keda.sh/paused': 'yes' } }, ['metadata.annotations["autoscaling.keda.sh/paused"]']],
    [
      'unparsable scale-in value',
      {},
      { annotations: { 'autoscaling.keda.sh/paused-scale-in': 'on' } },
      ['metadata.annotations["autoscaling.keda.sh/paused-scale-in"]'],
    ],
    [
      'fallback with a fractional modifier target',
      { fallback: { failureThreshold: 1, replicas: 1 }, advanced: { scalingModifiers: { formula: 'queue', target: '1.5' } } },
      {},
      ['spec.fallback'],
    ],
  ])('warns about %s', (_name, spec, metadata, paths) => {
    expect(warningsOf(scaledObject(spec, metadata)).map((w) => w.path)).toEqual(paths);
  });
});

describe('schema validation', () => {
  it.each<[string, unknown, { path: string; message: RegExp }[]]>([
    ['missing scaleTargetRef.name', scaledObject({ scaleTargetRef: {} }), [{ path: 'spec.scaleTargetRef.name', message: /required field is missing/ }]],
    ['empty triggers', scaledObject({ triggers: [] }), [{ path: 'spec.triggers', message: /1/ }]],
    ['fractional pollingInterval', scaledObject({ pollingInterval: 1.5 }), [{ path: 'spec.pollingInterval', message: /integer/ }]],
    ['zero pollingInterval', scaledObject({ pollingInterval: 0 }), [{ path: 'spec.pollingInterval', message: /greater or equal to 1/ }]],
    ['misspelt field', scaledObject({ minReplicas: 1 }), [{ path: 'spec.minReplicas', message: /unknown field/ }]],
    [
      'non-string metadata value',
      scaledObject({ triggers: [{ type: 'redis', metadata: { listLength: 5 } }] }),
      [{ path: 'spec.triggers[0].metadata.listLength', message: /string/ }],
    ],
    [
      'Utilization for scalingModifiers',
      scaledObject({ advanced: { scalingModifiers: { formula: 'queue', target: '2', metricType: 'Utilization' } } }),
      [{ path: 'spec.advanced.scalingModifiers.metricType', message: /must be one of/ }],
    ],
    [
      'unknown fallback behavior',
      scaledObject({ fallback: { failureThreshold: 1, replicas: 1, behavior: 'sometimes' } }),
      [{ path: 'spec.fallback.behavior', message: /must be one of: "static"/ }],
    ],
    [
      'bad authenticationRef kind',
      scaledObject({ triggers: [{ type: 'redis', metadata: {}, authenticationRef: { name: 'a', kind: 'Secret' } }] }),
      [{ path: 'spec.triggers[0].authenticationRef.kind', message: /TriggerAuthentication/ }],
    ],
    [
      'bad HPA tolerance',
      scaledObject({ advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleUp: { tolerance: true } } } } }),
      [{ path: 'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.tolerance', message: /integer or a quantity/ }],
    ],
    [
      'unknown keda.sh kind',
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObjekt', metadata: { name: 'x' } },
      [{ path: 'kind', message: /unknown kind "ScaledObjekt"/ }],
    ],
    [
      'other keda.sh version',
      { apiVersion: 'keda.sh/v1', kind: 'ScaledObject', metadata: { name: 'x' } },
      [{ path: 'apiVersion', message: /unsupported apiVersion/ }],
    ],
  ])('reports %s', (_name, doc, expected) => {
    const errors = errorsOf(doc);
    expect(errors.map((e) => e.path)).toEqual(expected.map((e) => e.path));
    expected.forEach((e, i) => expect(errors[i]?.message).toMatch(e.message));
  });

  it('skips documents outside keda.sh', () => {
    expect(validator.validate({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } })).toBeUndefined();
    expect(validator.validate('just a string')).toBeUndefined();
  });

  it('reports every schema error at once', () => {
    expect(
      errorsOf(scaledObject({ scaleTargetRef: {}, minReplicaCount: -1, cooldownPeriod: 'long' }))
        .map((e) => e.path)
        .sort(),
    ).toEqual(['spec.cooldownPeriod', 'spec.minReplicaCount', 'spec.scaleTargetRef.name']);
  });
});

describe('ScaledJob and TriggerAuthentication validation', () => {
  const job = (spec: Doc): Doc => ({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name: 'render' },
    spec: { jobTargetRef: { template: { spec: { containers: [{ name: 'c', image: 'i' }] } } }, triggers: [{ type: 'aws-sqs-queue', metadata: {} }], ...spec },
  });
  const auth = (kind: string, spec: Doc): Doc => ({ apiVersion: 'keda.sh/v1alpha1', kind, metadata: { name: 'creds' }, spec });

  it.each<[string, Doc, string[]]>([
    ['a valid ScaledJob', job({}), []],
    ['a cpu trigger on a ScaledJob', job({ triggers: [{ type: 'cpu', metadata: {} }] }), ['spec.triggers[0].type']],
    [
      'duplicate trigger names on a ScaledJob',
      job({
        triggers: [
          { type: 'redis', name: 'a', metadata: {} },
          { type: 'redis', name: 'a', metadata: {} },
        ],
      }),
      ['spec.triggers[1].name'],
    ],
    ['a missing jobTargetRef template', job({ jobTargetRef: {} }), ['spec.jobTargetRef.template']],
    ['an unknown strategy', job({ scalingStrategy: { strategy: 'fastest' } }), ['spec.scalingStrategy.strategy']],
    ['filePath on a namespaced TriggerAuthentication', auth('TriggerAuthentication', { filePath: '/auth.json' }), ['spec.filePath']],
    ['filePath on a ClusterTriggerAuthentication', auth('ClusterTriggerAuthentication', { filePath: '/auth.json' }), []],
    [
      'azure-workload authority host without tenant',
      auth('TriggerAuthentication', { podIdentity: { provider: 'azure-workload', identityAuthorityHost: 'h' } }),
      ['spec.podIdentity.identityAuthorityHost'],
    ],
    [
      'aws roleArn with workload identity owner',
      auth('TriggerAuthentication', { podIdentity: { provider: 'aws', roleArn: 'arn', identityOwner: 'workload' } }),
      ['spec.podIdentity.roleArn'],
    ],
    ['aws externalID without roleArn', auth('TriggerAuthentication', { podIdentity: { provider: 'aws', externalID: 'x' } }), ['spec.podIdentity.externalID']],
    ['unknown pod identity provider', auth('TriggerAuthentication', { podIdentity: { provider: 'kiam' } }), ['spec.podIdentity.provider']],
    [
      'oauth2 with another grant type',
      auth('TriggerAuthentication', { oauth2: { type: 'password', clientId: 'c', tokenUrl: 'ftp://x' } }),
      ['spec.oauth2.type', 'spec.oauth2.tokenUrl'],
    ],
    [
      'secretTargetRef without key',
      auth('TriggerAuthentication', { secretTargetRef: [{ parameter: 'password', name: 's' }] }),
      ['spec.secretTargetRef[0].key'],
    ],
  ])('%s', (_name, doc, paths) => {
    expect(errorsOf(doc).map((e) => e.path)).toEqual(paths);
  });

  it('adds trigger metadata errors from the injected scaler check', () => {
    const withTriggers = createKedaValidator({ validateTrigger: (t) => (t.metadata.listName ? [] : ['missing required parameter "listName"']) });
    const result = withTriggers.validate(
      scaledObject({
        triggers: [
          { type: 'redis', metadata: { listName: 'a' } },
          { type: 'redis', metadata: {} },
        ],
      }),
    );
    expect(result?.valid).toBe(false);
    expect(result?.errors).toEqual([{ path: 'spec.triggers[1]', message: 'missing required parameter "listName"' }]);
  });
});

describe('field paths never echo a key that is not a field name', () => {
  const schemas = compileKedaSchemas();
  const secret = 'planted-7f3a9c2e1b';
  it.each([
    ['a value merged into its key', `to"${secret}`],
    ['a key that is one long token', 'ghp' + '0123456789abcdefghij'.repeat(3)],
    ['a key with spaces', `token ${secret}`],
  ])('%s', (_case, key) => {
    const result = schemas.TriggerAuthentication({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'TriggerAuthentication',
      metadata: { name: 'creds', namespace: 'shop' },
      spec: { hashiCorpVault: { address: 'http://vault:8200', authentication: 'token', credential: { [key]: 'x' }, secrets: [] } },
    });
    expect(result.ok).toBe(false);
    const paths = result.ok ? [] : result.errors.map((e) => e.path);
    expect(paths).toContain(`spec.hashiCorpVault.credential[a key of ${key.length} characters]`);
    expect(JSON.stringify(result)).not.toContain(key.slice(3, 20));
  });

  it('still names a misspelt field', () => {
    const result = schemas.TriggerAuthentication({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'TriggerAuthentication',
      metadata: { name: 'creds', namespace: 'shop' },
      spec: { hashiCorpVault: { address: 'http://vault:8200', authentication: 'token', credential: { tokn: 'x' }, secrets: [] } },
    });
    expect(result.ok ? [] : result.errors.map((e) => e.path)).toContain('spec.hashiCorpVault.credential.tokn');
  });
});
