import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../kube/errors.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import { handBack, handOver, parseRecord, recordOf } from './hand-over.js';

describe('the record of the previous APIService owner', () => {
  const adapter = {
    metadata: {
      name: 'v1beta1.external.metrics.k8s.io',
      resourceVersion: '42',
      uid: 'u',
      labels: { 'app.kubernetes.io/name': 'prometheus-adapter' },
      annotations: {
        'meta.helm.sh/release-name': 'swell',
        'meta.helm.sh/release-namespace': 'swell-system',
        'kubectl.kubernetes.io/last-applied-configuration': '{}',
        team: 'monitoring',
      },
    },
    spec: {
      group: 'external.metrics.k8s.io',
      version: 'v1beta1',
      groupPriorityMinimum: 100,
      versionPriority: 100,
      caBundle: 'Q0E=',
      service: { namespace: 'monitoring', name: 'prometheus-adapter', port: 443 },
    },
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

describe('handing the APIService over and back', () => {
  const apiServicePath = '/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io';
  const recordPath = '/api/v1/namespaces/swell-system/configmaps/swell-apiservice-previous-owner';
  const options = { namespace: 'swell-system', configMapName: 'swell-apiservice-previous-owner' };
  const adapterService = {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: 'v1beta1.external.metrics.k8s.io', labels: { 'app.kubernetes.io/name': 'prometheus-adapter' }, annotations: { team: 'monitoring' } },
    spec: {
      group: 'external.metrics.k8s.io',
      version: 'v1beta1',
      groupPriorityMinimum: 100,
      versionPriority: 100,
      service: { namespace: 'monitoring', name: 'prometheus-adapter', port: 443 },
    },
  };

  it('has nothing to hand over when there is no APIService, and nothing to hand back without a record', async () => {
    const client = new FakeKubeClient();
    await expect(handOver(client, options)).resolves.toMatchObject({ kind: 'none' });
    await expect(handBack(client, options)).resolves.toMatchObject({ kind: 'nothing-recorded' });
    expect(client.writes()).toEqual([]);
  });

  it('records the owner once, marks the APIService for Helm, and puts the owner back on hand-back', async () => {
    const client = new FakeKubeClient();
    client.put(apiServicePath, adapterService);
    const over = await handOver(client, { ...options, helmRelease: 'swell' });
    expect(over).toMatchObject({ kind: 'recorded', message: expect.stringContaining('Service monitoring/prometheus-adapter:443') as unknown });
    const record = client.get(recordPath) as { data: Record<string, string> };
    expect(parseRecord(record.data['apiservice.json'] ?? '', 'cm')).toEqual({
      labels: adapterService.metadata.labels,
      annotations: { team: 'monitoring' },
      spec: adapterService.spec,
    });
    expect(client.get(apiServicePath)?.metadata).toMatchObject({
      labels: { 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { 'meta.helm.sh/release-name': 'swell', 'meta.helm.sh/release-namespace': 'swell-system' },
    });
    await expect(handOver(client, options)).resolves.toMatchObject({ kind: 'already-recorded' });

    // swell's chart replaces the APIService with its own; hand-back restores the adapter's.
    client.put(apiServicePath, {
      ...adapterService,
      metadata: { name: adapterService.metadata.name },
      spec: { ...adapterService.spec, service: { namespace: 'swell-system', name: 'swell-metrics', port: 443 } },
    });
    await expect(handBack(client, options)).resolves.toMatchObject({ kind: 'restored' });
    expect(client.get(apiServicePath)).toMatchObject({
      metadata: { labels: adapterService.metadata.labels, annotations: { team: 'monitoring' } },
      spec: adapterService.spec,
    });
    expect(client.get(recordPath)).toBeUndefined();
  });

  it('creates the APIService again when it was deleted in between', async () => {
    const client = new FakeKubeClient();
    client.put(apiServicePath, adapterService);
    await handOver(client, options);
    await client.request('DELETE', apiServicePath);
    await expect(handBack(client, options)).resolves.toMatchObject({ kind: 'restored' });
    expect(client.get(apiServicePath)).toMatchObject({ spec: adapterService.spec });
  });

  it('passes on an apiserver error other than not found', async () => {
    const client = new FakeKubeClient();
    client.fail('GET', recordPath, KubeApiError.fromResponse('GET', recordPath, 403, { reason: 'Forbidden', message: 'configmaps is forbidden' }, ''));
    await expect(handOver(client, options)).rejects.toThrow(/403 Forbidden/);
  });
});
