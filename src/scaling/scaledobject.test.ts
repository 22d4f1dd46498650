import { describe, expect, it } from 'vitest';
import { cooldownElapsed, decideScale, evaluateActivity, type Activity, type ScaleDecisionInput } from './scaledobject.js';

const t0 = Date.parse('2025-01-01T00:00:00Z');
const s = (seconds: number) => t0 + seconds * 1000;
const active: Activity = { isActive: true, isError: false, activeMetrics: ['s0-redis-jobs'] };
const inactive: Activity = { isActive: false, isError: false, activeMetrics: [] };
const failing: Activity = { isActive: false, isError: true, activeMetrics: [] };
const partlyFailing: Activity = { isActive: true, isError: true, activeMetrics: ['s0-redis-jobs'] };

function input(overrides: Partial<ScaleDecisionInput>): ScaleDecisionInput {
  return {
    spec: {},
    target: { kind: 'Deployment', namespace: 'shop', name: 'worker' },
    currentReplicas: 0,
    activity: inactive,
    creationTime: s(0),
    now: s(1000),
    ...overrides,
  };
}

describe('decideScale', () => {
  it.each<[string, Partial<ScaleDecisionInput>, { action: string; replicas?: number; lastActiveTime?: number; active?: string; ready?: string }]>([
    [
      'activates from zero to 1 when min is 0',
      { activity: active },
      { action: 'activate', replicas: 1, lastActiveTime: s(1000), active: 'ScalerActive', ready: 'True' },
    ],
    ['activates from zero to min', { activity: active, spec: { minReplicaCount: 3 } }, { action: 'activate', replicas: 3, lastActiveTime: s(1000) }],
    [
      'activates from idle to min',
      { activity: active, currentReplicas: 0, spec: { minReplicaCount: 2, idleReplicaCount: 0 } },
      { action: 'activate', replicas: 2 },
    ],
    ['activates to the activation count it is given', { activity: active, activationReplicas: 40 }, { action: 'activate', replicas: 40 }],
    [
      'an activation count below min still activates to min',
      { activity: active, activationReplicas: 1, spec: { minReplicaCount: 3 } },
      { action: 'activate', replicas: 3 },
    ],
    ['an activation count does not move a running target', { activity: active, currentReplicas: 4, activationReplicas: 40 }, { action: 'none' }],
    [
      'leaves an active, running target to the HPA',
      { activity: active, currentReplicas: 4, lastActiveTime: s(10) },
      { action: 'none', lastActiveTime: s(1000) },
    ],
    [
      'keeps lastActiveTime on a partial error',
      { activity: partlyFailing, currentReplicas: 4, lastActiveTime: s(10) },
      { action: 'none', lastActiveTime: s(10), ready: 'Unknown' },
    ],
    ['still activates from zero on a partial error', { activity: partlyFailing }, { action: 'activate', replicas: 1, ready: 'Unknown' }],
    [
      'cools down before scaling to zero',
      { currentReplicas: 3, lastActiveTime: s(900) },
      { action: 'cooldown', lastActiveTime: s(900), active: 'ScalerCooldown' },
    ],
    [
      'scales to zero after the cooldown',
      { currentReplicas: 3, lastActiveTime: s(699) },
      { action: 'deactivate', replicas: 0, lastActiveTime: s(699), active: 'ScalerNotActive' },
    ],
    ['waits exactly the cooldown (strictly after)', { currentReplicas: 3, lastActiveTime: s(700) }, { action: 'cooldown' }],
    ['uses a custom cooldownPeriod', { currentReplicas: 3, lastActiveTime: s(900), spec: { cooldownPeriod: 30 } }, { action: 'deactivate', replicas: 0 }],
    [
      'scales to idle, not to min',
      { currentReplicas: 5, lastActiveTime: s(0), spec: { minReplicaCount: 2, idleReplicaCount: 0 } },
      { action: 'deactivate', replicas: 0 },
    ],
    ['never-active object waits initialCooldownPeriod from creation', { currentReplicas: 2, spec: { initialCooldownPeriod: 2000 } }, { action: 'cooldown' }],
    [
      'never-active object scales in after initialCooldownPeriod',
      { currentReplicas: 2, spec: { initialCooldownPeriod: 500 } },
      { action: 'deactivate', replicas: 0 },
    ],
    [
      'does not scale down while triggers fail without fallback',
      { activity: failing, currentReplicas: 3, lastActiveTime: s(0) },
      { action: 'error-hold', ready: 'False' },
    ],
    [
      'holds for the HPA fallback while triggers fail',
      { activity: failing, currentReplicas: 3, lastActiveTime: s(0), spec: { fallback: { failureThreshold: 3, replicas: 5 } } },
      { action: 'fallback-hold' },
    ],
    [
      'a fallback of 0 replicas lets the object scale to zero on errors',
      { activity: failing, currentReplicas: 3, lastActiveTime: s(0), spec: { fallback: { failureThreshold: 3, replicas: 0 } } },
      { action: 'deactivate', replicas: 0 },
    ],
    ['raises a target below min without idle mode', { currentReplicas: 1, spec: { minReplicaCount: 3 } }, { action: 'enforce-min', replicas: 3 }],
    ['leaves an inactive object at min alone', { currentReplicas: 3, spec: { minReplicaCount: 3 } }, { action: 'none' }],
    ['leaves zero alone when inactive', { currentReplicas: 0 }, { action: 'none' }],
    [
      'force-activation scales from zero without active triggers',
      { annotations: { 'autoscaling.keda.sh/force-activation': 'true' } },
      { action: 'activate', replicas: 1 },
    ],
    [
      'paused-scale-out blocks activation',
      { activity: active, annotations: { 'autoscaling.keda.sh/paused-scale-out': 'true' } },
      { action: 'none', lastActiveTime: s(1000) },
    ],
    [
      'paused-scale-in blocks scale to zero',
      { currentReplicas: 3, lastActiveTime: s(0), annotations: { 'autoscaling.keda.sh/paused-scale-in': 'true' } },
      { action: 'none' },
    ],
    ['paused freezes replicas', { activity: active, annotations: { 'autoscaling.keda.sh/paused': 'true' } }, { action: 'paused' }],
    ['an unparsable paused value also pauses', { activity: active, annotations: { 'autoscaling.keda.sh/paused': 'please' } }, { action: 'paused' }],
    ['paused false does not pause', { activity: active, annotations: { 'autoscaling.keda.sh/paused': 'false' } }, { action: 'activate', replicas: 1 }],
    ['paused-replicas sets the count', { currentReplicas: 7, annotations: { 'autoscaling.keda.sh/paused-replicas': '2' } }, { action: 'paused', replicas: 2 }],
    [
      'paused-replicas already reached writes nothing',
      { currentReplicas: 2, annotations: { 'autoscaling.keda.sh/paused-replicas': '2' } },
      { action: 'paused' },
    ],
    [
      'paused-replicas wins over paused=false',
      { currentReplicas: 7, annotations: { 'autoscaling.keda.sh/paused-replicas': '0', 'autoscaling.keda.sh/paused': 'false' } },
      { action: 'paused', replicas: 0 },
    ],
  ])('%s', (_name, overrides, expected) => {
    const decision = decideScale(input(overrides));
    expect(decision.action).toBe(expected.action);
    expect(decision.replicas).toBe(expected.replicas);
    if ('lastActiveTime' in expected) expect(decision.lastActiveTime).toBe(expected.lastActiveTime);
    if (expected.active) expect(decision.conditions.find((c) => c.type === 'Active')?.reason).toBe(expected.active);
    if (expected.ready) expect(decision.conditions.find((c) => c.type === 'Ready')?.status).toBe(expected.ready);
  });

  it('records activation and deactivation events naming the target and triggers', () => {
    expect(decideScale(input({ activity: active, spec: { minReplicaCount: 2 } })).events).toEqual([
      { type: 'Normal', reason: 'KEDAScaleTargetActivated', message: 'Scaled Deployment shop/worker from 0 to 2, triggered by s0-redis-jobs' },
    ]);
    expect(decideScale(input({ currentReplicas: 4, lastActiveTime: s(0) })).events).toEqual([
      { type: 'Normal', reason: 'KEDAScaleTargetDeactivated', message: 'Deactivated Deployment shop/worker from 4 to 0' },
    ]);
  });

  it('sets Paused=True while paused', () => {
    expect(decideScale(input({ annotations: { 'autoscaling.keda.sh/paused': 'true' } })).conditions).toEqual([
      { type: 'Paused', status: 'True', reason: 'ScaledObjectPaused', message: 'ScaledObject is paused' },
    ]);
  });

  it('never writes a replica count outside [0, max(min,1)] for any state', () => {
    for (const current of [0, 1, 2, 5, 50]) {
      for (const activity of [active, inactive, failing, partlyFailing]) {
        for (const spec of [{}, { minReplicaCount: 2 }, { minReplicaCount: 2, idleReplicaCount: 0 }, { fallback: { failureThreshold: 1, replicas: 3 } }]) {
          const decision = decideScale(input({ currentReplicas: current, activity, spec, lastActiveTime: s(0) }));
          if (decision.replicas === undefined) continue;
          expect(decision.replicas).toBeGreaterThanOrEqual(0);
          expect(decision.replicas).toBeLessThanOrEqual(Math.max(spec.minReplicaCount ?? 0, 1));
          if (activity.isError && !activity.isActive && 'fallback' in spec) throw new Error('scaled while holding for fallback');
        }
      }
    }
  });
});

describe('evaluateActivity', () => {
  it.each<[string, Parameters<typeof evaluateActivity>[0], Activity]>([
    [
      'one active trigger',
      {
        triggerTypes: ['redis', 'kafka'],
        readings: [
          { metricName: 'a', active: false },
          { metricName: 'b', active: true },
        ],
      },
      { isActive: true, isError: false, activeMetrics: ['b'] },
    ],
    ['no active trigger', { triggerTypes: ['redis'], readings: [{ metricName: 'a', active: false }] }, { isActive: false, isError: false, activeMetrics: [] }],
    [
      'an erroring trigger does not count as active',
      {
        triggerTypes: ['redis', 'kafka'],
        readings: [
          { metricName: 'a', active: true, error: 'down' },
          { metricName: 'b', active: false },
        ],
      },
      { isActive: false, isError: true, activeMetrics: [] },
    ],
    [
      'a fallen-back trigger counts as active',
      { triggerTypes: ['redis'], readings: [{ metricName: 'a', active: false, fallbackApplied: true }] },
      { isActive: true, isError: false, activeMetrics: ['a'] },
    ],
    ['only cpu/memory is always active', { triggerTypes: ['cpu', 'memory'], readings: [] }, { isActive: true, isError: false, activeMetrics: [] }],
    [
      'composite above the activation target',
      { triggerTypes: ['redis'], readings: [{ metricName: 'a', active: false }], composite: { value: 3, activationTarget: 2 } },
      { isActive: true, isError: false, activeMetrics: ['composite-metric'] },
    ],
    [
      'composite at the activation target',
      { triggerTypes: ['redis'], readings: [{ metricName: 'a', active: true }], composite: { value: 2, activationTarget: 2 } },
      { isActive: false, isError: false, activeMetrics: [] },
    ],
    [
      'composite with an error is inactive',
      {
        triggerTypes: ['redis', 'kafka'],
        readings: [
          { metricName: 'a', active: true },
          { metricName: 'b', active: true, error: 'x' },
        ],
        composite: { value: 9, activationTarget: 0 },
      },
      { isActive: false, isError: true, activeMetrics: [] },
    ],
    [
      'composite whose formula failed is an error, and inactive',
      {
        triggerTypes: ['redis'],
        readings: [{ metricName: 'a', active: true }],
        composite: { value: undefined, activationTarget: 0, error: 'formula: + needs numbers' },
      },
      { isActive: false, isError: true, activeMetrics: [] },
    ],
    [
      'composite over a fallen-back trigger is judged on its value',
      {
        triggerTypes: ['redis', 'redis'],
        readings: [
          { metricName: 'a', active: false, fallbackApplied: true },
          { metricName: 'b', active: false },
        ],
        composite: { value: 30, activationTarget: 5 },
      },
      { isActive: true, isError: false, activeMetrics: ['composite-metric'] },
    ],
    [
      'composite below activation while a trigger is active',
      {
        triggerTypes: ['redis', 'redis'],
        readings: [
          { metricName: 'a', active: true },
          { metricName: 'b', active: true },
        ],
        composite: { value: 4, activationTarget: 5 },
      },
      { isActive: false, isError: false, activeMetrics: [] },
    ],
    [
      'composite with cpu only is still always active',
      { triggerTypes: ['cpu'], readings: [], composite: { value: 0, activationTarget: 5 } },
      { isActive: true, isError: false, activeMetrics: [] },
    ],
  ])('%s', (_name, activityInput, expected) => {
    expect(evaluateActivity(activityInput)).toEqual(expected);
  });
});

describe('decideScale on a scalingModifiers composite', () => {
  const readings = [
    { metricName: 's0-redis-a', active: true },
    { metricName: 's1-redis-b', active: false },
  ];
  it.each<[string, { value: number | undefined; activationTarget: number; error?: string }, Partial<ScaleDecisionInput>, string, number | undefined]>([
    ['activates from zero when the composite passes the activation target', { value: 6, activationTarget: 5 }, {}, 'activate', 1],
    ['stays at zero while the composite is at the activation target, whatever the triggers say', { value: 5, activationTarget: 5 }, {}, 'none', undefined],
    [
      'scales to zero after the cooldown once the composite drops',
      { value: 1, activationTarget: 5 },
      { currentReplicas: 4, lastActiveTime: s(0) },
      'deactivate',
      0,
    ],
    [
      'holds on a formula error instead of scaling to zero',
      { value: undefined, activationTarget: 0, error: 'formula: + needs numbers, got nil' },
      { currentReplicas: 4, lastActiveTime: s(0) },
      'error-hold',
      undefined,
    ],
    [
      'holds for the HPA on a formula error with fallback',
      { value: undefined, activationTarget: 0, error: 'formula failed' },
      { currentReplicas: 4, lastActiveTime: s(0), spec: { fallback: { failureThreshold: 1, replicas: 2 } } },
      'fallback-hold',
      undefined,
    ],
  ])('%s', (_name, composite, overrides, action, replicas) => {
    const activity = evaluateActivity({ triggerTypes: ['redis', 'redis'], readings, composite });
    const decision = decideScale(input({ activity, ...overrides }));
    expect(decision.action).toBe(action);
    expect(decision.replicas).toBe(replicas);
    if (action === 'activate') expect(decision.events[0]?.message).toMatch(/triggered by composite-metric$/);
  });
});

describe('cooldownElapsed', () => {
  it.each<[string, Parameters<typeof cooldownElapsed>[0], boolean]>([
    ['default 300 s, 299 s after', { spec: {}, lastActiveTime: s(0), creationTime: s(0), now: s(299) }, false],
    ['default 300 s, 301 s after', { spec: {}, lastActiveTime: s(0), creationTime: s(0), now: s(301) }, true],
    ['cooldown 0, same instant', { spec: { cooldownPeriod: 0 }, lastActiveTime: s(5), creationTime: s(0), now: s(5) }, false],
    ['never active, default initial cooldown 0', { spec: {}, creationTime: s(0), now: s(1) }, true],
  ])('%s', (_name, args, expected) => {
    expect(cooldownElapsed(args)).toBe(expected);
  });
});
