import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { createLogger } from '../../log.js';
import type { MetricReading, Scaler } from '../../../scalers/scaler.js';
import type { EventRecorder } from '../events.js';
import { FakeKubeClient } from '../../kube/fake-client.js';
import { LastReadings } from './last-readings.js';
import { OperatorMetrics } from '../metrics.js';
import { ReadyPods } from './ready-pods.js';
import { sleep } from '../../controller/clock.js';
import { FakeClock } from '../../controller/fake-clock.js';
import { PollScheduler } from '../../controller/poll-scheduler.js';
import { SharedReads } from '../../../scalers/shared-reads.js';
import { hpaActiveCondition, loopConditions, reuseWindowMs, ScaleLoop } from './scale-loop.js';
import { ScaleTargets } from './scale-target.js';
import { ScalersCache } from '../scalers-cache.js';
import { StatusWriter } from './status-writer.js';

const soPath = '/apis/keda.sh/v1alpha1/namespaces/app/scaledobjects/orders';
const deployPath = '/apis/apps/v1/namespaces/app/deployments/web';
const now = Date.parse('2026-06-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

type Source = () => MetricReading;

function scaledObject(spec: Partial<ScaledObject['spec']>, status: ScaledObject['status'] = {}): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'orders', namespace: 'app', uid: 'u1', creationTimestamp: iso(now - 3_600_000), generation: 1 },
    spec: { scaleTargetRef: { name: 'web' }, cooldownPeriod: 300, triggers: [{ type: 'fake', metadata: {} }], ...spec },
    status: { scaleTargetGVKR: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' }, ...status },
  };
}

interface Harness {
  client: FakeKubeClient;
  events: string[];
  poll(): Promise<void>;
  status(): NonNullable<ScaledObject['status']>;
  replicas(): number;
}

async function harness(so: ScaledObject, replicas: number, source: Source, clock: () => number = () => now): Promise<Harness> {
  const client = new FakeKubeClient();
  client.put(soPath, so);
  client.put(deployPath, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas } });
  const log = createLogger({ level: 'silent' });
  const scaler: Scaler = {
    metricSpecs: [{ kind: 'External', metricName: 's0-fake', targetType: 'AverageValue', target: 1 }],
    read: () => Promise.resolve().then(source),
    close: () => Promise.resolve(),
  };
  const scalers = new ScalersCache({ factory: () => scaler, log });
  await scalers.ensure('app/orders', { namespace: 'app', triggers: so.spec.triggers, auth: [{ params: {}, warnings: [] }], env: {} });
  const events: string[] = [];
  const recorder: EventRecorder = { emit: (_o, _t, reason) => void events.push(reason) };
  const loop = new ScaleLoop({
    log,
    now: clock,
    scaledObjects: { get: () => client.get(soPath) as unknown as ScaledObject, list: () => [] },
    scalers,
    targets: new ScaleTargets(client),
    readyPods: new ReadyPods(client),
    status: new StatusWriter(client),
    events: recorder,
    metrics: new OperatorMetrics(new Registry(), 'test', () => []),
    readings: new LastReadings(),
    hpas: { get: () => undefined, list: () => [] },
  });
  return {
    client,
    events,
    poll: () => loop.poll('app/orders'),
    status: () => (client.get(soPath) as unknown as ScaledObject).status ?? {},
    replicas: () => (client.get(deployPath) as { spec: { replicas: number } }).spec.replicas,
  };
}

const active: Source = () => ({ value: 5, active: true });
const idle: Source = () => ({ value: 0, active: false });
const failing: Source = () => {
  throw new Error('connection refused');
};

function condition(status: NonNullable<ScaledObject['status']>, type: string): string {
  const c = status.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason ?? ''}` : 'absent';
}

describe('ScaleLoop.poll', () => {
  let h: Harness;

  describe.each([
    {
      name: 'activates from zero',
      so: scaledObject({}),
      replicas: 0,
      source: active,
      expectReplicas: 1,
      active: 'True/ScalerActive',
      event: 'KEDAScaleTargetActivated',
      lastActive: iso(now),
    },
    {
      name: 'activates to minReplicaCount with idle mode',
      so: scaledObject({ minReplicaCount: 3, idleReplicaCount: 0 }),
      replicas: 0,
      source: active,
      expectReplicas: 3,
      active: 'True/ScalerActive',
      event: 'KEDAScaleTargetActivated',
      lastActive: iso(now),
    },
    {
      name: 'leaves a running target to the HPA',
      so: scaledObject({}),
      replicas: 4,
      source: active,
      expectReplicas: 4,
      active: 'True/ScalerActive',
      event: undefined,
      lastActive: iso(now),
    },
    {
      name: 'scales to zero after the cooldown',
      so: scaledObject({}, { lastActiveTime: iso(now - 301_000) }),
      replicas: 3,
      source: idle,
      expectReplicas: 0,
      active: 'False/ScalerNotActive',
      event: 'KEDAScaleTargetDeactivated',
      lastActive: iso(now - 301_000),
    },
    {
      name: 'scales to idle, not to zero',
      so: scaledObject({ minReplicaCount: 2, idleReplicaCount: 1 }, { lastActiveTime: iso(now - 301_000) }),
      replicas: 2,
      source: idle,
      expectReplicas: 1,
      active: 'False/ScalerNotActive',
      event: 'KEDAScaleTargetDeactivated',
      lastActive: iso(now - 301_000),
    },
    {
      name: 'waits out the cooldown',
      so: scaledObject({}, { lastActiveTime: iso(now - 10_000) }),
      replicas: 3,
      source: idle,
      expectReplicas: 3,
      active: 'False/ScalerCooldown',
      event: undefined,
      lastActive: iso(now - 10_000),
    },
    {
      name: 'never scales down because a trigger errs',
      so: scaledObject({}, { lastActiveTime: iso(now - 999_000) }),
      replicas: 3,
      source: failing,
      expectReplicas: 3,
      active: 'False/ScalerNotActive',
      event: 'KEDAScalerFailed',
      lastActive: iso(now - 999_000),
    },
  ])('$name', ({ so, replicas, source, expectReplicas, active: activeCondition, event, lastActive }) => {
    beforeEach(async () => {
      h = await harness(so, replicas, source);
      await h.poll();
    });
    it('writes /scale only when the decision says so', () => {
      expect(h.replicas()).toBe(expectReplicas);
      const scaleWrites = h.client.writes().filter((c) => c.path.endsWith('/scale'));
      expect(scaleWrites).toHaveLength(expectReplicas === replicas ? 0 : 1);
    });
    it('records Active and lastActiveTime in status', () => {
      expect(condition(h.status(), 'Active')).toBe(activeCondition);
      expect(h.status().lastActiveTime).toBe(lastActive);
    });
    it('emits the event', () => {
      if (event) expect(h.events).toContain(event);
      else expect(h.events).toEqual([]);
    });
  });

  describe('with activation-replicas "demand"', () => {
    const annotated = (so: ScaledObject, extra: Record<string, string> = {}): ScaledObject => ({
      ...so,
      metadata: { ...so.metadata, annotations: { 'scaledobject.swell.dev/activation-replicas': 'demand', ...extra } },
    });
    const backlog =
      (value: number): Source =>
      () => ({ value, active: true });
    it.each([
      ['activates from zero to the count the backlog needs', scaledObject({}), 0, 50, 50],
      ['never beyond maxReplicaCount', scaledObject({ maxReplicaCount: 30 }), 0, 50, 30],
      ['from idle, to the larger of the backlog and minReplicaCount', scaledObject({ minReplicaCount: 3, idleReplicaCount: 0 }), 0, 50, 50],
      ['a small backlog still gets minReplicaCount', scaledObject({ minReplicaCount: 3, idleReplicaCount: 0 }), 0, 2, 3],
      ['leaves a running target to the HPA', scaledObject({}), 4, 50, 4],
      [
        'holds the first step to a scale-up policy the user wrote',
        scaledObject({ advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 9, periodSeconds: 15 }] } } } } }),
        0,
        50,
        10,
      ],
    ])('%s', async (_name, so, replicas, value, expected) => {
      h = await harness(annotated(so), replicas, backlog(value));
      await h.poll();
      expect(h.replicas()).toBe(expected);
      expect(h.client.writes().filter((c) => c.path.endsWith('/scale'))).toHaveLength(expected === replicas ? 0 : 1);
      if (replicas === 0) expect(h.events).toContain('KEDAScaleTargetActivated');
    });

    it('does not activate while scale-out is paused', async () => {
      h = await harness(annotated(scaledObject({}), { 'autoscaling.keda.sh/paused-scale-out': 'true' }), 0, backlog(50));
      await h.poll();
      expect(h.replicas()).toBe(0);
    });

    it("activates to KEDA's count when the annotation holds an unknown value", async () => {
      h = await harness(annotated(scaledObject({}), { 'scaledobject.swell.dev/activation-replicas': 'everything' }), 0, backlog(50));
      await h.poll();
      expect(h.replicas()).toBe(1);
    });
  });

  it('reports TriggerError when a trigger fails without fallback', async () => {
    h = await harness(scaledObject({}), 2, failing);
    await h.poll();
    expect(condition(h.status(), 'Ready')).toBe('False/TriggerError');
    expect(h.status().health).toBeUndefined();
  });

  it('counts failures in status.health across polls and activates fallback past the threshold', async () => {
    h = await harness(scaledObject({ fallback: { failureThreshold: 2, replicas: 6 } }), 0, failing);
    const failures: (number | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      await h.poll();
      failures.push(h.status().health?.['s0-fake']?.numberOfFailures);
    }
    expect(failures).toEqual([1, 2, 3]);
    expect(condition(h.status(), 'Fallback')).toBe('True/FallbackExists');
    expect(h.events).toContain('ScaledObjectFallbackActivated');
    // Fallback counts as active, so a target at zero is woken for the HPA to take it to fallback.replicas.
    expect(h.replicas()).toBe(1);
  });

  it('resets health when the source recovers', async () => {
    h = await harness(
      scaledObject({ fallback: { failureThreshold: 1, replicas: 2 } }, { health: { 's0-fake': { numberOfFailures: 4, status: 'Failing' } } }),
      2,
      active,
    );
    await h.poll();
    expect(h.status().health).toEqual({ 's0-fake': { numberOfFailures: 0, status: 'Happy' } });
    expect(condition(h.status(), 'Fallback')).toBe('False/NoFallbackFound');
  });

  it('does nothing while paused', async () => {
    const so = scaledObject({});
    so.metadata.annotations = { 'autoscaling.keda.sh/paused': 'true' };
    h = await harness(so, 0, active);
    await h.poll();
    expect(h.client.writes()).toEqual([]);
  });

  it('while active, writes lastActiveTime once per step (a tenth of the cooldown), and exactly when the object turns inactive', async () => {
    let t = now;
    let source = active;
    h = await harness(
      scaledObject({ cooldownPeriod: 300 }),
      4,
      () => source(),
      () => t,
    );
    const statusWrites = () => h.client.writes().filter((w) => w.path.endsWith('/status')).length;
    for (; t <= now + 29_000; t += 1_000) await h.poll();
    expect(statusWrites()).toBe(1);
    expect(h.status().lastActiveTime).toBe(iso(now));
    for (; t <= now + 34_000; t += 1_000) await h.poll();
    expect(statusWrites()).toBe(2);
    expect(h.status().lastActiveTime).toBe(iso(now + 30_000));
    source = idle;
    await h.poll(); // at now + 35 s: the last active poll was at now + 34 s
    expect(condition(h.status(), 'Active')).toBe('False/ScalerCooldown');
    expect(Date.parse(h.status().lastActiveTime ?? '')).toBeGreaterThanOrEqual(now + 34_000);
  });

  it('after a restart, cooldown from a lastActiveTime stored while active counts a step later, never earlier than KEDA', async () => {
    // The operator stopped while the object was active; its last write was up to a step before its last active poll.
    const so = scaledObject(
      { cooldownPeriod: 300 },
      { lastActiveTime: iso(now - 310_000), conditions: [{ type: 'Active', status: 'True', reason: 'ScalerActive', message: '' }] },
    );
    h = await harness(so, 3, idle);
    await h.poll();
    expect(h.replicas()).toBe(3);
    expect(condition(h.status(), 'Active')).toBe('False/ScalerCooldown');
    expect(h.status().lastActiveTime).toBe(iso(now - 280_000));
    const later = await harness(
      scaledObject(
        { cooldownPeriod: 300 },
        { lastActiveTime: iso(now - 331_000), conditions: [{ type: 'Active', status: 'True', reason: 'ScalerActive', message: '' }] },
      ),
      3,
      idle,
    );
    await later.poll();
    expect(later.replicas()).toBe(0);
  });

  it('writes status only when it changed', async () => {
    h = await harness(scaledObject({}, { lastActiveTime: iso(now - 10_000) }), 3, idle);
    await h.poll();
    const afterFirst = h.client.writes().length;
    await h.poll();
    expect(h.client.writes().length).toBe(afterFirst);
  });
});

describe('hpaActiveCondition', () => {
  const hpa = (status: string, reason: string) => ({ status: { conditions: [{ type: 'ScalingActive', status, reason, message: 'm' }] } }) as never;
  it.each([
    { name: 'no HPA yet', hpa: undefined, expected: undefined },
    { name: 'scaling', hpa: hpa('True', 'ValidMetricFound'), expected: 'True/HPAActive' },
    { name: 'target at zero is healthy', hpa: hpa('False', 'ScalingDisabled'), expected: 'True/ScalingDisabled' },
    { name: 'metrics missing', hpa: hpa('False', 'FailedGetExternalMetric'), expected: 'False/FailedGetExternalMetric' },
  ])('$name', ({ hpa: observed, expected }) => {
    const c = hpaActiveCondition(observed);
    expect(c ? `${c.status}/${c.reason}` : undefined).toBe(expected);
  });
});

describe('ScaleLoop.poll with scalingModifiers', () => {
  const named = (name: string) => ({ type: 'fake', name, metadata: {} });
  const value =
    (v: number): Source =>
    () => ({ value: v, active: v > 0 });

  /** Two (or more) triggers, each publishing s<index>-fake and read from its own source. */
  async function composite(spec: Partial<ScaledObject['spec']>, replicas: number, sources: Source[], status: ScaledObject['status'] = {}) {
    const client = new FakeKubeClient();
    const so = scaledObject(spec, status);
    client.put(soPath, so);
    client.put(deployPath, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas } });
    const log = createLogger({ level: 'silent' });
    const scalers = new ScalersCache({
      log,
      factory: ({ triggerIndex }) => ({
        metricSpecs: [{ kind: 'External', metricName: `s${triggerIndex}-fake`, targetType: 'AverageValue', target: 1 }],
        read: () => Promise.resolve().then(sources[triggerIndex] ?? failing),
        close: () => Promise.resolve(),
      }),
    });
    await scalers.ensure('app/orders', {
      namespace: 'app',
      triggers: so.spec.triggers,
      auth: so.spec.triggers.map(() => ({ params: {}, warnings: [] })),
      env: {},
    });
    const events: string[] = [];
    const registry = new Registry();
    const loop = new ScaleLoop({
      log,
      now: () => now,
      scaledObjects: { get: () => client.get(soPath) as unknown as ScaledObject, list: () => [] },
      scalers,
      targets: new ScaleTargets(client),
      readyPods: new ReadyPods(client),
      status: new StatusWriter(client),
      events: { emit: (_o, _t, reason, message) => void events.push(`${reason}: ${message}`) },
      metrics: new OperatorMetrics(registry, 'test', () => []),
      readings: new LastReadings(),
      hpas: { get: () => undefined, list: () => [] },
    });
    await loop.poll('app/orders');
    return {
      events,
      status: () => (client.get(soPath) as unknown as ScaledObject).status ?? {},
      replicas: () => (client.get(deployPath) as { spec: { replicas: number } }).spec.replicas,
      series: async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.map((v) => ({ scaler: v.labels.scaler, value: v.value })) ?? [],
    };
  }

  const modifiers = (formula: string, activationTarget = '5') => ({ advanced: { scalingModifiers: { formula, target: '5', activationTarget } } });

  it.each([
    {
      name: 'activates on the composite above the activation target',
      sources: [value(3), value(8)],
      formula: '(a + b) / 2',
      replicas: 0,
      expectReplicas: 1,
      active: 'True/ScalerActive',
    },
    {
      name: 'stays at zero below it although every trigger is active',
      sources: [value(3), value(4)],
      formula: '(a + b) / 2',
      replicas: 0,
      expectReplicas: 0,
      active: 'False/ScalerNotActive',
    },
    {
      name: 'uses a ternary over both triggers',
      sources: [value(1), value(40)],
      formula: 'a > 2 ? a : b / 4',
      replicas: 0,
      expectReplicas: 1,
      active: 'True/ScalerActive',
    },
    {
      name: 'ignores an unnamed trigger',
      sources: [value(1), value(1), value(100)],
      formula: 'a + b',
      replicas: 0,
      expectReplicas: 0,
      active: 'False/ScalerNotActive',
      extra: true,
    },
  ])('$name', async ({ sources, formula, replicas, expectReplicas, active: activeCondition, extra }) => {
    const triggers = [named('a'), named('b'), ...(extra ? [{ type: 'fake', metadata: {} }] : [])];
    const h = await composite({ triggers, ...modifiers(formula) }, replicas, sources);
    expect(h.replicas()).toBe(expectReplicas);
    expect(condition(h.status(), 'Active')).toBe(activeCondition);
    if (expectReplicas > replicas) expect(h.events).toContainEqual(expect.stringMatching(/^KEDAScaleTargetActivated: .*triggered by composite-metric$/));
  });

  it('reports activity once, as scaler="composite-metric", with the composite value beside the triggers\' values', async () => {
    const h = await composite({ triggers: [named('a'), named('b')], ...modifiers('(a + b) / 2') }, 0, [value(3), value(8)]);
    expect(await h.series('keda_scaler_active')).toEqual([{ scaler: 'composite-metric', value: 1 }]);
    expect(await h.series('keda_scaler_metrics_value')).toEqual(
      expect.arrayContaining([
        { scaler: 'a', value: 3 },
        { scaler: 'b', value: 8 },
        { scaler: 'composite-metric', value: 5.5 },
      ]),
    );
  });

  it('holds the replicas and reports the formula when it fails on the values', async () => {
    const h = await composite({ triggers: [named('a'), named('b')], ...modifiers('a > 2 ? a : nil') }, 3, [value(1), value(1)], {
      lastActiveTime: iso(now - 999_000),
    });
    expect(h.replicas()).toBe(3);
    expect(condition(h.status(), 'Ready')).toBe('False/TriggerError');
    expect(h.events).toContain('KEDAScalerFailed: composite-metric: spec.advanced.scalingModifiers.formula: formula produced nil; use ?? to give a default');
  });

  it.each([
    { name: 'Infinity', sources: [value(1), value(0)], formula: 'a / b' },
    { name: 'NaN', sources: [value(0), value(0)], formula: 'a / b' },
  ])('does not activate on a composite of $name, and reports it', async ({ name: expected, sources, formula }) => {
    const h = await composite({ triggers: [named('a'), named('b')], ...modifiers(formula) }, 0, sources);
    expect(h.replicas()).toBe(0);
    expect(condition(h.status(), 'Active')).toBe('False/ScalerNotActive');
    expect(h.events).toContainEqual(expect.stringMatching(new RegExp(`^KEDAScalerFailed: composite-metric: .*formula produced ${expected}`)));
  });

  it('serves and activates on the fallback when the composite is not finite and a fallback is set', async () => {
    const spec = { triggers: [named('a'), named('b')], fallback: { failureThreshold: 3, replicas: 4 }, ...modifiers('a / b') };
    const h = await composite(spec, 0, [value(1), value(0)]);
    expect(await h.series('keda_scaler_metrics_value')).toContainEqual({ scaler: 'composite-metric', value: 20 });
    expect(h.replicas()).toBe(1);
    expect(h.events).toContainEqual(expect.stringMatching(/formula produced Infinity; serving fallback.replicas × target/));
  });

  it('with fallback behavior scalingModifiers passes a failing trigger as nil past the threshold', async () => {
    const spec = {
      triggers: [named('a'), named('b')],
      fallback: { failureThreshold: 1, replicas: 4, behavior: 'scalingModifiers' as const },
      ...modifiers('a + (b ?? 100)'),
    };
    const h = await composite(spec, 0, [value(1), failing], { health: { 's1-fake': { numberOfFailures: 1, status: 'Failing' } } });
    expect(h.status().health?.['s1-fake']).toEqual({ numberOfFailures: 2, status: 'Failing' });
    expect(await h.series('keda_scaler_metrics_value')).toContainEqual({ scaler: 'composite-metric', value: 101 });
    expect(h.replicas()).toBe(1);
  });

  it('with static fallback serves target x replicas as the composite, skipping the formula', async () => {
    const spec = { triggers: [named('a'), named('b')], fallback: { failureThreshold: 1, replicas: 4 }, ...modifiers('a * 0') };
    const h = await composite(spec, 0, [value(1), failing], { health: { 's1-fake': { numberOfFailures: 1, status: 'Failing' } } });
    expect(await h.series('keda_scaler_metrics_value')).toContainEqual({ scaler: 'composite-metric', value: 20 });
    expect(h.replicas()).toBe(1);
  });
});

describe('loopConditions', () => {
  const partial = {
    type: 'Ready',
    status: 'Unknown',
    reason: 'PartialTriggerError',
    message: 'Some triggers defined in ScaledObject are not working correctly',
  };
  const readyTrue = { type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ok' };
  const active = { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'active' };
  const checkFailed = [{ type: 'Ready', status: 'False', reason: 'ScaledObjectCheckFailed', message: 'HPA invalid' }];
  it.each([
    {
      name: 'a trigger error says which trigger failed and how',
      decided: [active, partial],
      current: undefined,
      failed: ['spec.triggers[1] (redis): connection refused to 127.0.0.1:1'],
      ready: { ...partial, message: `${partial.message}: spec.triggers[1] (redis): connection refused to 127.0.0.1:1` },
    },
    { name: 'a healthy poll keeps the decision as it is', decided: [active, readyTrue], current: undefined, failed: [], ready: readyTrue },
    { name: "the reconciler's check failure is not overwritten by a poll", decided: [active, readyTrue], current: checkFailed, failed: [], ready: undefined },
  ])('$name', ({ decided, current, failed, ready }) => {
    const result = loopConditions(decided, current, failed);
    expect(result.find((c) => c.type === 'Ready')).toEqual(ready);
    expect(result.find((c) => c.type === 'Active')).toEqual(active);
  });
});

describe('reuseWindowMs', () => {
  it.each([
    // interval, last read ended at, now, window
    [1_000, undefined, 5_000, 1_000, 'a first read may take a value up to one interval old'],
    [1_000, 4_002, 5_000, 997, 'one interval on: only a value read after its own last read ended'],
    [1_000, 3_000, 5_000, 1_000, 'never more than one interval, even after a missed poll'],
    [1_000, 5_000, 5_000, 0, 'a read that just ended: nothing cached will do'],
    [30_000, 0, 30_010, 30_000, 'at 30 s the same rules'],
  ])('interval %d, last read ended %s, now %d → %d (%s)', (interval, lastEnded, now, expected, _why) => {
    expect(reuseWindowMs(interval, lastEnded, now)).toBe(expected);
  });

  it('is what the scale loop asks the scaler for: its own previous value is never served again', async () => {
    const maxAges: (number | undefined)[] = [];
    const client = new FakeKubeClient();
    const so = scaledObject({ pollingInterval: 1 });
    client.put(soPath, so);
    client.put(deployPath, { metadata: { name: 'web', namespace: 'app' }, spec: { replicas: 1 } });
    const log = createLogger({ level: 'silent' });
    const scaler: Scaler = {
      metricSpecs: [{ kind: 'External', metricName: 's0-fake', targetType: 'AverageValue', target: 1 }],
      read: (_metric, options) => (maxAges.push(options?.maxAgeMs), Promise.resolve({ value: 1, active: true })),
      close: () => Promise.resolve(),
    };
    const scalers = new ScalersCache({ factory: () => scaler, log });
    await scalers.ensure('app/orders', { namespace: 'app', triggers: so.spec.triggers, auth: [{ params: {}, warnings: [] }], env: {} });
    let clock = now;
    const loop = new ScaleLoop({
      log,
      now: () => clock,
      scaledObjects: { get: () => client.get(soPath) as unknown as ScaledObject, list: () => [] },
      scalers,
      targets: new ScaleTargets(client),
      readyPods: new ReadyPods(client),
      status: new StatusWriter(client),
      events: { emit: () => undefined },
      metrics: new OperatorMetrics(new Registry(), 'test', () => []),
      readings: new LastReadings(),
      hpas: { get: () => undefined, list: () => [] },
    });
    await loop.poll('app/orders');
    clock += 1_000;
    await loop.poll('app/orders');
    expect(maxAges).toEqual([1_000, 999]);
  });
});

describe('polls on their grid with reads coalesced across objects', () => {
  it('read a source shared by 10 objects once an interval, and a source of one object every interval', async () => {
    const clock = new FakeClock(0);
    const reads = new SharedReads(clock);
    const fetches = new Map<string, number>();
    const lastReadEnded = new Map<string, number>();
    const sourceOf = (key: string) => (key === 'app/solo' ? 'solo' : 'shared');
    const scheduler = new PollScheduler({
      name: 'coalesce',
      log: createLogger({ level: 'silent' }),
      clock,
      run: async (key, signal) => {
        const source = sourceOf(key);
        await reads.read(source, reuseWindowMs(1_000, lastReadEnded.get(key), clock.now()), async () => {
          fetches.set(source, (fetches.get(source) ?? 0) + 1);
          await sleep(clock, 5, signal);
          return 0;
        });
        lastReadEnded.set(key, clock.now());
      },
    });
    for (let i = 0; i < 10; i++) scheduler.schedule(`app/shared-${i}`, 1_000);
    scheduler.schedule('app/solo', 1_000);
    await clock.advance(20_000);
    await scheduler.stop();
    // 20 intervals: one read of each source per interval. Taking values up to a full interval old instead
    // would hand the lone object its own previous value every other poll (10 reads).
    expect(fetches.get('solo')).toBeGreaterThanOrEqual(19);
    expect(fetches.get('solo')).toBeLessThanOrEqual(20);
    expect(fetches.get('shared')).toBeGreaterThanOrEqual(19);
    expect(fetches.get('shared')).toBeLessThanOrEqual(21);
  });
});
