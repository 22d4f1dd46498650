// @sandbox kube
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TriggerAuthenticationStatus } from '../../src/apis/keda/v1alpha1/triggerauthentication.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  installCrds,
  sandboxClient,
  soPath,
  startInProcessSwell,
  waitFor,
  type InProcessSwell,
} from './operator-support.js';

/*
 * KEDA's `status.scaledobjects` / `status.scaledjobs` on (Cluster)TriggerAuthentications, kept by the
 * ScaledObject operator and the ScaledJob controller of the whole operator, run in this process against the
 * sandbox's control plane. The triggers are cron windows far from now, so nothing scales and no Job runs.
 */

const namespace = `ta-status-${randomUUID().slice(0, 6)}`;
const clusterAuth = `shared-${namespace}`;
let client: KubeClient;
let swell: InProcessSwell;

const taPath = (name?: string) =>
  resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace, ...(name ? { name } : {}) });
const ctaPath = (name?: string) =>
  resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'clustertriggerauthentications', ...(name ? { name } : {}) });
const sjPath = (name?: string) => resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledjobs', namespace, ...(name ? { name } : {}) });

beforeAll(async () => {
  const sandbox = sandboxClient();
  client = sandbox.client;
  await installCrds(client);
  await createNamespace(client, namespace);
  swell = await startInProcessSwell(sandbox, namespace);
});

afterAll(async () => {
  // Delete the scaled objects while the controllers run, so their finalizers are honoured and the namespace can go.
  for (const path of [soPath(namespace), sjPath()]) {
    const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', path).catch(() => ({ items: [] }));
    for (const o of list.items) await client.request('DELETE', `${path}/${o.metadata.name}`).catch(() => undefined);
    await waitFor(`${path} emptied`, 20_000, async () =>
      (await client.request<{ items: unknown[] }>('GET', path)).items.length === 0 ? true : undefined,
    ).catch(() => undefined);
  }
  await swell?.stop();
  await client.request('DELETE', ctaPath(clusterAuth)).catch(() => undefined);
  await deleteNamespace(client, namespace);
});

/** A cron window that opens twenty minutes from now: valid, never active during the test. */
function closedCron(authenticationRef: { name: string; kind?: string }): Record<string, unknown> {
  const minute = new Date().getUTCMinutes();
  return {
    type: 'cron',
    metadata: { timezone: 'Etc/UTC', start: `${(minute + 20) % 60} * * * *`, end: `${(minute + 30) % 60} * * * *`, desiredReplicas: '2' },
    authenticationRef,
  };
}

async function createScaledObject(name: string, authenticationRef: { name: string; kind?: string }): Promise<void> {
  await createDeployment(client, namespace, name, 0);
  await client.request('POST', soPath(namespace), {
    body: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace },
      spec: { scaleTargetRef: { name }, pollingInterval: 5, triggers: [closedCron(authenticationRef)] },
    },
  });
}

async function createScaledJob(name: string, authenticationRef: { name: string }): Promise<void> {
  await client.request('POST', sjPath(), {
    body: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledJob',
      metadata: { name, namespace },
      spec: {
        pollingInterval: 5,
        jobTargetRef: { template: { spec: { containers: [{ name: 'worker', image: 'registry.invalid/worker:1' }] } } },
        triggers: [closedCron(authenticationRef)],
      },
    },
  });
}

/** Waits for the auth object's status to be exactly `expected` (fields in any order). */
async function statusIs(path: string, expected: TriggerAuthenticationStatus): Promise<TriggerAuthenticationStatus> {
  const canonical = (status: TriggerAuthenticationStatus) => JSON.stringify(Object.entries(status).sort(([a], [b]) => a.localeCompare(b)));
  let last: TriggerAuthenticationStatus | undefined;
  try {
    return await waitFor(`${path} status ${canonical(expected)}`, 20_000, async () => {
      last = (await client.request<{ status?: TriggerAuthenticationStatus }>('GET', path)).status ?? {};
      return canonical(last) === canonical(expected) ? last : undefined;
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(last)}`, { cause: error });
  }
}

describe('TriggerAuthentication status', () => {
  it('lists the ScaledObjects referring to it, and drops one when it is deleted', async () => {
    await client.request('POST', taPath(), {
      body: { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name: 'creds', namespace }, spec: {} },
    });
    await createScaledObject('web', { name: 'creds' });
    await createScaledObject('api', { name: 'creds', kind: 'TriggerAuthentication' });
    expect(await statusIs(taPath('creds'), { scaledobjects: 'api,web' })).toEqual({ scaledobjects: 'api,web' });

    await client.request('DELETE', soPath(namespace, 'web'));
    await statusIs(taPath('creds'), { scaledobjects: 'api' });
  });

  it('keeps ScaledJobs in their own field, beside the ScaledObjects', async () => {
    await createScaledJob('batch', { name: 'creds' });
    await statusIs(taPath('creds'), { scaledobjects: 'api', scaledjobs: 'batch' });
    await client.request('DELETE', sjPath('batch'));
    await statusIs(taPath('creds'), { scaledobjects: 'api' });
  });

  it('follows a ScaledObject moving to a ClusterTriggerAuthentication, which lists namespace/name', async () => {
    await client.request('POST', ctaPath(), {
      body: { apiVersion: 'keda.sh/v1alpha1', kind: 'ClusterTriggerAuthentication', metadata: { name: clusterAuth }, spec: {} },
    });
    await client.request('PATCH', soPath(namespace, 'api'), {
      body: { spec: { triggers: [closedCron({ name: clusterAuth, kind: 'ClusterTriggerAuthentication' })] } },
      contentType: 'application/merge-patch+json',
    });
    await statusIs(ctaPath(clusterAuth), { scaledobjects: `${namespace}/api` });
    await statusIs(taPath('creds'), {});
  });
});
