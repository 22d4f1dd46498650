// @sandbox kube,redis
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../src/apis/keda/v1alpha1/scaledobject.js';
import { Informer } from '../../src/controller/informer.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createLogger } from '../../src/log.js';
import { startMetricsApi, type RunningMetricsApi } from '../../src/metrics-api/index.js';
import { externalMetricsSourceOf } from '../../src/operator/scaledobject/external-metrics-adapter.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { Operator } from '../../src/operator/operator.js';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  deleteScaledObjects,
  hpaPath,
  inProcessControllerOptions,
  installCrds,
  replicasOf,
  sandboxClient,
  soPath,
  waitFor,
} from './operator-support.js';

/*
 * Activation to demand against the sandbox: the operator and the external metrics API run in this process, a
 * real Redis holds the lists, the real HPA controller reads the metric through the aggregation layer. A watch on
 * the Deployments records every replica count they pass through, so "one step" is observed, not inferred.
 */

const suffix = randomUUID().slice(0, 6);
const namespace = `op-act-${suffix}`;
const registration = { namespace: 'swell-system', serviceName: `swell-activation-it-${suffix}` };
const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const address = `${redisUrl.hostname}:${redisUrl.port}`;
const listOf = (name: string) => `act-${suffix}:${name}`;

let client: KubeClient;
let operator: Operator;
let metricsApi: RunningMetricsApi;
let redis: Redis;
let deployments: Informer<KubernetesObject>;
/** Every spec.replicas each Deployment was seen at, in order. */
const seen = new Map<string, number[]>();

beforeAll(async () => {
  const sandbox = sandboxClient();
  client = sandbox.client;
  await installCrds(client);
  await createNamespace(client, namespace);
  redis = new Redis(redisUrl.toString(), { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  const options = inProcessControllerOptions(sandbox, namespace, 'activation-test');
  operator = new Operator(options);
  void operator.start();
  metricsApi = await startMetricsApi({
    client: sandbox.client,
    source: externalMetricsSourceOf(operator.metricsSource),
    log: options.log,
    host: '127.0.0.1',
    port: 0,
    certificates: { kind: 'generated', identity: registration },
    registerLocally: registration,
    acceptBearerTokens: true,
  });
  deployments = new Informer<KubernetesObject>({
    name: 'test-deployments',
    source: createKubeListWatchSource(sandbox.client, resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace })),
    log: createLogger({ level: 'warn' }),
  });
  const record = (d: KubernetesObject): void => {
    const replicas = (d as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
    const history = seen.get(d.metadata?.name ?? '') ?? [];
    if (history.at(-1) !== replicas) history.push(replicas);
    seen.set(d.metadata?.name ?? '', history);
  };
  deployments.addHandler({ add: record, update: (_old, d) => record(d) });
  deployments.start();
  await deployments.synced();
  await waitFor('operator ready', 30_000, () => Promise.resolve(operator.ready().ok && operator.isLeader ? true : undefined));
});

afterAll(async () => {
  await deleteScaledObjects(client, namespace);
  await deployments?.stop();
  await metricsApi?.stop();
  await operator?.stop();
  await client.request('DELETE', `/api/v1/namespaces/${registration.namespace}/secrets/${registration.serviceName}-certs`).catch(() => undefined);
  await client.request('DELETE', `/api/v1/namespaces/${registration.namespace}/services/${registration.serviceName}`).catch(() => undefined);
  await redis?.del(...['step', 'capped', 'keda'].map(listOf)).catch(() => undefined);
  redis?.disconnect();
  await deleteNamespace(client, namespace);
});

async function createScaledObject(name: string, extra: { annotations?: Record<string, string>; maxReplicaCount?: number }): Promise<void> {
  await createDeployment(client, namespace, name, 0);
  await client.request('POST', soPath(namespace), {
    body: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
      spec: {
        scaleTargetRef: { name },
        pollingInterval: 1,
        cooldownPeriod: 300,
        ...(extra.maxReplicaCount ? { maxReplicaCount: extra.maxReplicaCount } : {}),
        triggers: [{ type: 'redis', metadata: { address, listName: listOf(name), listLength: '10' } }],
      },
    },
  });
  await waitFor(`${name} Ready`, 30_000, async () => {
    const so = await client.request<ScaledObject>('GET', soPath(namespace, name));
    return so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
}

async function pushBacklog(name: string, items: number): Promise<void> {
  await redis.del(listOf(name));
  await redis.rpush(listOf(name), ...Array.from({ length: items }, (_, i) => `job-${i}`));
}

const demand = { 'scaledobject.swell.dev/activation-replicas': 'demand' };

describe('activation to demand', () => {
  it('takes a list of 1,000 items at 10 per replica from 0 to 100 replicas in one step, and the HPA keeps it there', { timeout: 120_000 }, async () => {
    await createScaledObject('step', { annotations: demand });
    expect(await replicasOf(client, namespace, 'step')).toBe(0);
    const pushedAt = Date.now();
    await pushBacklog('step', 1_000);
    await waitFor('step at 100 replicas', 20_000, () => Promise.resolve(seen.get('step')?.at(-1) === 100 ? true : undefined));
    console.info(`activation to demand: 0 → 100 replicas ${Date.now() - pushedAt} ms after the push`);
    expect(seen.get('step')).toEqual([0, 100]);
    // The HPA, reading 1,000 items over 100 replicas = 10 per replica through the metrics API, agrees.
    await waitFor('the HPA to read the metric and want 100', 60_000, async () => {
      const hpa = await client.request<{ status?: { desiredReplicas?: number; currentMetrics?: unknown[] } }>('GET', hpaPath(namespace, 'keda-hpa-step'));
      return hpa.status?.currentMetrics?.length && hpa.status.desiredReplicas === 100 ? true : undefined;
    });
    expect(seen.get('step')).toEqual([0, 100]);
  });

  it('stops at maxReplicaCount', { timeout: 60_000 }, async () => {
    await createScaledObject('capped', { annotations: demand, maxReplicaCount: 25 });
    await pushBacklog('capped', 1_000);
    await waitFor('capped at 25 replicas', 20_000, () => Promise.resolve(seen.get('capped')?.at(-1) === 25 ? true : undefined));
    expect(seen.get('capped')).toEqual([0, 25]);
  });

  it('without the annotation activates to 1 as KEDA does, leaving the rest to the HPA', { timeout: 60_000 }, async () => {
    await createScaledObject('keda', {});
    await pushBacklog('keda', 1_000);
    await waitFor('keda activated', 20_000, () => Promise.resolve((seen.get('keda')?.length ?? 0) >= 2 ? true : undefined));
    expect(seen.get('keda')?.slice(0, 2)).toEqual([0, 1]);
  });
});
