import { describe, expect, it } from 'vitest';
import { buildBurstPolicyCrd } from './crd.js';
import { createBurstPolicyValidator, parseDurationMs } from './validation.js';

const validate = createBurstPolicyValidator();
const policy = (spec: Record<string, unknown>) => ({ apiVersion: 'swell.dev/v1alpha1', kind: 'BurstPolicy', metadata: { name: 'web', namespace: 'ns' }, spec });

describe('BurstPolicy validation', () => {
  it('fills the defaults of a minimal policy', () => {
    const result = validate(policy({ scaleTargetRef: { name: 'web' } }));
    expect(result.ok && result.effective).toEqual({
      targetKind: 'Deployment',
      targetName: 'web',
      nodeSelector: { type: 'virtual-kubelet' },
      tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' }],
      pendingTimeoutMs: 60_000,
      rebalance: true,
      rebalanceIntervalMs: 30_000,
    });
  });

  it.each([
    { name: 'negative base', spec: { scaleTargetRef: { name: 'web' }, baseReplicas: -1 }, path: 'spec.baseReplicas' },
    { name: 'bad duration', spec: { scaleTargetRef: { name: 'web' }, pendingTimeout: 'soon' }, path: 'spec.pendingTimeout' },
    { name: 'unknown kind', spec: { scaleTargetRef: { name: 'web', kind: 'Job' } }, path: 'spec.scaleTargetRef.kind' },
    {
      name: 'empty virtual node selector',
      spec: { scaleTargetRef: { name: 'web' }, virtualNode: { nodeSelector: {} } },
      path: 'spec.virtualNode.nodeSelector',
    },
    { name: 'unknown field', spec: { scaleTargetRef: { name: 'web' }, burstReplicas: 3 }, path: 'spec.burstReplicas' },
  ])('refuses $name, naming $path', ({ spec, path }) => {
    const result = validate(policy(spec));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(path);
  });

  it.each([
    ['90s', 90_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['5', undefined],
  ])('parses %s', (text, ms) => expect(parseDurationMs(text)).toBe(ms));
});

describe('BurstPolicy CRD', () => {
  it('is in swell.dev with a status subresource, short name bp and the printer columns', () => {
    const crd = buildBurstPolicyCrd() as {
      metadata: { name: string };
      spec: {
        group: string;
        names: { shortNames: string[] };
        versions: { name: string; subresources: unknown; additionalPrinterColumns: { name: string }[] }[];
      };
    };
    expect(crd.metadata.name).toBe('burstpolicies.swell.dev');
    expect(crd.spec.group).toBe('swell.dev');
    expect(crd.spec.names.shortNames).toEqual(['bp']);
    const version = crd.spec.versions[0];
    expect(version?.subresources).toEqual({ status: {} });
    expect(version?.additionalPrinterColumns.map((c) => c.name)).toEqual(expect.arrayContaining(['Base', 'Burst', 'Waiting', 'Cost', 'Age']));
  });
});
