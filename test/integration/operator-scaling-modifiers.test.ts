// @sandbox kube,redis
import { randomUUID } from 'node:crypto';
import { request, type RequestOptions } from 'node:https';
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../src/apis/keda/v1alpha1/scaledobject.js';
import { startMetricsApi, type RunningMetricsApi } from '../../src/metrics-api/index.js';
import { externalMetricsSourceOf } from '../../src/operator/scaledobject/external-metrics-adapter.js';
import type { KubeWatchClient } from '../../src/kube/client.js';
import { Operator } from '../../src/operator/operator.js';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  deleteScaledObjects,
  hpaPath,
  inProcessControllerOptions,
  installCrds,
  pollRounds,
  replicasOf,
  sandboxClient,
  soPath,
  waitFor,
} from './operator-support.js';

/*
 * scalingModifiers end to end: the operator and the external metrics API run in this process against the
 * sandbox's control plane and a real Redis. Two named redis-list triggers are combined by a formula into the
 * HPA's single composite-metric, which the real HPA controller reads through kube-apiserver's aggregation layer.
 */

const suffix = randomUUID().slice(0, 6);
const namespace = `op-mod-${suffix}`;
const registration = { namespace: 'swell-system', serviceName: `swell-modifiers-it-${suffix}` };
const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const address = `${redisUrl.hostname}:${redisUrl.port}`;
const lists = { a: `mod-${suffix}:a`, b: `mod-${suffix}:b` };

let client: KubeWatchClient;
let kubeConfig: ReturnType<typeof sandboxClient>['kubeConfig'];
let operator: Operator;
let metricsApi: RunningMetricsApi;
let redis: Redis;
let registry: Registry;

beforeAll(async () => {
  const sandbox = sandboxClient();
  client = sandbox.client;
  kubeConfig = sandbox.kubeConfig;
  await installCrds(client);
  await createNamespace(client, namespace);
  redis = new Redis(redisUrl.toString(), { maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  const options = inProcessControllerOptions(sandbox, namespace, 'modifiers-test');
  registry = options.registry;
  operator = new Operator(options);
  void operator.start();
  metricsApi = await startMetricsApi({
    client,
    source: externalMetricsSourceOf(operator.metricsSource),
    log: options.log,
    host: '127.0.0.1',
    port: 0,
    certificates: { kind: 'generated', identity: registration },
    registerLocally: registration,
    acceptBearerTokens: true,
  });
  await waitFor('operator ready', 30_000, () => Promise.resolve(operator.ready().ok && operator.isLeader ? true : undefined));
});

afterAll(async () => {
  await deleteScaledObjects(client, namespace);
  await metricsApi?.stop();
  await operator?.stop();
  await client.request('DELETE', `/api/v1/namespaces/${registration.namespace}/secrets/${registration.serviceName}-certs`).catch(() => undefined);
  await client.request('DELETE', `/api/v1/namespaces/${registration.namespace}/services/${registration.serviceName}`).catch(() => undefined);
  await redis?.del(lists.a, lists.b).catch(() => undefined);
  redis?.disconnect();
  await deleteNamespace(client, namespace);
});

async function fillList(name: string, length: number): Promise<void> {
  await redis.del(name);
  if (length > 0) await redis.rpush(name, ...Array.from({ length }, (_, i) => `job-${i}`));
}

/** GET through kube-apiserver as the sandbox admin: the path the HPA controller takes. */
async function viaApiserver(path: string): Promise<{ status: number; body: string }> {
  const server = new URL(kubeConfig.getCurrentCluster()?.server ?? '');
  const options: RequestOptions = { hostname: server.hostname, port: server.port, path, method: 'GET' };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`request ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const compositePath = (so: string) =>
  `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/composite-metric?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${so}`)}`;

/** The composite value kube-apiserver serves, once it equals `expected` (the APIService may take a moment to be Available). */
function compositeServed(so: string, expected: string, timeoutMs = 60_000): Promise<string> {
  return waitFor(`composite-metric of ${so} served as ${expected}`, timeoutMs, async () => {
    const reply = await viaApiserver(compositePath(so));
    if (reply.status !== 200) return undefined;
    const value = (JSON.parse(reply.body) as { items: { metricName: string; value: string }[] }).items[0];
    return value?.metricName === 'composite-metric' && value.value === expected ? value.value : undefined;
  });
}

const redisTrigger = (name: string, listName: string) => ({ type: 'redis', name, metadata: { address, listName, listLength: '5' } });
const getSo = (name: string) => client.request<ScaledObject>('GET', soPath(namespace, name));
const getHpa = (name: string) => client.request<V2HorizontalPodAutoscaler>('GET', hpaPath(namespace, name));

describe('a ScaledObject whose two Redis lists are combined by scalingModifiers', () => {
  it(
    'scales on the formula: one composite-metric on the HPA, served through the apiserver, 0 → 1 on activation, then further by the HPA',
    { timeout: 300_000 },
    async () => {
      await fillList(lists.a, 2);
      await fillList(lists.b, 1);
      await createDeployment(client, namespace, 'mixer', 0);
      await client.request('POST', soPath(namespace), {
        body: {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: { name: 'mixer', namespace },
          spec: {
            scaleTargetRef: { name: 'mixer' },
            pollingInterval: 1,
            cooldownPeriod: 300,
            maxReplicaCount: 6,
            advanced: { scalingModifiers: { formula: '(a + b) / 2', target: '5', activationTarget: '2' } },
            triggers: [redisTrigger('a', lists.a), redisTrigger('b', lists.b)],
          },
        },
      });
      await waitFor('mixer Ready', 30_000, async () =>
        (await getSo('mixer')).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined,
      );

      expect((await getSo('mixer')).status).toMatchObject({
        compositeScalerName: 'composite-metric',
        externalMetricNames: [expect.stringMatching(/^s0-redis-/), expect.stringMatching(/^s1-redis-/)],
      });
      const hpa = await getHpa('keda-hpa-mixer');
      expect(hpa.spec?.metrics).toEqual([
        {
          type: 'External',
          external: {
            metric: { name: 'composite-metric', selector: { matchLabels: { 'scaledobject.keda.sh/name': 'mixer' } } },
            target: { type: 'AverageValue', averageValue: '5' },
          },
        },
      ]);

      // (2 + 1) / 2 = 1.5 is below the activation target 2: the lists are not empty, yet the target stays at zero.
      expect(await compositeServed('mixer', '1500m')).toBe('1500m');
      // Two polling rounds of every ScaledObject later, the composite below activation has woken nothing.
      await pollRounds(() => registry.metrics(), 2);
      expect(await replicasOf(client, namespace, 'mixer')).toBe(0);
      expect((await getSo('mixer')).status?.conditions?.find((c) => c.type === 'Active')?.status).toBe('False');

      // (4 + 2) / 2 = 3 passes it: swell wakes the target to 1, and the composite is what the apiserver serves.
      await fillList(lists.a, 4);
      await fillList(lists.b, 2);
      await waitFor('mixer at 1 replica', 20_000, async () => ((await replicasOf(client, namespace, 'mixer')) === 1 ? true : undefined));
      expect(await compositeServed('mixer', '3')).toBe('3');
      expect(await registry.getSingleMetricAsString('keda_scaler_active')).toMatch(
        /keda_scaler_active\{[^}]*scaledObject="mixer",scaler="composite-metric"[^}]*\} 1/,
      );

      // (30 + 16) / 2 = 23 at 5 per replica: the HPA controller takes it to ceil(23 / 5) = 5 on composite-metric.
      await fillList(lists.a, 30);
      await fillList(lists.b, 16);
      expect(await compositeServed('mixer', '23')).toBe('23');
      let last: V2HorizontalPodAutoscaler | undefined;
      await waitFor('HPA scales mixer to 5 on the composite', 200_000, async () => {
        last = await getHpa('keda-hpa-mixer');
        return last.status?.desiredReplicas === 5 && (await replicasOf(client, namespace, 'mixer')) === 5 ? true : undefined;
      }).catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; last HPA status: ${JSON.stringify(last?.status)}`);
      });
      expect(last?.status?.currentMetrics?.[0]?.external?.metric.name).toBe('composite-metric');
    },
  );

  it('an invalid formula is reported as Ready=False naming the field, and no HPA is made', async () => {
    await createDeployment(client, namespace, 'typo', 1);
    await client.request('POST', soPath(namespace), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'typo', namespace },
        spec: {
          scaleTargetRef: { name: 'typo' },
          advanced: { scalingModifiers: { formula: 'a + c', target: '5' } },
          triggers: [redisTrigger('a', lists.a), redisTrigger('b', lists.b)],
        },
      },
    });
    const message = await waitFor('typo Ready=False', 30_000, async () => {
      const ready = (await getSo('typo')).status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'False' && ready.reason === 'ScaledObjectCheckFailed' ? ready.message : undefined;
    });
    expect(message).toContain('spec.advanced.scalingModifiers.formula: unknown name "c": the triggers it can use are "a", "b"');
    await expect(getHpa('keda-hpa-typo')).rejects.toMatchObject({ code: 404 });
  });
});
