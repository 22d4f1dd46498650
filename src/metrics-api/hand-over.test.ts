import { describe, expect, it } from 'vitest';
import { parseRecord, recordOf } from './hand-over.js';

describe('the record of the previous APIService owner', () => {
  const adapter = {
    metadata: {
      name: 'v1beta1.external.metrics.k8s.io',
      resourceVersion: '42',
      uid: 'u',
      labels: { 'app.kubernetes.io/name': 'prometheus-adapter' },
      annotations: { 'meta.helm.sh/release-name': 'swell', 'meta.helm.sh/release-namespace': 'swell-system', 'kubectl.kubernetes.io/last-applied-configuration': '{}', team: 'monitoring' },
    },
    spec: { group: 'external.metrics.k8s.io', version: 'v1beta1', groupPriorityMinimum: 100, versionPriority: 100, caBundle: 'Q0E=', service: { namespace: 'monitoring', name: 'prometheus-adapter', port: 443 } },
  };

  it("keeps the owner's spec, labels and annotations, without what Helm or kubectl wrote", () => {
    expect(recordOf(adapter)).toEqual({ labels: { 'app.kubernetes.io/name': 'prometheus-adapter' }, annotations: { team: 'monitoring' }, spec: adapter.spec });
  });

  it('reads back what it wrote', () => {
    expect(parseRecord(JSON.stringify(recordOf(adapter)), 'cm')).toEqual(recordOf(adapter));
  });

  it.each([
    ['not JSON', 'cm: apiservice.json is not JSON'],
    ['{"labels":{}}', 'cm: apiservice.json holds no APIService spec'],
    ['{"spec":{"service":{}}}', 'cm: apiservice.json holds no APIService spec'],
  ])('refuses a record %s, naming where it is', (text, message) => {
    expect(() => parseRecord(text, 'cm')).toThrow(message);
  });
});
