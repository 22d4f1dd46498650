import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { scalerDefinitions } from '../../scalers/registry.js';
import { validateManifests } from '../cli/validate.js';
import type { KubeClient } from '../kube/client.js';
import type { AdmissionRequest } from './admission.js';
import { kedaAdmissionHandler } from './index.js';

/** A namespace with no other ScaledObjects, HPAs or LimitRanges: only the object itself decides. */
const emptyCluster: KubeClient = {
  request<T>(): Promise<T> {
    return Promise.resolve({ items: [] } as T);
  },
};

const handler = kedaAdmissionHandler({ client: emptyCluster });

function review(object: Record<string, unknown>): AdmissionRequest {
  const kind = String(object['kind']);
  // The apiserver sends the namespace the object is created in, which is the one its metadata names (if any).
  const namespace = (object['metadata'] as { namespace?: string } | undefined)?.namespace ?? 'shop';
  return { uid: 'u1', kind: { group: 'keda.sh', version: 'v1alpha1', kind }, operation: 'CREATE', namespace, object, dryRun: true };
}

const scaledObject = (triggers: unknown[], extra: Record<string, unknown> = {}) => ({
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { scaleTargetRef: { name: 'worker' }, triggers, ...extra },
});

describe('the KEDA admission webhook', () => {
  it('refuses a redis trigger with listLength "0", which the HPA would refuse later', async () => {
    const verdict = await handler(review(scaledObject([{ type: 'redis', metadata: { address: 'r:6379', listName: 'jobs', listLength: '0' } }])));
    expect(verdict).toMatchObject({ allowed: false, code: 422 });
    expect(verdict.allowed === false && verdict.message).toMatch(/spec\.triggers\[0\]: .*"listLength" must be greater than 0/);
  });

  it('reports the trigger metadata problems beside a schema error', async () => {
    const verdict = await handler(review(scaledObject([{ type: 'redis', metadata: { address: 'r:6379' } }], { pollingInterval: 'soon' })));
    expect(verdict.allowed).toBe(false);
    const message = verdict.allowed === false ? verdict.message : '';
    expect(message).toMatch(/spec\.pollingInterval: /);
    expect(message).toMatch(/spec\.triggers\[0\]: .*listName/);
  });

  // Every document `swell validate` is tried on in the unit fixtures and the README examples, and variants with a
  // broken trigger: admission and `swell validate` must agree on each (an empty namespace adds no conflicts).
  const repo = join(import.meta.dirname, '..', '..');
  const texts = [
    readFileSync(join(repo, 'test', 'unit', 'fixtures', 'keda-valid.yaml'), 'utf8'),
    readFileSync(join(repo, 'test', 'unit', 'fixtures', 'keda-invalid.yaml'), 'utf8'),
    ...readdirSync(join(repo, 'examples'))
      .filter((name) => name.endsWith('.yaml'))
      .map((name) => readFileSync(join(repo, 'examples', name), 'utf8')),
  ];
  // Each registered scaler's own example trigger too, so a new scaler is covered without touching this file.
  const registered = scalerDefinitions.flatMap((d) =>
    d.types.map((type) =>
      scaledObject([{ type, metadata: { ...d.example.metadata }, ...(d.example.authParams ? { authenticationRef: { name: `${type}-auth` } } : {}) }]),
    ),
  );
  const documents = [...texts.flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>)), ...registered].filter((d) =>
    String(d['apiVersion']).startsWith('keda.sh/'),
  );
  const broken = documents.flatMap((d): Record<string, unknown>[] => {
    const spec = d['spec'] as { triggers?: { metadata: Record<string, string> }[] } | undefined;
    if (!spec?.triggers) return [];
    return [
      { ...d, spec: { ...spec, triggers: spec.triggers.map((t) => ({ ...t, metadata: Object.fromEntries(Object.keys(t.metadata).map((k) => [k, '-1'])) })) } },
    ];
  });

  it.each([...documents, ...broken].map((d, i) => [`${String(d['kind'])} #${i}`, d] as const))('agrees with swell validate on %s', async (_name, document) => {
    const [result] = validateManifests(JSON.stringify(document));
    const verdict = await handler(review(document));
    expect(verdict.allowed).toBe(result?.valid);
    if (verdict.allowed === false) for (const e of result?.errors ?? []) expect(verdict.message).toContain(`${e.path}: ${e.message}`);
  });
});
