import { describe, expect, it } from 'vitest';
import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import type { HpaSummary } from '../scaling/target-conflicts.js';
import { onlyBookkeepingChanged, scaledObjectClusterErrors, type ScaledObjectClusterFacts } from './keda-rules.js';

function so(
  name: string,
  target: string,
  extra: { type?: string; metadata?: Record<string, string>; hpaName?: string; annotations?: Record<string, string>; kind?: string } = {},
): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      scaleTargetRef: { name: target, ...(extra.kind ? { kind: extra.kind } : {}) },
      ...(extra.hpaName ? { advanced: { horizontalPodAutoscalerConfig: { name: extra.hpaName } } } : {}),
      minReplicaCount: 1,
      triggers: [{ type: extra.type ?? 'redis', metadata: extra.metadata ?? { listName: 'jobs' } }],
    },
  };
}

function hpa(name: string, target: string, owner?: { uid: string; kind: string; name: string }, annotations?: Record<string, string>): HpaSummary {
  return {
    metadata: { name, ...(annotations ? { annotations } : {}), ...(owner ? { ownerReferences: [owner] } : {}) },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target } },
  };
}

const none: ScaledObjectClusterFacts = { scaledObjects: [], hpas: [], limitRangeDefaults: new Set(), dryRun: false };

describe('scaledObjectClusterErrors', () => {
  it.each([
    { name: 'nothing else in the namespace', subject: so('a', 'web'), facts: none, want: [] },
    { name: 'itself (update) is not a rival', subject: so('a', 'web'), facts: { ...none, scaledObjects: [so('a', 'web')] }, want: [] },
    {
      name: 'another ScaledObject on the same Deployment',
      subject: so('a', 'web'),
      facts: { ...none, scaledObjects: [so('b', 'web')] },
      want: ["the workload 'web' of type 'apps/v1.Deployment' is already managed by the ScaledObject 'b'"],
    },
    { name: 'same name but another kind', subject: so('a', 'web', { kind: 'StatefulSet' }), facts: { ...none, scaledObjects: [so('b', 'web')] }, want: [] },
    {
      name: 'another ScaledObject owning the same HPA name',
      subject: so('a', 'web', { hpaName: 'shared' }),
      facts: { ...none, scaledObjects: [so('b', 'api', { hpaName: 'shared' })] },
      want: ["the HPA 'shared' is already managed by the ScaledObject 'b'"],
    },
    {
      name: 'a foreign HPA on the target',
      subject: so('a', 'web'),
      facts: { ...none, hpas: [hpa('manual', 'web')] },
      want: ["the workload 'web' of type 'apps/v1.Deployment' is already managed by the hpa 'manual'"],
    },
    {
      name: 'the HPA is our own',
      subject: so('a', 'web'),
      facts: { ...none, hpas: [hpa('keda-hpa-a', 'web', { uid: 'uid-a', kind: 'ScaledObject', name: 'a' })] },
      want: [],
    },
    {
      name: 'foreign HPA opted out of the check',
      subject: so('a', 'web'),
      facts: { ...none, hpas: [hpa('manual', 'web', undefined, { 'validations.keda.sh/hpa-ownership': 'false' })] },
      want: [],
    },
    {
      name: 'transfer of ownership with the HPA named',
      subject: so('a', 'web', { hpaName: 'manual', annotations: { 'scaledobject.keda.sh/transfer-hpa-ownership': 'true' } }),
      facts: { ...none, hpas: [hpa('manual', 'web')] },
      want: [],
    },
    {
      name: 'cpu trigger, container without a cpu request',
      subject: so('a', 'web', { type: 'cpu', metadata: { value: '50' } }),
      facts: { ...none, targetContainers: [{ name: 'app', requests: { memory: '64Mi' } }] },
      want: ["the scaledobject has a cpu trigger but the container app doesn't have the cpu request defined"],
    },
    {
      name: 'cpu trigger, a limit is enough',
      subject: so('a', 'web', { type: 'cpu', metadata: { value: '50' } }),
      facts: { ...none, targetContainers: [{ name: 'app', limits: { cpu: '500m' } }] },
      want: [],
    },
    {
      name: 'memory trigger limited to one container',
      subject: so('a', 'web', { type: 'memory', metadata: { value: '50', containerName: 'app' } }),
      facts: { ...none, targetContainers: [{ name: 'app', requests: { memory: '1Gi' } }, { name: 'sidecar' }] },
      want: [],
    },
    {
      name: 'a LimitRange default covers it',
      subject: so('a', 'web', { type: 'cpu', metadata: { value: '50' } }),
      facts: { ...none, targetContainers: [{ name: 'app' }], limitRangeDefaults: new Set(['cpu']) },
      want: [],
    },
    {
      name: 'dry run skips the resource check',
      subject: so('a', 'web', { type: 'cpu', metadata: { value: '50' } }),
      facts: { ...none, targetContainers: [{ name: 'app' }], dryRun: true },
      want: [],
    },
  ])('$name', ({ subject, facts, want }) => {
    expect(scaledObjectClusterErrors(subject, facts).map((e) => e.message)).toEqual(want);
  });
});

describe('onlyBookkeepingChanged', () => {
  const base = { metadata: { name: 'a', finalizers: ['finalizer.keda.sh'], annotations: { x: '1' } }, spec: { minReplicaCount: 1 } };
  it.each([
    { name: 'finalizer removed', next: { ...base, metadata: { ...base.metadata, finalizers: [] } }, want: true },
    { name: 'spec changed', next: { ...base, spec: { minReplicaCount: 2 } }, want: false },
    { name: 'annotation changed', next: { ...base, metadata: { ...base.metadata, annotations: { x: '2' } } }, want: false },
  ])('$name → $want', ({ next, want }) => expect(onlyBookkeepingChanged(next, base)).toBe(want));

  it('checks an object too deep to compare rather than waving it through', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`) as unknown;
    const object = { ...base, spec: { advanced: deep } };
    expect(onlyBookkeepingChanged(object, object)).toBe(false);
  });
});
