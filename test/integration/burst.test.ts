// @sandbox kube
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBurstPolicyCrd } from '../../src/apis/swell/v1alpha1/crd.js';
import { startBurstPlacement, type BurstPlacement } from '../../src/burst/index.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createLogger } from '../../src/log.js';
import { createHttpKubeClient } from '../../src/kube/client.js';
import { startWebhooks, type RunningWebhooks } from '../../src/webhooks/index.js';
import { unregisterWebhooks } from '../../src/webhooks/register.js';

const log = createLogger({ name: 'burst-test', level: 'warn' });
const suffix = randomBytes(3).toString('hex');
const namespace = `burst-${suffix}`;
const virtualNode = `burst-vn-${suffix}`;
const configurationName = `swell-burst-${suffix}`;
const repo = join(import.meta.dirname, '..', '..');

let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let node: ChildProcess | undefined;
let placement: BurstPlacement | undefined;
let webhooks: RunningWebhooks | undefined;
const stopLoop = new AbortController();
let loop: Promise<void> | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

async function livePods(app: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

function placementOf(pods: V1Pod[]) {
  const running = pods.filter((p) => p.status?.phase === 'Running');
  return {
    total: pods.length,
    running: running.length,
    virtual: running.filter((p) => p.spec?.nodeName === virtualNode).length,
    regular: running.filter((p) => p.spec?.nodeName && p.spec.nodeName !== virtualNode).length,
  };
}

async function deployment(name: string, cpu: string): Promise<void> {
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'app', image: 'registry.invalid/app:1', resources: { requests: { cpu, memory: '64Mi' } } }],
          },
        },
      },
    },
  });
}

async function scale(name: string, replicas: number): Promise<void> {
  await createHttpKubeClient(kc).request('PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}/scale`, {
    body: { spec: { replicas } },
    contentType: 'application/merge-patch+json',
  });
}

async function burstPolicy(name: string, spec: Record<string, unknown>): Promise<void> {
  await createHttpKubeClient(kc).request('POST', `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies`, {
    body: {
      apiVersion: 'swell.dev/v1alpha1',
      kind: 'BurstPolicy',
      metadata: { name },
      spec: { ...spec, virtualNode: { nodeSelector: { 'kubernetes.io/hostname': virtualNode, type: 'virtual-kubelet' } } },
    },
  });
}

beforeAll(async () => {
  kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG ?? '');
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  const client = createHttpKubeClient(kc);
  try {
    await client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: buildBurstPolicyCrd() });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
  await until('BurstPolicy CRD', async () => {
    const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
      'GET',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/burstpolicies.swell.dev',
    );
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  const metricsPort = await freePort();
  node = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'virtual-node',
      '--name',
      virtualNode,
      '--port',
      '0',
      '--metrics-port',
      String(metricsPort),
      '--start-latency',
      '1s',
      '--log-level',
      'warn',
    ],
    { cwd: repo, env: process.env, stdio: 'ignore' },
  );
  await until('the virtual node to be Ready', async () => {
    const n = await core.readNode({ name: virtualNode });
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  placement = await startBurstPlacement({
    client,
    listWatch: (path) => createKubeListWatchSource(client, path),
    log,
    costMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
  });
  loop = placement.run(stopLoop.signal);
  webhooks = await startWebhooks({ client, log, host: '127.0.0.1', port: 0, configurationName, validateKeda: false, podMutator: placement.podMutator });
  // The apiserver needs a moment to start calling a newly registered webhook.
  await new Promise((r) => setTimeout(r, 3_000));
}, 180_000);

afterAll(async () => {
  stopLoop.abort();
  await loop;
  await webhooks?.stop();
  await unregisterWebhooks(createHttpKubeClient(kc), configurationName, log);
  await placement?.stop();
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  node?.kill('SIGTERM');
  await core.deleteNode({ name: virtualNode }).catch(() => undefined);
}, 60_000);

describe('burst placement on the sandbox (real scheduler and controllers, swell virtual node)', () => {
  it('0 → 8 with baseReplicas 3 puts 3 pods on regular nodes and 5 on the virtual node; 8 → 4 removes virtual pods first', async () => {
    await deployment('web', '100m');
    await burstPolicy('web', { scaleTargetRef: { name: 'web' }, baseReplicas: 3, pendingTimeout: '20s', rebalance: { enabled: false } });
    await scale('web', 8);
    const up = await until('8 running pods', async () => {
      const p = placementOf(await livePods('web'));
      return p.running === 8 && p.total === 8 ? p : undefined;
    });
    expect(up).toEqual({ total: 8, running: 8, regular: 3, virtual: 5 });

    await scale('web', 4);
    const down = await until('4 pods left', async () => {
      const p = placementOf(await livePods('web'));
      return p.total === 4 && p.running === 4 ? p : undefined;
    });
    expect(down).toEqual({ total: 4, running: 4, regular: 3, virtual: 1 });

    const status = await until('BurstPolicy status', async () => {
      const bp = await createHttpKubeClient(kc).request<{ status?: { baseReplicas?: number; burstReplicas?: number; cost?: string } }>(
        'GET',
        `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies/web`,
      );
      return bp.status?.burstReplicas === 1 && bp.status.baseReplicas === 3 ? bp.status : undefined;
    });
    expect(Number(status.cost)).toBeGreaterThan(0);
  });

  it('without baseReplicas, fills regular nodes first and bursts only the overflow, after pendingTimeout', async () => {
    const pendingTimeoutMs = 6_000;
    // 3 of a 4-CPU node: each regular node takes at most one of these pods.
    await deployment('big', '3');
    await burstPolicy('big', { scaleTargetRef: { name: 'big' }, pendingTimeout: '6s', rebalance: { enabled: false } });
    await scale('big', 4);
    const placed = await until('4 running pods', async () => {
      const p = placementOf(await livePods('big'));
      return p.running === 4 ? p : undefined;
    });
    expect(placed.regular).toBeLessThanOrEqual(2);
    expect(placed.virtual).toBe(4 - placed.regular);
    expect(placed.virtual).toBeGreaterThanOrEqual(2);
    for (const pod of (await livePods('big')).filter((p) => p.spec?.nodeName === virtualNode)) {
      // Burst in place: the same pod, which waited unschedulable at least pendingTimeout before it got the toleration.
      const created = new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
      const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'True');
      expect(new Date(scheduled?.lastTransitionTime ?? 0).getTime() - created).toBeGreaterThanOrEqual(pendingTimeoutMs - 1_000);
      expect(pod.metadata?.labels?.['swell.dev/tier']).toBe('burst');
      expect(pod.spec?.nodeSelector ?? {}).not.toHaveProperty('type');
    }
  });

  it('when regular capacity frees up, rebalance moves burst pods back one at a time without the ready count dropping', async () => {
    await scale('big', 0);
    await until('big scaled to 0', async () => ((await livePods('big')).length === 0 ? true : undefined));
    // Without a BurstPolicy, `hog` takes 3 of the 4 CPUs of each regular node.
    await deployment('hog', '3');
    await scale('hog', 2);
    await until('hog on both regular nodes', async () => (placementOf(await livePods('hog')).regular === 2 ? true : undefined));
    await deployment('mover', '2');
    await burstPolicy('mover', { scaleTargetRef: { name: 'mover' }, pendingTimeout: '3s', rebalance: { enabled: true, interval: '2s' } });
    await scale('mover', 2);
    const burst = await until('mover bursting', async () => {
      const p = placementOf(await livePods('mover'));
      return p.running === 2 ? p : undefined;
    });
    expect(burst).toMatchObject({ regular: 0, virtual: 2 });

    await scale('hog', 0);
    let lowestRunning = Number.POSITIVE_INFINITY;
    const moved = await until(
      'mover back on regular nodes',
      async () => {
        const p = placementOf(await livePods('mover'));
        lowestRunning = Math.min(lowestRunning, p.running);
        return p.regular === 2 && p.virtual === 0 && p.total === 2 ? p : undefined;
      },
      120_000,
    );
    expect(moved).toEqual({ total: 2, running: 2, regular: 2, virtual: 0 });
    expect(lowestRunning).toBeGreaterThanOrEqual(2);
  }, 180_000);
});
