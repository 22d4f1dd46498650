// @sandbox kube
// The virtual node against a real control plane: the real scheduler places pods on it (or not), the node
// lifecycle controller watches its Lease, the API server proxies `kubectl logs` to its kubelet API. The node
// runs as a child process (`swell virtual-node --provider process`), as users run it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpKubeClient } from '../../src/kube/client.js';
import { pino } from 'pino';
import { freePort } from '../../src/sandbox/net.js';
import { createSystemClock } from '../../src/controller/clock.js';
import { fargatePricing } from '../../src/virtual-node/cost/metering.js';
import { ProcessProvider } from '../../src/virtual-node/providers/process/provider.js';
import { SimulatedProvider } from '../../src/virtual-node/providers/simulated.js';
import { startVirtualNode } from '../../src/virtual-node/virtual-node.js';

const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const core = kubeConfig.makeApiClient(CoreV1Api);
const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);

const suffix = Math.random().toString(36).slice(2, 8);
const nodeName = `vk-test-${suffix}`;
const namespace = `vk-test-${suffix}`;
const stateDir = mkdtempSync(join(tmpdir(), 'swell-vk-test-'));
let kubeletPort = 0;
let metricsPort = 0;
let node: ChildProcess | undefined;
let output = '';

function startNode(): ChildProcess {
  // node itself, not npx: signals must reach the program, and it must die with them.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'virtual-node',
      '--name',
      nodeName,
      '--provider',
      'process',
      '--state-dir',
      stateDir,
      '--port',
      String(kubeletPort),
      '--metrics-port',
      String(metricsPort),
    ],
    { env: { ...process.env, SWELL_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return child;
}

async function stopNode(): Promise<void> {
  const child = node;
  node = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    throw new Error(`the virtual node did not exit within 15s of SIGTERM\n${output.slice(-2000)}`);
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}\n--- virtual node output ---\n${output.slice(-3000)}`,
  );
}

const toleration = { key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' };

function podSpec(name: string, script: string, extra: { tolerate?: boolean; restartPolicy?: 'Always' | 'Never'; grace?: number } = {}): V1Pod {
  return {
    metadata: { name, namespace },
    spec: {
      restartPolicy: extra.restartPolicy ?? 'Never',
      nodeSelector: { 'kubernetes.io/hostname': nodeName },
      ...(extra.tolerate === false ? {} : { tolerations: [toleration] }),
      terminationGracePeriodSeconds: extra.grace ?? 5,
      containers: [{ name: 'main', image: 'busybox:1.36', command: ['sh', '-c', script], resources: { requests: { cpu: '500m', memory: '1Gi' } } }],
    },
  };
}

const readPod = (name: string) => core.readNamespacedPod({ name, namespace });

beforeAll(async () => {
  kubeletPort = await freePort();
  metricsPort = await freePort();
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  node = startNode();
  await until('the node to register Ready', async () => {
    const n = await core.readNode({ name: nodeName });
    return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && n;
  });
});

afterAll(async () => {
  await stopNode();
  // The process provider leaves its pods running when the program stops (it re-adopts them on start); stop
  // the ones this test left behind through the provider itself.
  const leftovers = ProcessProvider.open({
    stateDir: join(stateDir, nodeName),
    clock: createSystemClock(),
    log: pino({ level: 'silent' }),
    capacity: { cpu: '1', memory: '1Gi', pods: '1' },
  });
  for (const p of await leftovers.listPods()) await leftovers.deletePod({ metadata: { namespace: p.namespace, name: p.name, uid: p.uid } }, 0);
  await until(
    'leftover processes to stop',
    async () => (await leftovers.listPods()).every((p) => p.containers.every((c) => c.state.kind !== 'running')),
    10_000,
  );
  await leftovers.close();
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  // Pods still bound to the stopped node would never be confirmed deleted: remove them outright.
  const left = await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] as V1Pod[] }));
  for (const p of left.items) await core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  await core.deleteNode({ name: nodeName }).catch(() => undefined);
  await coordination.deleteNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' }).catch(() => undefined);
  await rbac.deleteClusterRole({ name: `${namespace}-node-proxy` }).catch(() => undefined);
  await rbac.deleteClusterRoleBinding({ name: `${namespace}-node-proxy` }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe('virtual node', () => {
  it('registers with the virtual-kubelet labels, taint, kubelet port and a renewed Lease', async () => {
    const n = await core.readNode({ name: nodeName });
    expect(n.metadata?.labels).toMatchObject({
      type: 'virtual-kubelet',
      'kubernetes.io/role': 'agent',
      'kubernetes.io/hostname': nodeName,
      'kubernetes.io/os': 'linux',
    });
    expect(n.metadata?.annotations?.['kwok.x-k8s.io/node']).toBeUndefined();
    expect(n.spec?.taints).toContainEqual({ key: 'virtual-kubelet.io/provider', value: 'process', effect: 'NoSchedule' });
    expect(n.status?.daemonEndpoints?.kubeletEndpoint?.Port).toBe(kubeletPort);
    expect(n.status?.addresses).toEqual([{ type: 'InternalIP', address: '127.0.0.1' }]);
    expect(n.status?.allocatable).toMatchObject({ cpu: '1k', pods: '5k' });
    const first = await coordination.readNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' });
    expect(first.spec?.holderIdentity).toBe(nodeName);
    const renewed = await until(
      'the Lease to be renewed',
      async () => {
        const lease = await coordination.readNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' });
        return String(lease.spec?.renewTime) !== String(first.spec?.renewTime) && lease;
      },
      25_000,
    );
    expect(new Date(renewed.spec?.renewTime ?? 0).getTime()).toBeGreaterThan(new Date(first.spec?.renewTime ?? 0).getTime());
  }, 40_000);

  it('runs a tolerating pod the scheduler places on it: Running, then Succeeded, with kubelet-style status', async () => {
    await core.createNamespacedPod({ namespace, body: podSpec('job', 'echo "hello from $HOSTNAME"; sleep 2; echo done') });
    const running = await until('the pod to run', async () => {
      const p = await readPod('job');
      return p.status?.phase === 'Running' && p;
    });
    expect(running.spec?.nodeName).toBe(nodeName);
    expect(running.status?.podIP).toBe('127.0.0.1');
    expect(running.status?.hostIP).toBe('127.0.0.1');
    expect(running.status?.startTime).toBeDefined();
    expect(running.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const done = await until('the pod to succeed', async () => {
      const p = await readPod('job');
      return p.status?.phase === 'Succeeded' && p;
    });
    expect(done.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(done.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  it('fails a pod whose command does not exist, saying so', async () => {
    await core.createNamespacedPod({
      namespace,
      body: {
        ...podSpec('missing', ''),
        spec: { ...podSpec('missing', '').spec!, containers: [{ name: 'main', image: 'x', command: ['no-such-command-xyz'] }] },
      },
    });
    const failed = await until('the pod to fail', async () => {
      const p = await readPod('missing');
      return p.status?.phase === 'Failed' && p;
    });
    expect(failed.status?.reason).toBe('CommandNotFound');
    expect(failed.status?.message).toContain('no-such-command-xyz');
  });

  it('never gets a pod that does not tolerate its taint', async () => {
    await core.createNamespacedPod({ namespace, body: podSpec('intolerant', 'sleep 1', { tolerate: false }) });
    const unschedulable = await until('the scheduler to give up on the pod', async () => {
      const p = await readPod('intolerant');
      return p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') && p;
    });
    expect(unschedulable.spec?.nodeName).toBeUndefined();
    await sleep(2000);
    expect((await readPod('intolerant')).spec?.nodeName).toBeUndefined();
  });

  it('serves container logs through the API server', async () => {
    let logs: string;
    try {
      logs = await core.readNamespacedPodLog({ name: 'job', namespace, container: 'main' });
    } catch (error) {
      throw new Error(
        `reading logs through the API server failed (${String(error).split('\n')[0]}). The API server must present a client certificate to kubelets: ` +
          'start kube-apiserver with --kubelet-client-certificate/--kubelet-client-key (a cert from the cluster client CA whose user may get nodes/proxy, e.g. O=system:masters)',
        { cause: error },
      );
    }
    expect(logs).toBe('hello from job\ndone\n');
    expect(await core.readNamespacedPodLog({ name: 'job', namespace, container: 'main', tailLines: 1 })).toBe('done\n');
  });

  it('lets a service account token read logs only with nodes/proxy permission (TokenReview + SubjectAccessReview)', async () => {
    for (const name of ['reader', 'nobody']) await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    await rbac.createClusterRole({
      body: { metadata: { name: `${namespace}-node-proxy` }, rules: [{ apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get'] }] },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `${namespace}-node-proxy` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${namespace}-node-proxy` },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    const token = async (name: string) =>
      (await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 600 } } })).status?.token ?? '';
    const get = (bearer: string) => kubeletGet(`/containerLogs/${namespace}/job/main`, bearer);
    expect(await get(await token('reader'))).toEqual({ status: 200, body: 'hello from job\ndone\n' });
    expect((await get(await token('nobody'))).status).toBe(403);
    expect((await get('not-a-token')).status).toBe(401);
  });

  it('deletes a running pod gracefully: stops the process, then removes the object', async () => {
    await core.createNamespacedPod({
      namespace,
      body: podSpec('long', 'trap "echo stopping; exit 0" TERM; while true; do sleep 0.2; done', { restartPolicy: 'Always', grace: 10 }),
    });
    await until('the pod to run', async () => (await readPod('long')).status?.phase === 'Running');
    const started = Date.now();
    await core.deleteNamespacedPod({ name: 'long', namespace });
    await until('the pod object to be gone', async () => {
      try {
        await readPod('long');
        return false;
      } catch {
        return true;
      }
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('keeps its running pods across a restart of the program', async () => {
    await core.createNamespacedPod({ namespace, body: podSpec('survivor', 'echo started; while true; do sleep 0.2; done', { restartPolicy: 'Always' }) });
    const before = await until('the pod to run', async () => {
      const p = await readPod('survivor');
      return p.status?.phase === 'Running' && p;
    });
    await stopNode();
    const mark = output.length;
    node = startNode();
    await until('the restarted node to run', () => Promise.resolve(output.slice(mark).includes('"msg":"virtual node running"')));
    await sleep(3000);
    const after = await readPod('survivor');
    expect(after.status?.phase).toBe('Running');
    expect(after.status?.containerStatuses?.[0]?.containerID).toBe(before.status?.containerStatuses?.[0]?.containerID);
    expect(after.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(String(after.status?.containerStatuses?.[0]?.state?.running?.startedAt)).toBe(
      String(before.status?.containerStatuses?.[0]?.state?.running?.startedAt),
    );
    expect((await kubeletGetAsAdmin(`/containerLogs/${namespace}/survivor/main`)).body).toBe('started\n');
  }, 60_000);

  it('meters what its pods cost and prints it with `swell virtual-node cost`', async () => {
    const table = await runCli(['virtual-node', 'cost', '--metrics-url', `http://127.0.0.1:${metricsPort}/metrics`]);
    const survivor = table.split('\n').find((line) => line.includes(namespace) && line.includes('Pod/survivor'));
    expect(survivor, table).toBeDefined();
    // 0.5 vCPU and 1 GiB for at least the one-minute minimum.
    const [vcpuSeconds, gibSeconds, dollars] = (survivor ?? '').trim().split(/\s+/).slice(-3).map(Number);
    expect(vcpuSeconds).toBeGreaterThanOrEqual(30);
    expect(gibSeconds).toBe((vcpuSeconds ?? 0) * 2);
    expect(dollars).toBeCloseTo(((vcpuSeconds ?? 0) * 0.04048 + (gibSeconds ?? 0) * 0.004445) / 3600, 6);
  });

  it('goes NotReady once the program stops renewing its Lease', async () => {
    await stopNode();
    await until(
      'the node lifecycle controller to mark the node not ready',
      async () => {
        const n = await core.readNode({ name: nodeName });
        return n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True';
      },
      120_000,
    );
  }, 130_000);
});

/** GET on the node's kubelet API with a bearer token (its serving certificate is self-signed). */
function kubeletGet(path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: kubeletPort, path, rejectUnauthorized: false, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The same as the admin user of the kubeconfig (client certificate). */
function kubeletGetAsAdmin(path: string): Promise<{ status: number; body: string }> {
  const user = kubeConfig.getCurrentUser();
  const decode = (data: string | undefined) => (data ? Buffer.from(data, 'base64').toString('utf8') : undefined);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: kubeletPort, path, rejectUnauthorized: false, cert: decode(user?.certData), key: decode(user?.keyData) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`swell ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

describe('virtual node health', () => {
  it('reports NotReady while the provider health check fails, and Ready again once it passes', async () => {
    const name = `vk-health-${suffix}`;
    const clock = createSystemClock();
    const provider = new SimulatedProvider({
      clock,
      startLatencyMs: 0,
      failureRate: 0,
      random: Math.random,
      capacity: { cpu: '1k', memory: '4Ti', pods: '5k' },
    });
    const running = await startVirtualNode({
      client: createHttpKubeClient(kubeConfig),
      name,
      provider,
      regular: false,
      nodeIP: '127.0.0.1',
      kubeletPort: 0,
      rates: fargatePricing,
      clock,
      log: pino({ level: 'silent' }),
    });
    const ready = async () => (await core.readNode({ name })).status?.conditions?.find((c) => c.type === 'Ready');
    try {
      expect((await ready())?.status).toBe('True');
      provider.setHealthProblem('backend quota exhausted');
      const notReady = await until(
        'Ready=False',
        async () => {
          const condition = await ready();
          return condition?.status === 'False' && condition;
        },
        25_000,
      );
      expect(notReady.reason).toBe('ProviderUnhealthy');
      expect(notReady.message).toContain('backend quota exhausted');
      provider.setHealthProblem(undefined);
      await until('Ready=True again', async () => (await ready())?.status === 'True', 25_000);
    } finally {
      await running.stop();
      await core.deleteNode({ name }).catch(() => undefined);
      await coordination.deleteNamespacedLease({ name, namespace: 'kube-node-lease' }).catch(() => undefined);
    }
  }, 60_000);
});
