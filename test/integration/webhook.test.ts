// @sandbox kube
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createLogger } from '../../src/log.js';
import { createHttpKubeClient } from '../../src/kube/client.js';
import { startWebhooks, type RunningWebhooks } from '../../src/webhooks/index.js';
import { unregisterWebhooks } from '../../src/webhooks/register.js';

const log = createLogger({ name: 'webhook-test', level: 'warn' });
const suffix = randomBytes(3).toString('hex');
const namespace = `webhook-${suffix}`;
const configurationName = `swell-admission-${suffix}`;

let kc: KubeConfig;
let custom: CustomObjectsApi;
let webhooks: RunningWebhooks | undefined;

async function ensureCrd(file: string): Promise<void> {
  const crd = parse(await readFile(join(import.meta.dirname, '..', '..', 'crds', file), 'utf8')) as V1CustomResourceDefinition;
  const api = kc.makeApiClient(ApiextensionsV1Api);
  try {
    // Raw JSON: client-node's typed serialiser drops the x-kubernetes-* keys of a schema.
    await createHttpKubeClient(kc).request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
  for (let i = 0; i < 60; i++) {
    const read = await api.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
    if (read.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`CRD ${file} not established`);
}

function scaledObject(name: string, target: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace },
    spec: {
      scaleTargetRef: { name: target },
      triggers: [{ type: 'cron', metadata: { timezone: 'UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '2' } }],
      ...spec,
    },
  };
}

async function create(body: object): Promise<{ ok: true } | { ok: false; message: string }> {
  try {
    await custom.createNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', body });
    return { ok: true };
  } catch (error) {
    return { ok: false, message: String((error as { body?: unknown }).body ?? error) };
  }
}

async function remove(name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ group: 'keda.sh', version: 'v1alpha1', namespace, plural: 'scaledobjects', name }).catch(() => undefined);
}

/** The apiserver picks up a new webhook configuration within a second or so; retry until the webhook answers. */
async function createUntilRefused(body: { metadata: { name: string } }): Promise<string> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const result = await create(body);
    if (!result.ok) return result.message;
    await remove(body.metadata.name);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${body.metadata.name} was never refused`);
}

beforeAll(async () => {
  kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG ?? '');
  custom = kc.makeApiClient(CustomObjectsApi);
  await ensureCrd('keda.sh_scaledobjects.yaml');
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  const container = { name: 'app', image: 'registry.invalid/app:1' };
  for (const name of ['web', 'worker']) {
    await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name },
        spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [container] } } },
      },
    });
  }
  webhooks = await startWebhooks({ client: createHttpKubeClient(kc), log, host: '127.0.0.1', port: 0, configurationName });
});

afterAll(async () => {
  await webhooks?.stop();
  await unregisterWebhooks(createHttpKubeClient(kc), configurationName, log);
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name: namespace })
    .catch(() => undefined);
});

describe('KEDA validating webhook on a real apiserver', () => {
  it('refuses a second ScaledObject on the same Deployment', async () => {
    expect(await create(scaledObject('first', 'web'))).toEqual({ ok: true });
    const message = await createUntilRefused(scaledObject('second', 'web'));
    expect(message).toContain("the workload 'web' of type 'apps/v1.Deployment' is already managed by the ScaledObject 'first'");
  });

  it('refuses what the CRD schema lets through: idleReplicaCount not below minReplicaCount', async () => {
    const message = await createUntilRefused(scaledObject('idle', 'other', { minReplicaCount: 2, idleReplicaCount: 3 }));
    expect(message).toContain('spec.idleReplicaCount');
  });

  it('refuses a cpu trigger when the target container has no cpu request', async () => {
    const triggers = [{ type: 'cpu', metricType: 'Utilization', metadata: { value: '50' } }];
    const message = await createUntilRefused(scaledObject('cpu', 'worker', { minReplicaCount: 1, triggers }));
    expect(message).toContain("the scaledobject has a cpu trigger but the container app doesn't have the cpu request defined");
  });

  it("refuses a trigger the scaler's own check refuses, as swell validate does: a redis listLength of 0", async () => {
    const triggers = [{ type: 'redis', metadata: { address: 'redis:6379', listName: 'jobs', listLength: '0' } }];
    const message = await createUntilRefused(scaledObject('zero-target', 'queue-worker', { triggers }));
    expect(message).toMatch(/spec\.triggers\[0\]: error parsing redis metadata: \\?"listLength\\?" must be greater than 0/);
  });

  it('lets a valid ScaledObject for another workload in', async () => {
    expect(await create(scaledObject('api', 'api'))).toEqual({ ok: true });
  });

  it('fails open: with the server down, objects are admitted unchecked', async () => {
    await webhooks?.stop();
    webhooks = undefined;
    // The configuration is still registered (stop above removed it; register it again pointing at a dead port).
    const dead = await startWebhooks({ client: createHttpKubeClient(kc), log, host: '127.0.0.1', port: 0, configurationName, unregisterOnStop: false });
    await dead.stop();
    const started = Date.now();
    expect(await create(scaledObject('third', 'web'))).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
