// @sandbox kube,node,redis
/*
 * The simulator against real consumer pods: the consumer image (tools/consumer-image) runs on the sandbox's real
 * node and drains a Redis list itself, one item a second (WORK_MS 1000), while the real operator and the real HPA
 * controller (2 s sync) scale it. The same trace then goes through `simulateStrategy` with the same parameters,
 * and the Running replicas and the backlog are compared second by second. The pod start latency on the node is
 * the one model parameter taken from the run itself: the median of the pods' creation → container start.
 *
 * Redis: the sandbox's Redis listens on 127.0.0.1, which pods cannot reach; the pods get it through a Service
 * whose endpoint is a relay on the real node's address (the sandbox bridge on this machine), while the operator,
 * running on this machine, reads it on 127.0.0.1. Nodes are fixed here, so cost is not compared.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isNotFound } from '../../src/kube/errors.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { exposeHostService, type HostService } from '../../src/sandbox/host-service.js';
import { realNodeLabel, realNodeName, realNodeTaint } from '../../src/sandbox/node-config.js';
import { importImage } from '../../src/sandbox/node-image.js';
import { nodeContainerdEnvVar } from '../../src/sandbox/node.js';
import { simulateStrategy } from '../../src/simulate/engine.js';
import { defaultParameters, engineSettings } from '../../src/simulate/simulation.js';
import { parseTraceCsv } from '../../src/simulate/trace.js';
import { loadWorkload } from '../../src/simulate/workload.js';
import { createNamespace, deleteNamespace, sandboxClient, soPath } from '../integration/operator-support.js';
import { arrivalsCsv, redisWorkerManifest, repoDir, startOperator, waitFor, type RunningProcess } from './support.js';

const run = promisify(execFile);
const arrivals: readonly [number, number][] = [
  [0, 60],
  [40, 30],
];
const seconds = 120;

interface PodView {
  metadata: { name: string; creationTimestamp?: string; deletionTimestamp?: string };
  status?: { phase?: string; containerStatuses?: { state?: { running?: { startedAt?: string } } }[] };
}

describe('swell simulate agrees with real consumer pods on the real node', () => {
  const namespace = `e2e-simr-${randomBytes(3).toString('hex')}`;
  const listName = `jobs-${namespace}`;
  let client: KubeClient;
  let redis: Redis | undefined;
  let redisService: HostService | undefined;
  /** What the pods dial: the Service's ClusterIP. */
  let podRedisAddress = '';
  /** What the operator on this machine dials. */
  let redisAddress = '';
  let operator: RunningProcess | undefined;
  let manifest = '';

  beforeAll(async () => {
    const containerdSocket = process.env[nodeContainerdEnvVar];
    if (!containerdSocket) throw new Error(`${nodeContainerdEnvVar} is not set: the real node did not start (it needs root; see the test setup's output)`);
    const redisUrl = process.env.REDIS_URL;
    if (!redisUrl) throw new Error('REDIS_URL is not set');
    const sandbox = sandboxClient();
    client = sandbox.client;

    const node = await client.request<{ status?: { addresses?: { type: string; address: string }[] } }>('GET', `/api/v1/nodes/${realNodeName}`);
    const nodeIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!nodeIp) throw new Error(`node ${realNodeName} has no InternalIP`);
    const { hostname, port } = new URL(redisUrl);
    redisAddress = `${hostname}:${port}`;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });

    // The consumer image as users get it: `swell dev images` (cold: minutes; warm: the cached archive), imported
    // into the node's containerd under its own name, so pods start it without a pull.
    const built = await run(process.execPath, ['bin/swell.js', 'dev', 'images'], { cwd: repoDir, timeout: 60 * 60_000, maxBuffer: 16 * 1024 * 1024 });
    const [image = '', archive = ''] = built.stdout.trim().split('\n')[1]?.split(' ') ?? [];
    if (!image || !archive) throw new Error(`unexpected output of swell dev images:\n${built.stdout}`);
    await importImage(containerdSocket, archive, image);

    await createNamespace(client, namespace);
    redisService = await exposeHostService({
      core: sandbox.kubeConfig.makeApiClient(CoreV1Api),
      namespace,
      name: 'redis',
      nodeIp,
      port: Number(port),
      servicePort: 6379,
    });
    podRedisAddress = redisService.address;
    operator = await startOperator(namespace, ['--burst', 'false']);
    await client.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'worker', namespace },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'worker' } },
          template: {
            metadata: { labels: { app: 'worker' } },
            spec: {
              nodeSelector: { [realNodeLabel.key]: realNodeLabel.value },
              tolerations: [{ ...realNodeTaint, operator: 'Equal' }],
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'consumer',
                  image,
                  imagePullPolicy: 'Never',
                  resources: { requests: { cpu: '100m', memory: '64Mi' } },
                  env: [
                    { name: 'REDIS_ADDRESS', value: podRedisAddress },
                    { name: 'LIST_NAME', value: listName },
                    { name: 'WORK_MS', value: '1000' },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    manifest = redisWorkerManifest({ address: redisAddress, listName, namespace });
    await client.request('POST', soPath(namespace), { body: parse(manifest) as Record<string, unknown> });
  }, 70 * 60_000);

  afterAll(async () => {
    await client.request('DELETE', soPath(namespace, 'worker')).catch(() => undefined);
    await waitFor('the ScaledObject to be deleted', 30_000, () =>
      client.request('GET', soPath(namespace, 'worker')).then(
        () => undefined,
        (e: unknown) => (isNotFound(e) ? true : undefined),
      ),
    );
    const code = await operator?.stop();
    await deleteNamespace(client, namespace);
    await redis?.del(listName);
    redis?.disconnect();
    await redisService?.stop();
    expect(code).toBe(0);
  }, 120_000);

  async function pods(): Promise<PodView[]> {
    const list = await client.request<{ items: PodView[] }>('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=app%3Dworker`);
    return list.items.filter((p) => !p.metadata.deletionTimestamp);
  }

  it('runs and drains like the simulation says, second by second', async () => {
    const observed: { running: number; backlog: number }[] = [];
    const startLatency = new Map<string, number>();
    const start = Date.now();
    for (let t = 0; t < seconds; t += 1) {
      await sleep(Math.max(0, start + t * 1000 - Date.now()));
      for (const [at, count] of arrivals) if (at === t) await redis?.rpush(listName, ...Array.from({ length: count }, (_, i) => `job-${t}-${i}`));
      const now = await pods();
      for (const p of now) {
        const started = p.status?.containerStatuses?.[0]?.state?.running?.startedAt;
        if (started && p.metadata.creationTimestamp) startLatency.set(p.metadata.name, (Date.parse(started) - Date.parse(p.metadata.creationTimestamp)) / 1000);
      }
      observed.push({ running: now.filter((p) => p.status?.phase === 'Running').length, backlog: (await redis?.llen(listName)) ?? 0 });
    }
    const latencies = [...startLatency.values()].sort((a, b) => a - b);
    const regularStartSeconds = Math.max(1, Math.round(latencies[Math.floor(latencies.length / 2)] ?? 1));

    const workload = loadWorkload(manifest);
    const trace = parseTraceCsv(arrivalsCsv(arrivals, seconds));
    const parameters = {
      ...defaultParameters,
      hpaSyncSeconds: 2,
      downscaleStabilizationSeconds: 10,
      regularStartSeconds,
      pod: { vcpu: 0.1, memoryGiB: 0.0625 },
      node: { cpu: 4, memoryGiB: 8, pods: 110 },
      autoscaler: { ...defaultParameters.autoscaler, minNodes: 1, maxNodes: 1 },
      drainLimitSeconds: 0,
    };
    const result = simulateStrategy(
      trace,
      workload,
      { name: 'nodes only', kind: 'nodes' },
      { ...engineSettings(trace, workload, parameters), sampleEverySeconds: 1 },
    );
    const simulated = (series: number[], t: number) => series[result.samples.t.indexOf(t)] ?? 0;
    const replicasAgree = observed.filter((o, t) => Math.abs(o.running - simulated(result.samples.regular, t)) <= 1).length / seconds;
    const peakBacklog = Math.max(...observed.map((o) => o.backlog));
    const backlogTolerance = Math.max(5, 0.2 * peakBacklog);
    const backlogAgree = observed.filter((o, t) => Math.abs(o.backlog - simulated(result.samples.backlog, t)) <= backlogTolerance).length / seconds;
    console.log(`pod start on the real node (created → container started), median of ${latencies.length}: ${regularStartSeconds} s`);
    console.log(
      `agreement (real node): replicas ${(replicasAgree * 100).toFixed(0)}% of ${seconds} s within ±1; backlog ${(backlogAgree * 100).toFixed(0)}% within ±${backlogTolerance.toFixed(0)} items`,
    );
    console.log(
      `observed replicas:  ${observed.map((o) => o.running).join(' ')}\nsimulated replicas: ${Array.from({ length: seconds }, (_, t) => simulated(result.samples.regular, t)).join(' ')}`,
    );
    console.log(
      `observed backlog:  ${observed.map((o) => o.backlog).join(' ')}\nsimulated backlog: ${Array.from({ length: seconds }, (_, t) => Math.round(simulated(result.samples.backlog, t))).join(' ')}`,
    );
    // The pods did the work: the list is empty by the end, and they scaled past one replica to do it.
    expect(observed.at(-1)?.backlog).toBe(0);
    expect(Math.max(...observed.map((o) => o.running))).toBeGreaterThanOrEqual(5);
    expect(replicasAgree).toBeGreaterThanOrEqual(0.8);
    expect(backlogAgree).toBeGreaterThanOrEqual(0.7);
  }, 300_000);
});
