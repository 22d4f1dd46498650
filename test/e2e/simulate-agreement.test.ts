// @sandbox kube,redis
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeClient } from '../../src/kube/client.js';
import { simulateStrategy } from '../../src/simulate/engine.js';
import { defaultParameters, engineSettings } from '../../src/simulate/simulation.js';
import { parseTraceCsv } from '../../src/simulate/trace.js';
import { loadWorkload } from '../../src/simulate/workload.js';
import { freePort } from '../../src/demo/processes.js';
import { fargatePricing } from '../../src/virtual-node/cost/metering.js';
import { createNamespace, deleteNamespace, deleteScaledObjects, sandboxClient, soPath } from '../integration/operator-support.js';
import { arrivalsCsv, createConsumer, createScaledObject, redisWorkerManifest, repoDir, startSwell, waitFor, type RunningProcess } from './support.js';

/*
 * The simulator against reality: a short trace replayed on the sandbox (the real operator, the real HPA
 * controller at the sandbox's 2 s sync period, kwok nodes whose pods turn Running at once) while this test
 * does the work of each Running pod (one item a second, as the simulation assumes), then the same trace
 * through `simulateStrategy` with the same parameters. The Running replica timelines must agree within one
 * replica on most seconds. Cost is not compared: the sandbox's nodes are fixed kwok nodes that bill nothing.
 */

const arrivals: readonly [number, number][] = [
  [0, 60],
  [40, 30],
];
const seconds = 100;

/** `swell operator` watching every namespace; its Lease, Services and registrations in `namespace`. */
function startOperatorForAllNamespaces(namespace: string): Promise<RunningProcess> {
  return startSwell(
    `${namespace}-operator`,
    [
      'operator',
      '--install-crds',
      '--lease-namespace',
      namespace,
      '--cluster-auth-namespace',
      namespace,
      '--metrics-port',
      '0',
      '--health-port',
      '0',
      '--webhook-configuration',
      `swell-${namespace}`,
      '--log-level',
      'info',
    ],
    /"msg":"leading: reconciling and polling"/,
  );
}

/** The sandbox's Redis, connected, and its address as a trigger names it. */
async function connectRedis(): Promise<{ redis: Redis; address: string }> {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  const { hostname, port } = new URL(url);
  return { redis, address: `${hostname}:${port}` };
}

interface WorkerPod {
  metadata: { deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { phase?: string };
}

/** The worker's pods that are Running and not on their way out: the replicas doing the trace's work. */
async function runningWorkers(client: KubeClient, namespace: string): Promise<WorkerPod[]> {
  const pods = await client.request<{ items: WorkerPod[] }>('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=app%3Dworker`);
  return pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running');
}

/*
 * The three stories are independent (each its own namespace, Deployment, ScaledObject and Redis list) and
 * spend their time waiting on the wall clock, so they replay at the same time. One operator watches every
 * namespace: the external metrics APIService is one per cluster, so operators watching one namespace each
 * would take it from one another and leave the other stories' HPAs without metrics.
 */
describe.concurrent('swell simulate against the sandbox, three stories at once', () => {
  const operatorNamespace = `e2e-simop-${randomBytes(3).toString('hex')}`;
  let operator: RunningProcess | undefined;

  beforeAll(async () => {
    const { client } = sandboxClient();
    await createNamespace(client, operatorNamespace);
    operator = await startOperatorForAllNamespaces(operatorNamespace);
  }, 180_000);

  afterAll(async () => {
    const code = await operator?.stop();
    await deleteNamespace(sandboxClient().client, operatorNamespace);
    expect(code).toBe(0);
  }, 120_000);

  describe('swell simulate agrees with the sandbox', () => {
    const namespace = `e2e-sim-${randomBytes(3).toString('hex')}`;
    const listName = `jobs-${namespace}`;
    let client: KubeClient;
    let redis: Redis;
    let address = '';

    beforeAll(async () => {
      ({ redis, address } = await connectRedis());
      ({ client } = sandboxClient());
      await createNamespace(client, namespace);
      await createConsumer(client, namespace, 'worker');
      await createScaledObject(
        client,
        namespace,
        'worker',
        { type: 'redis', metadata: { address, listName, listLength: '10' } },
        { maxReplicaCount: 10, cooldownPeriod: 10 },
      );
    }, 180_000);

    afterAll(async () => {
      await deleteScaledObjects(client, namespace);
      await deleteNamespace(client, namespace);
      await redis.del(listName);
      redis.disconnect();
    }, 120_000);

    it('runs the same number of replicas, second by second, as the simulation says', async ({ expect }) => {
      const observed: number[] = [];
      const start = Date.now();
      for (let t = 0; t < seconds; t += 1) {
        await sleep(Math.max(0, start + t * 1000 - Date.now()));
        for (const [at, count] of arrivals) if (at === t) await redis.rpush(listName, ...Array.from({ length: count }, (_, i) => `job-${t}-${i}`));
        const running = (await runningWorkers(client, namespace)).length;
        observed.push(running);
        for (let i = 0; i < running; i += 1) if ((await redis.lpop(listName)) === null) break;
      }

      const workload = loadWorkload(redisWorkerManifest({ address, listName }));
      const trace = parseTraceCsv(arrivalsCsv(arrivals, seconds));
      const parameters = {
        ...defaultParameters,
        hpaSyncSeconds: 2,
        downscaleStabilizationSeconds: 10,
        regularStartSeconds: 1,
        pod: { vcpu: 0.1, memoryGiB: 0.1 },
        node: { cpu: 32, memoryGiB: 64, pods: 110 },
        autoscaler: { ...defaultParameters.autoscaler, minNodes: 2, maxNodes: 2 },
        drainLimitSeconds: 0,
      };
      const result = simulateStrategy(
        trace,
        workload,
        { name: 'nodes only', kind: 'nodes' },
        { ...engineSettings(trace, workload, parameters), sampleEverySeconds: 1 },
      );
      const simulated = Array.from({ length: seconds }, (_, t) => result.samples.regular[result.samples.t.indexOf(t)] ?? 0);
      const within = observed.filter((n, t) => Math.abs(n - (simulated[t] ?? 0)) <= 1).length / seconds;
      console.log(
        `agreement: ${(within * 100).toFixed(0)}% of ${seconds} one-second samples within ±1 replica; peak observed ${Math.max(...observed)}, simulated ${Math.max(...simulated)}`,
      );
      console.log(`observed:  ${observed.join(' ')}\nsimulated: ${simulated.join(' ')}`);
      expect(Math.max(...observed)).toBeGreaterThanOrEqual(5);
      expect(within).toBeGreaterThanOrEqual(0.8);
    }, 300_000);
  });

  /*
   * The same with a BurstPolicy (baseReplicas 2) and swell's virtual node (simulated provider, pods Running 1 s
   * after they land): the tier of every Running replica and the virtual node's metered cost against the simulation.
   */
  describe('swell simulate agrees with the sandbox when bursting', () => {
    const namespace = `e2e-simb-${randomBytes(3).toString('hex')}`;
    const virtualNode = `e2e-simvn-${randomBytes(3).toString('hex')}`;
    const listName = `jobs-${namespace}`;
    let client: KubeClient;
    let redis: Redis;
    let node: RunningProcess | undefined;
    let metricsPort = 0;
    let address = '';

    beforeAll(async () => {
      ({ redis, address } = await connectRedis());
      ({ client } = sandboxClient());
      metricsPort = await freePort();
      node = await startSwell(
        `${namespace}-virtual-node`,
        [
          'virtual-node',
          '--name',
          virtualNode,
          '--port',
          '0',
          '--metrics-port',
          String(metricsPort),
          '--state-dir',
          join(repoDir, '.swell', 'e2e', virtualNode),
          '--start-latency',
          '1s',
          '--minimum-billed',
          '0s',
        ],
        /virtual node running/,
      );
      await createNamespace(client, namespace);
      await createConsumer(client, namespace, 'worker');
      await client.request('POST', `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies`, {
        body: {
          apiVersion: 'swell.dev/v1alpha1',
          kind: 'BurstPolicy',
          metadata: { name: 'worker' },
          spec: {
            scaleTargetRef: { name: 'worker' },
            baseReplicas: 2,
            rebalance: { enabled: false },
            virtualNode: { nodeSelector: { 'kubernetes.io/hostname': virtualNode, type: 'virtual-kubelet' } },
          },
        },
      });
      await createScaledObject(
        client,
        namespace,
        'worker',
        { type: 'redis', metadata: { address, listName, listLength: '10' } },
        { maxReplicaCount: 10, cooldownPeriod: 10 },
      );
    }, 180_000);

    afterAll(async () => {
      await deleteScaledObjects(client, namespace);
      await deleteNamespace(client, namespace);
      const nodeCode = await node?.stop();
      await client.request('DELETE', `/api/v1/nodes/${virtualNode}`).catch(() => undefined);
      await redis.del(listName);
      redis.disconnect();
      expect(nodeCode).toBe(0);
    }, 120_000);

    async function tiers(): Promise<{ regular: number; burst: number }> {
      const running = await runningWorkers(client, namespace);
      const burst = running.filter((p) => p.spec.nodeName === virtualNode).length;
      return { regular: running.length - burst, burst };
    }

    async function meteredDollars(): Promise<number> {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith('swell_virtual_node_cost_dollars_total{') && l.includes(`namespace="${namespace}"`))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    }

    it('splits the Running replicas between the tiers as the simulation does, at the cost it predicts', async ({ expect }) => {
      const observed: { regular: number; burst: number }[] = [];
      const start = Date.now();
      for (let t = 0; t < seconds; t += 1) {
        await sleep(Math.max(0, start + t * 1000 - Date.now()));
        for (const [at, count] of arrivals) if (at === t) await redis.rpush(listName, ...Array.from({ length: count }, (_, i) => `job-${t}-${i}`));
        const now = await tiers();
        observed.push(now);
        for (let i = 0; i < now.regular + now.burst; i += 1) if ((await redis.lpop(listName)) === null) break;
      }
      const metered = await waitFor('the virtual node to settle every burst pod', 30_000, async () =>
        (await tiers()).burst === 0 ? meteredDollars() : undefined,
      );

      const workload = loadWorkload(redisWorkerManifest({ address, listName }));
      const trace = parseTraceCsv(arrivalsCsv(arrivals, seconds));
      const parameters = {
        ...defaultParameters,
        hpaSyncSeconds: 2,
        downscaleStabilizationSeconds: 10,
        regularStartSeconds: 1,
        burstStartSeconds: { min: 1, max: 1 },
        pod: { vcpu: 0.1, memoryGiB: 0.1 },
        node: { cpu: 32, memoryGiB: 64, pods: 110 },
        autoscaler: { ...defaultParameters.autoscaler, minNodes: 2, maxNodes: 2 },
        drainLimitSeconds: 0,
      };
      // Billed as the virtual node bills this pod: its CPU request, the platform's default memory, no minimum.
      const settings = {
        ...engineSettings(trace, workload, parameters),
        sampleEverySeconds: 1,
        burstSize: { vcpu: 0.1, memoryGiB: fargatePricing.defaultMemoryGiB },
        burstRates: { ...fargatePricing, minimumSeconds: 0 },
      };
      const result = simulateStrategy(
        trace,
        workload,
        { name: 'base 2 + burst', kind: 'base', placement: { baseReplicas: 2, pendingTimeoutMs: 60_000, rebalance: false, rebalanceIntervalMs: 30_000 } },
        settings,
      );
      const at = (series: number[], t: number) => series[result.samples.t.indexOf(t)] ?? 0;
      const agree = (tier: 'regular' | 'burst') => observed.filter((o, t) => Math.abs(o[tier] - at(result.samples[tier], t)) <= 1).length / seconds;
      const costDifference = Math.abs(result.cost.burst - metered) / Math.max(metered, 1e-12);
      console.log(
        `agreement (burst): regular ${(agree('regular') * 100).toFixed(0)}%, burst ${(agree('burst') * 100).toFixed(0)}% of ${seconds} s within ±1; burst cost simulated $${result.cost.burst.toFixed(6)}, metered $${metered.toFixed(6)} (${(costDifference * 100).toFixed(0)}% apart)`,
      );
      console.log(
        `observed burst:  ${observed.map((o) => o.burst).join(' ')}\nsimulated burst: ${Array.from({ length: seconds }, (_, t) => at(result.samples.burst, t)).join(' ')}`,
      );
      expect(Math.max(...observed.map((o) => o.burst))).toBeGreaterThanOrEqual(2);
      expect(agree('regular')).toBeGreaterThanOrEqual(0.8);
      expect(agree('burst')).toBeGreaterThanOrEqual(0.8);
      expect(costDifference).toBeLessThan(0.35);
    }, 300_000);
  });

  /*
   * Fallback and scalingModifiers: the trigger is named and scaled through a formula (jobs / 2 against a target
   * of 5, the same as 10 items a replica), and the source fails for 40 s in the middle of the trace. The failure is
   * real: the list's key is overwritten with a string, so the Redis scaler's LLEN fails with WRONGTYPE, and the
   * work waits in this test meanwhile, as it would in a queue the operator cannot read. After two failed polls the
   * third serves fallback.replicas × target, and the HPA holds 2 replicas until the source answers again.
   */
  describe('swell simulate agrees with the sandbox through a source failure, with fallback and a formula', () => {
    const namespace = `e2e-simf-${randomBytes(3).toString('hex')}`;
    const listName = `jobs-${namespace}`;
    const trace: readonly { at: number; arrivals: number; source: 'up' | 'down' }[] = [
      { at: 0, arrivals: 60, source: 'up' },
      { at: 20, arrivals: 0, source: 'down' },
      { at: 40, arrivals: 30, source: 'down' },
      { at: 60, arrivals: 0, source: 'up' },
    ];
    let client: KubeClient;
    let redis: Redis;
    let manifest = '';

    beforeAll(async () => {
      let address: string;
      ({ redis, address } = await connectRedis());
      manifest = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: worker
  namespace: ${namespace}
spec:
  scaleTargetRef:
    name: worker
  pollingInterval: 1
  cooldownPeriod: 10
  minReplicaCount: 0
  maxReplicaCount: 10
  fallback:
    failureThreshold: 2
    replicas: 2
  advanced:
    scalingModifiers:
      formula: jobs / 2
      target: "5"
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 0
          policies:
            - type: Percent
              value: 100
              periodSeconds: 1
  triggers:
    - type: redis
      name: jobs
      metadata:
        address: ${address}
        listName: ${listName}
        listLength: "10"
`;
      ({ client } = sandboxClient());
      await createNamespace(client, namespace);
      await createConsumer(client, namespace, 'worker');
      await client.request('POST', soPath(namespace), { body: parse(manifest) as Record<string, unknown> });
    }, 180_000);

    afterAll(async () => {
      await deleteScaledObjects(client, namespace);
      await deleteNamespace(client, namespace);
      await redis.del(listName);
      redis.disconnect();
    }, 120_000);

    /** The list holds the backlog while the source is up; while it is down the key is a string and every read fails. */
    async function publish(backlog: number, source: 'up' | 'down'): Promise<void> {
      const write = redis.multi().del(listName);
      if (source === 'down') write.set(listName, 'the source is down');
      else if (backlog > 0) write.rpush(listName, ...Array.from({ length: backlog }, (_, i) => `job-${i}`));
      await write.exec();
    }

    it('holds the fallback count while the source is down and follows the formula around it, as the simulation does', async ({ expect }) => {
      const observed: number[] = [];
      let backlog = 0;
      let source: 'up' | 'down' = 'up';
      const start = Date.now();
      for (let t = 0; t < seconds; t += 1) {
        await sleep(Math.max(0, start + t * 1000 - Date.now()));
        const row = trace.find((r) => r.at === t);
        if (row) {
          backlog += row.arrivals;
          source = row.source;
        }
        await publish(backlog, source);
        const running = (await runningWorkers(client, namespace)).length;
        observed.push(running);
        backlog = Math.max(0, backlog - running);
      }

      const workload = loadWorkload(manifest);
      const csv = `seconds,arrivals,source\n${trace.map((r) => `${r.at},${r.arrivals},${r.source}`).join('\n')}\n${seconds - 1},0,up\n`;
      const parameters = {
        ...defaultParameters,
        hpaSyncSeconds: 2,
        downscaleStabilizationSeconds: 10,
        regularStartSeconds: 1,
        pod: { vcpu: 0.1, memoryGiB: 0.1 },
        node: { cpu: 32, memoryGiB: 64, pods: 110 },
        autoscaler: { ...defaultParameters.autoscaler, minNodes: 2, maxNodes: 2 },
        drainLimitSeconds: 0,
      };
      const simTrace = parseTraceCsv(csv);
      const result = simulateStrategy(
        simTrace,
        workload,
        { name: 'nodes only', kind: 'nodes' },
        { ...engineSettings(simTrace, workload, parameters), sampleEverySeconds: 1 },
      );
      const simulated = Array.from({ length: seconds }, (_, t) => result.samples.regular[result.samples.t.indexOf(t)] ?? 0);
      const within = observed.filter((n, t) => Math.abs(n - (simulated[t] ?? 0)) <= 1).length / seconds;
      const downSeconds = Array.from({ length: seconds }, (_, t) => t).filter((t) => t >= 30 && t < 60);
      console.log(
        `agreement (fallback + formula): ${(within * 100).toFixed(0)}% of ${seconds} one-second samples within ±1 replica; fallback polls simulated ${result.fallbackPolls}`,
      );
      console.log(`observed:  ${observed.join(' ')}\nsimulated: ${simulated.join(' ')}`);
      // Late in the outage both hold fallback.replicas, although 30 more items arrived at 40 s.
      expect(downSeconds.filter((t) => observed[t] === 2).length).toBeGreaterThanOrEqual(downSeconds.length - 3);
      expect(downSeconds.every((t) => simulated[t] === 2)).toBe(true);
      expect(result.fallbackPolls).toBeGreaterThan(20);
      expect(within).toBeGreaterThanOrEqual(0.8);
    }, 300_000);
  });
});
