import { describe, expect, it } from 'vitest';
import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import { competingScaledObject, hpaOwnership, hpaTargetKeys, scaledObjectTargetKeys, type HpaSummary } from './target-conflicts.js';

function so(name: string, created: string, target = 'web', extra: Partial<ScaledObject['metadata']> = {}, hpaName?: string): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: 'app', uid: `uid-${name}`, creationTimestamp: created, ...extra },
    spec: {
      scaleTargetRef: { name: target },
      triggers: [{ type: 'cron', metadata: {} }],
      ...(hpaName ? { advanced: { horizontalPodAutoscalerConfig: { name: hpaName } } } : {}),
    },
  };
}

describe('competingScaledObject', () => {
  const old = so('old', '2026-01-01T00:00:00Z');
  const young = so('young', '2026-02-01T00:00:00Z');
  it.each([
    { name: 'the older object keeps the workload', subject: old, others: [old, young], refused: false },
    { name: 'the younger object is refused, naming the owner', subject: young, others: [old, young], refused: true },
    { name: 'different targets do not compete', subject: so('other', '2026-03-01T00:00:00Z', 'api'), others: [old], refused: false },
    {
      name: 'an object being deleted does not count',
      subject: young,
      others: [so('old', '2026-01-01T00:00:00Z', 'web', { deletionTimestamp: '2026-03-01T00:00:00Z' })],
      refused: false,
    },
  ])('$name', ({ subject, others, refused }) => {
    const message = competingScaledObject(subject, others);
    if (refused) expect(message).toBe("the workload 'web' of type 'apps/v1.Deployment' is already managed by the ScaledObject 'old'");
    else expect(message).toBeUndefined();
  });
});

describe('hpaOwnership', () => {
  const foreign: HpaSummary = { metadata: { name: 'legacy' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } } };
  it.each([
    { name: 'no HPA', subject: so('a', 't'), hpas: [], kind: 'free' },
    { name: 'own HPA', subject: so('a', 't'), hpas: [{ ...foreign, metadata: { name: 'keda-hpa-a', ownerReferences: [{ uid: 'uid-a' }] } }], kind: 'free' },
    { name: 'foreign HPA refused', subject: so('a', 't'), hpas: [foreign], kind: 'refuse' },
    {
      name: 'foreign HPA opted out of validation',
      subject: so('a', 't'),
      hpas: [{ ...foreign, metadata: { name: 'legacy', annotations: { 'validations.keda.sh/hpa-ownership': 'false' } } }],
      kind: 'free',
    },
    {
      name: 'transfer without the name refused',
      subject: so('a', 't', 'web', { annotations: { 'scaledobject.keda.sh/transfer-hpa-ownership': 'true' } }),
      hpas: [foreign],
      kind: 'refuse',
    },
    {
      name: 'transfer with the name adopts',
      subject: so('a', 't', 'web', { annotations: { 'scaledobject.keda.sh/transfer-hpa-ownership': 'true' } }, 'legacy'),
      hpas: [foreign],
      kind: 'adopt',
    },
  ])('$name', ({ subject, hpas, kind }) => {
    const result = hpaOwnership(subject, hpas);
    expect(result.kind).toBe(kind);
    if (result.kind === 'refuse') expect(result.message).toContain("'legacy'");
  });
});

describe('scale-target index values', () => {
  const web = so('web-so', '2026-01-01T00:00:00Z');
  const hpa = (namespace: string | undefined, ref: NonNullable<HpaSummary['spec']>['scaleTargetRef']) => ({
    metadata: { name: 'h', ...(namespace ? { namespace } : {}) },
    spec: { scaleTargetRef: ref },
  });
  it.each([
    { name: 'an HPA on the same Deployment', hpa: hpa('app', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }), same: true },
    { name: 'another version of the same group', hpa: hpa('app', { apiVersion: 'apps/v1beta2', kind: 'Deployment', name: 'web' }), same: true },
    { name: 'another namespace', hpa: hpa('other', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }), same: false },
    { name: 'another kind', hpa: hpa('app', { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' }), same: false },
    { name: 'another group', hpa: hpa('app', { apiVersion: 'example.com/v1', kind: 'Deployment', name: 'web' }), same: false },
    { name: 'another name', hpa: hpa('app', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }), same: false },
  ])('$name: same value as the ScaledObject = $same', ({ hpa: h, same }) => {
    const [soValue] = scaledObjectTargetKeys(web);
    expect(hpaTargetKeys(h).includes(soValue ?? '')).toBe(same);
    // The index must agree with the check it narrows for (which leaves namespaces to its caller): an HPA filed
    // elsewhere is never a foreign owner.
    if (h.metadata.namespace === 'app') expect(hpaOwnership(web, [h]).kind === 'refuse').toBe(same);
  });

  it('files nothing for an HPA whose target lacks a kind or name, or a ScaledObject without a target', () => {
    expect(hpaTargetKeys(hpa('app', { apiVersion: 'apps/v1', name: 'web' }))).toEqual([]);
    expect(hpaTargetKeys(hpa('app', { apiVersion: 'apps/v1', kind: 'Deployment' }))).toEqual([]);
    expect(hpaTargetKeys({ metadata: { name: 'h' } })).toEqual([]);
    expect(scaledObjectTargetKeys({ ...web, spec: {} } as unknown as ScaledObject)).toEqual([]);
  });

  it('files a ScaledObject on a custom kind under its group and kind, whatever the version', () => {
    const sts = { ...web, spec: { ...web.spec, scaleTargetRef: { apiVersion: 'example.com/v2', kind: 'Rollout', name: 'web' } } };
    expect(scaledObjectTargetKeys(sts)).toEqual(hpaTargetKeys(hpa('app', { apiVersion: 'example.com/v1', kind: 'Rollout', name: 'web' })));
  });
});
