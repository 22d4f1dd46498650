// @sandbox kube,redis
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound } from '../../src/kube/errors.js';
import { freePort } from '../../src/demo/processes.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, sandboxClient, soPath } from '../integration/operator-support.js';
import { createScaledObject, repoDir, startOperator, startSwell, waitFor, waitForReplicas, type RunningProcess } from './support.js';

/*
 * A team keeps two workers on their own nodes and lets swell burst the rest onto a virtual node: a Redis-list
 * ScaledObject plus a BurstPolicy (baseReplicas 2). The virtual node runs its pods as real local processes
 * that consume the list; the regular nodes are the sandbox's simulated ones.
 */
describe('burst: Redis list with a BurstPolicy, regular + virtual node, back to 0', () => {
  const namespace = `e2e-burst-${randomBytes(3).toString('hex')}`;
  const virtualNode = `e2e-vn-${randomBytes(3).toString('hex')}`;
  const listName = `jobs-${namespace}`;
  let client: KubeClient;
  let redis: Redis;
  let redisUrl: string;
  let node: RunningProcess | undefined;
  let operator: RunningProcess | undefined;
  let metricsPort = 0;

  beforeAll(async () => {
    redisUrl = process.env.REDIS_URL ?? '';
    if (!redisUrl) throw new Error('REDIS_URL is not set');
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    ({ client } = sandboxClient());
    metricsPort = await freePort();
    node = await startSwell(
      `${namespace}-virtual-node`,
      [
        'virtual-node',
        '--provider',
        'process',
        '--name',
        virtualNode,
        '--port',
        '0',
        '--metrics-port',
        String(metricsPort),
        '--state-dir',
        join(repoDir, '.swell', 'e2e', virtualNode),
        '--minimum-billed',
        '0s',
      ],
      /virtual node running/,
    );
    await createNamespace(client, namespace);
    operator = await startOperator(namespace, ['--virtual-node-metrics-url', `http://127.0.0.1:${metricsPort}/metrics`]);
  });

  afterAll(async () => {
    await client.request('DELETE', soPath(namespace, 'worker')).catch(() => undefined);
    await waitFor('the ScaledObject to be deleted', 30_000, () =>
      client.request('GET', soPath(namespace, 'worker')).then(
        () => undefined,
        (e: unknown) => (isNotFound(e) ? true : undefined),
      ),
    );
    const operatorCode = await operator?.stop();
    await deleteNamespace(client, namespace);
    await waitFor(`namespace ${namespace} to go (its virtual-node processes stopped)`, 60_000, () =>
      client.request('GET', `/api/v1/namespaces/${namespace}`).then(
        () => undefined,
        (e: unknown) => (isNotFound(e) ? true : undefined),
      ),
    );
    const nodeCode = await node?.stop();
    await client.request('DELETE', `/api/v1/nodes/${virtualNode}`).catch(() => undefined);
    await redis.del(listName);
    redis.disconnect();
    expect(operatorCode).toBe(0);
    expect(nodeCode).toBe(0);
  });

  it('places 2 replicas on regular nodes and the rest on the virtual node, whose pods consume the list', async () => {
    await client.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'worker' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'worker' } },
          template: {
            metadata: { labels: { app: 'worker' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'worker',
                  image: 'debian:stable-slim',
                  // Slow on purpose, so the list outlives the scale-out: one job every 3 s per replica.
                  command: ['sh', '-c', `while true; do redis-cli -u "$REDIS_URL" RPOP ${listName} >/dev/null; sleep 3; done`],
                  env: [{ name: 'REDIS_URL', value: redisUrl }],
                  resources: { requests: { cpu: '500m' } },
                },
              ],
            },
          },
        },
      },
    });
    await client.request('POST', `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies`, {
      body: {
        apiVersion: 'swell.dev/v1alpha1',
        kind: 'BurstPolicy',
        metadata: { name: 'worker' },
        spec: {
          scaleTargetRef: { name: 'worker' },
          baseReplicas: 2,
          virtualNode: { nodeSelector: { 'kubernetes.io/hostname': virtualNode, type: 'virtual-kubelet' } },
        },
      },
    });
    const { hostname, port } = new URL(redisUrl);
    await createScaledObject(
      client,
      namespace,
      'worker',
      { type: 'redis', metadata: { address: `${hostname}:${port}`, listName, listLength: '5' } },
      { maxReplicaCount: 6 },
    );
    await redis.rpush(listName, ...Array.from({ length: 60 }, (_, i) => `job-${i}`));
    await waitForReplicas(client, namespace, 'worker', 'at the maximum of 6', (n) => n === 6, 60_000);
    const spread = await waitFor('2 regular and 4 virtual pods running', 60_000, async () => {
      const tiers = await podTiers(client, namespace, virtualNode);
      return tiers.regular === 2 && tiers.virtual === 4 ? tiers : undefined;
    });
    expect(spread).toEqual({ regular: 2, virtual: 4 });
    // The virtual-node pods are real processes: the list shrinks though the test takes nothing.
    const before = await redis.llen(listName);
    await waitFor('the virtual-node consumers to take jobs', 30_000, async () => ((await redis.llen(listName)) < before ? true : undefined));
    const policy = await waitFor('the BurstPolicy status with a cost', 30_000, async () => {
      const p = await client.request<{ status?: { burstReplicas?: number; baseReplicas?: number; cost?: string } }>(
        'GET',
        `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies/worker`,
      );
      return Number(p.status?.cost ?? 0) > 0 ? p.status : undefined;
    });
    expect(policy?.burstReplicas).toBe(4);
    expect(policy?.baseReplicas).toBe(2);
  });

  it('goes back to zero once the list is drained', async () => {
    // The simulated regular pods do no work: the test finishes the list for them.
    await redis.del(listName);
    await waitForReplicas(client, namespace, 'worker', 'back to zero', (n) => n === 0, 90_000);
    await waitFor('every pod gone', 60_000, async () => {
      const tiers = await podTiers(client, namespace, virtualNode);
      return tiers.regular + tiers.virtual === 0 ? true : undefined;
    });
  });
});

async function podTiers(client: KubeClient, namespace: string, virtualNode: string): Promise<{ regular: number; virtual: number }> {
  const pods = await client.request<{ items: { metadata: { deletionTimestamp?: string }; spec: { nodeName?: string }; status?: { phase?: string } }[] }>(
    'GET',
    `/api/v1/namespaces/${namespace}/pods?labelSelector=app%3Dworker`,
  );
  const running = pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running');
  const virtual = running.filter((p) => p.spec.nodeName === virtualNode).length;
  return { regular: running.length - virtual, virtual };
}
