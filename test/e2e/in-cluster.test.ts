// @sandbox kube,node,redis
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound } from '../../src/kube/errors.js';
import { createHttpKubeClient, resourcePath, type KubeClient } from '../../src/kube/client.js';
import { ensureHelm } from '../../src/sandbox/helm.js';
import { exposeHostService, type HostService } from '../../src/sandbox/host-service.js';
import { realNodeLabel, realNodeName, realNodeTaint } from '../../src/sandbox/node-config.js';
import { importImage } from '../../src/sandbox/node-image.js';
import { nodeContainerdEnvVar } from '../../src/sandbox/node.js';
import { defaultCacheDir } from '../../src/sandbox/paths.js';
import { createNamespace, deleteNamespace, sandboxClient, setHelmOwnershipOfCrds, soPath, waitFor } from '../integration/operator-support.js';
import { repoDir } from './support.js';

/*
 * swell as users run it: `helm install` of the chart with swell's own image, two operator pods on the sandbox's
 * real node (containerd, runc, a CNI bridge, kube-proxy), the apiserver reaching the external metrics APIService
 * and the admission webhooks through their Services, and a Redis ScaledObject scaling a Deployment of real
 * consumer pods that pop the list. Then the leader pod is deleted, the chart upgraded and uninstalled.
 * Figures (pod start, activation, failover, upgrade unavailability) are printed and written to
 * .swell/e2e/in-cluster.json; nothing asserts on them.
 */

const chartDir = join(repoDir, 'charts', 'swell');
const suffix = randomBytes(3).toString('hex');
const release = 'swell-ic';
const releaseNamespace = `swell-ic-${suffix}`;
const appNamespace = `swell-ic-apps-${suffix}`;
const operatorLabels = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=operator`;
const listName = 'jobs';
const items = 40;
const maxReplicas = 4;
const metricName = `s0-redis-${listName}`;

interface Pod {
  metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    securityContext?: Record<string, unknown>;
    containers: { securityContext?: Record<string, unknown>; readinessProbe?: unknown; livenessProbe?: unknown }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    containerStatuses?: { ready: boolean; restartCount: number }[];
  };
}

const figures: Record<string, number | string> = {};
let helm: string;
let admin: KubeClient;
let core: CoreV1Api;
/** Short timeouts, for probes that must tell "unavailable" from "slow" quickly. */
let prober: KubeClient;
let redis: Redis;
let redisService: HostService | undefined;
let images: { swell: { repository: string; tag: string }; consumer: string };
let installed = false;

function run(command: string, args: string[], timeoutMs = 180_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: repoDir, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: process.env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function record(name: string, value: number | string): void {
  figures[name] = value;
  console.log(`[in-cluster] ${name}: ${value}`);
}

const podsPath = (namespace: string) => resourcePath({ group: '', version: 'v1', resource: 'pods', namespace });
const leasePath = resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: releaseNamespace, name: 'swell-operator' });
const deploymentPath = (namespace: string, name: string) => resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace, name });
const apiServicePath = resourcePath({ group: 'apiregistration.k8s.io', version: 'v1', resource: 'apiservices', name: 'v1beta1.external.metrics.k8s.io' });
const metricPath = `/apis/external.metrics.k8s.io/v1beta1/namespaces/${appNamespace}/${metricName}?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=worker')}`;

async function pods(namespace: string, selector: string): Promise<Pod[]> {
  const list = await admin.request<{ items: Pod[] }>('GET', `${podsPath(namespace)}?labelSelector=${encodeURIComponent(selector)}`);
  return list.items;
}

const isReady = (pod: Pod) => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const live = (list: Pod[]) => list.filter((p) => p.metadata.deletionTimestamp === undefined);

/** Seconds from a pod's creation to its Ready condition, as the apiserver recorded them (1 s resolution). */
function startSeconds(pod: Pod): number {
  const ready = pod.status.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime;
  return (Date.parse(ready ?? '') - Date.parse(pod.metadata.creationTimestamp)) / 1000;
}

async function leaderPod(): Promise<string | undefined> {
  const lease = await admin.request<{ spec?: { holderIdentity?: string } }>('GET', leasePath);
  const holder = lease.spec?.holderIdentity;
  return holder ? holder.split('_')[0] : undefined;
}

/**
 * The helm arguments every install and upgrade shares: swell's image, never pulled, and the real node. It watches
 * one namespace because the sandbox is shared with other suites' ScaledObjects.
 */
function chartValues(): string[] {
  return [
    '--set',
    `watchNamespace=${appNamespace}`,
    '--set',
    `image.repository=${images.swell.repository}`,
    '--set',
    `image.tag=${images.swell.tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--set-json',
    `operator.nodeSelector=${JSON.stringify({ [realNodeLabel.key]: realNodeLabel.value })}`,
    '--set-json',
    `operator.tolerations=${JSON.stringify([{ ...realNodeTaint, operator: 'Equal' }])}`,
  ];
}

/** A consumer Deployment at 0 replicas whose pods run the consumer image on the real node and pop `listName`. */
function consumerDeployment(redisAddress: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'worker', namespace: appNamespace },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'worker' } },
      template: {
        metadata: { labels: { app: 'worker' } },
        spec: {
          nodeSelector: { [realNodeLabel.key]: realNodeLabel.value },
          tolerations: [{ ...realNodeTaint, operator: 'Equal' }],
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'worker',
              image: images.consumer,
              imagePullPolicy: 'Never',
              env: [
                { name: 'REDIS_ADDRESS', value: redisAddress },
                { name: 'LIST_NAME', value: listName },
                { name: 'WORK_MS', value: '400' },
              ],
              resources: { requests: { cpu: '10m', memory: '48Mi' } },
              securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
}

/** The Redis trigger, 5 items per replica; the HPA scales down without a window so the story takes seconds. */
function scaledObject(redisAddress: string): Record<string, unknown> {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'worker', namespace: appNamespace },
    spec: {
      scaleTargetRef: { name: 'worker' },
      pollingInterval: 1,
      cooldownPeriod: 5,
      minReplicaCount: 0,
      maxReplicaCount: maxReplicas,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] } },
        },
      },
      triggers: [{ type: 'redis', metadata: { address: redisAddress, listName, listLength: '5' } }],
    },
  };
}

/** The operators' logs in .swell/e2e, kept for whoever reads a failure: they go with the pods. */
async function saveOperatorLogs(): Promise<void> {
  await mkdir(join(repoDir, '.swell', 'e2e'), { recursive: true });
  for (const pod of await pods(releaseNamespace, operatorLabels).catch(() => [])) {
    const log = await core.readNamespacedPodLog({ namespace: releaseNamespace, name: pod.metadata.name }).catch(() => '');
    await writeFile(join(repoDir, '.swell', 'e2e', `in-cluster-${pod.metadata.name}.log`), log);
  }
}

/** Items the worker pods logged as processed (each logs one JSON line per item it popped). */
async function processedItems(): Promise<string[]> {
  const seen: string[] = [];
  for (const pod of await pods(appNamespace, 'app=worker')) {
    const log = await core.readNamespacedPodLog({ namespace: appNamespace, name: pod.metadata.name }).catch(() => '');
    for (const line of log.split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; item?: string };
      if (entry.msg === 'processed' && entry.item !== undefined) seen.push(entry.item);
    }
  }
  return seen;
}

/**
 * One burst of work: RPUSH `items`, the Deployment wakes from zero onto the real node, scales out to several
 * pods, the pods drain the list (the list only shrinks by their pops), and swell puts it back to zero.
 */
async function drainStory(label: string): Promise<void> {
  expect((await pods(appNamespace, 'app=worker')).length).toBe(0);
  const values = Array.from({ length: items }, (_, i) => `${label}-${i}`);
  const pushed = Date.now();
  await redis.rpush(listName, ...values);
  const first = await waitFor('a worker pod Ready', 90_000, async () => (live(await pods(appNamespace, 'app=worker')).some(isReady) ? true : undefined));
  expect(first).toBe(true);
  record(`${label}: RPUSH → first consumer pod Ready (ms)`, Date.now() - pushed);
  const scaledOut = await waitFor(`more than one Ready worker pod (${label})`, 90_000, async () => {
    const ready = live(await pods(appNamespace, 'app=worker')).filter(isReady);
    return ready.length > 1 ? ready : undefined;
  });
  for (const pod of scaledOut) expect(pod.spec.nodeName).toBe(realNodeName);
  record(`${label}: RPUSH → ${scaledOut.length} pods Ready (ms)`, Date.now() - pushed);
  // Every item is popped by a worker pod, not by anything else: the pods' logs together name each one. They are
  // read while the list drains, as a pod's log goes with it when the Deployment scales in.
  const seen = new Set<string>();
  const collect = async () => {
    for (const item of await processedItems()) if (item.startsWith(`${label}-`)) seen.add(item);
  };
  await waitFor(`the list drained by the pods (${label})`, 120_000, async () => {
    await collect();
    return (await redis.llen(listName)) === 0 ? true : undefined;
  });
  record(`${label}: RPUSH → list drained (ms)`, Date.now() - pushed);
  await waitFor(`every ${label} item in the workers' logs`, 30_000, async () => {
    await collect();
    return seen.size === items ? true : undefined;
  }).catch(() => undefined);
  expect([...seen].sort()).toEqual([...values].sort());
  const drained = Date.now();
  await waitFor(`the workers scaled back to zero (${label})`, 120_000, async () => {
    const deployment = await admin.request<{ spec: { replicas: number } }>('GET', deploymentPath(appNamespace, 'worker'));
    return deployment.spec.replicas === 0 && (await pods(appNamespace, 'app=worker')).length === 0 ? true : undefined;
  });
  record(`${label}: list drained → 0 pods (ms)`, Date.now() - drained);
}

beforeAll(async () => {
  const containerdSocket = process.env[nodeContainerdEnvVar];
  if (!containerdSocket) throw new Error(`${nodeContainerdEnvVar} is not set: the real node did not start (it needs root; see the test setup's output)`);
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new Error('REDIS_URL is not set');
  helm = await ensureHelm(defaultCacheDir(), (message) => process.stderr.write(`[helm] ${message}\n`));
  const sandbox = sandboxClient();
  admin = sandbox.client;
  core = sandbox.kubeConfig.makeApiClient(CoreV1Api);
  prober = createHttpKubeClient(sandbox.kubeConfig, { timeoutMs: 2_000 });

  // What users run: the compiled CLI builds (or finds cached) both images; each is imported into the node.
  const built = (await run(process.execPath, ['bin/swell.js', 'dev', 'images'], 60 * 60_000))
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const [swell, consumer] = built;
  if (!swell?.[0] || !swell[1] || !consumer?.[0] || !consumer[1]) throw new Error(`unexpected output of swell dev images: ${JSON.stringify(built)}`);
  const imported = Date.now();
  await importImage(containerdSocket, swell[1], swell[0]);
  await importImage(containerdSocket, consumer[1], consumer[0]);
  record('image import into the node, both images (ms)', Date.now() - imported);
  const colon = swell[0].lastIndexOf(':');
  images = { swell: { repository: swell[0].slice(0, colon), tag: swell[0].slice(colon + 1) }, consumer: consumer[0] };

  await createNamespace(admin, appNamespace);
  await waitFor(`ServiceAccount ${appNamespace}/default`, 30_000, () =>
    admin.request('GET', resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace: appNamespace, name: 'default' })),
  );
  const node = await admin.request<{ status?: { addresses?: { type: string; address: string }[] } }>(
    'GET',
    resourcePath({ group: '', version: 'v1', resource: 'nodes', name: realNodeName }),
  );
  const nodeIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!nodeIp) throw new Error(`node ${realNodeName} has no InternalIP`);
  redisService = await exposeHostService({ core, namespace: appNamespace, name: 'redis', nodeIp, port: Number(new URL(redisUrl).port), servicePort: 6379 });
  // The external metrics APIService is one per cluster; wait for another suite's release to let it go.
  await waitFor('no other release owning APIService v1beta1.external.metrics.k8s.io', 120_000, async () => {
    try {
      await admin.request('GET', apiServicePath);
      return undefined;
    } catch (error) {
      if (isNotFound(error)) return true;
      throw error;
    }
  });
  await setHelmOwnershipOfCrds(admin, { release, namespace: releaseNamespace });
  redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  await redis.del(listName);
}, 70 * 60_000);

afterAll(async () => {
  await mkdir(join(repoDir, '.swell', 'e2e'), { recursive: true });
  await writeFile(join(repoDir, '.swell', 'e2e', 'in-cluster.json'), `${JSON.stringify(figures, null, 2)}\n`);
  if (installed) await saveOperatorLogs();
  if (installed)
    await run(helm, ['uninstall', release, '--namespace', releaseNamespace, '--wait', '--timeout', '2m']).catch((error: unknown) => console.error(error));
  await redis?.del(listName).catch(() => undefined);
  redis?.disconnect();
  await redisService?.stop();
  // With the operator gone nothing removes the kept ScaledObject's finalizer; without this its namespace hangs.
  const left = await admin.request<{ items: { metadata: { name: string } }[] }>('GET', soPath(appNamespace)).catch(() => ({ items: [] }));
  for (const so of left.items) {
    await admin
      .request('PATCH', soPath(appNamespace, so.metadata.name), { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' })
      .catch(() => undefined);
  }
  await setHelmOwnershipOfCrds(admin, undefined);
  await deleteNamespace(admin, appNamespace);
  await deleteNamespace(admin, releaseNamespace);
}, 180_000);

describe('swell installed by Helm with its own image, on the real node', () => {
  it('runs two operator pods, non-root and read-only, Ready on the real node, one of them holding the Lease', async () => {
    const started = Date.now();
    await run(helm, ['install', release, chartDir, '--namespace', releaseNamespace, '--create-namespace', ...chartValues(), '--wait', '--timeout', '3m']);
    installed = true;
    record('helm install --wait (ms)', Date.now() - started);
    const operators = await pods(releaseNamespace, operatorLabels);
    expect(operators).toHaveLength(2);
    for (const pod of operators) {
      expect(pod.spec.nodeName).toBe(realNodeName);
      expect(pod.status.podIP).toMatch(/^10\.245\.\d+\.\d+$/);
      expect(isReady(pod)).toBe(true);
      expect(pod.status.containerStatuses?.[0]?.restartCount).toBe(0);
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      expect(pod.spec.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(pod.spec.containers[0]?.readinessProbe).toBeDefined();
      expect(pod.spec.containers[0]?.livenessProbe).toBeDefined();
    }
    record('operator pod start, created → Ready (s)', operators.map(startSeconds).join(', '));
    const leader = await waitFor('a Lease holder', 60_000, leaderPod);
    expect(operators.map((p) => p.metadata.name)).toContain(leader);
  });

  it('serves external.metrics.k8s.io to the apiserver through the metrics Service', async () => {
    const apiService = await waitFor('the APIService Available', 60_000, async () => {
      const found = await admin.request<{ spec: { service?: { name: string } }; status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        apiServicePath,
      );
      return found.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ? found : undefined;
    });
    expect(apiService.spec.service?.name).toBe(`${release}-metrics-apiserver`);
    const discovery = await admin.request<{ groupVersion: string }>('GET', '/apis/external.metrics.k8s.io/v1beta1');
    expect(discovery.groupVersion).toBe('external.metrics.k8s.io/v1beta1');
  });

  it('refuses an invalid ScaledObject through the validating webhook Service', async () => {
    const valid = scaledObject('127.0.0.1:6379') as { spec: Record<string, unknown> };
    const bad = { ...valid, metadata: { name: 'bad', namespace: appNamespace }, spec: { ...valid.spec, triggers: [{ type: 'no-such-scaler', metadata: {} }] } };
    // Right after install kube-proxy may not have programmed the webhook Service yet (about 1-4 s here), and a
    // webhook that cannot be called is skipped (failurePolicy Ignore): wait, with dry runs, until it answers.
    const installedAt = Date.now();
    await waitFor('the webhook refusing a dry run', 30_000, () =>
      admin.request('POST', `${soPath(appNamespace)}?dryRun=All`, { body: bad }).then(
        () => undefined,
        (error: unknown) => (/denied the request/.test(String(error)) ? true : undefined),
      ),
    );
    record('webhook answering through its Service, after the test began waiting (ms)', Date.now() - installedAt);
    const refused = await admin.request('POST', soPath(appNamespace), { body: bad }).then(
      () => 'admitted',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    expect(refused).toMatch(/admission webhook "[^"]+" denied the request: .*no scaler found for type: no-such-scaler/s);
    await expect(admin.request('GET', soPath(appNamespace, 'bad'))).rejects.toSatisfy(isNotFound);
  });

  it('scales a Deployment of real consumer pods 0 → N → 0 on a Redis list as the pods drain it', async () => {
    const address = redisService?.address ?? '';
    await admin.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace: appNamespace }), {
      body: consumerDeployment(address),
    });
    await admin.request('POST', soPath(appNamespace), { body: scaledObject(address) });
    await waitFor('the ScaledObject Ready', 60_000, async () => {
      const so = await admin.request<{ status?: { conditions?: { type: string; status: string; message?: string }[] } }>('GET', soPath(appNamespace, 'worker'));
      const readyCondition = so.status?.conditions?.find((c) => c.type === 'Ready');
      if (readyCondition?.status === 'True') return true;
      throw new Error(`Ready=${readyCondition?.status ?? 'unset'}: ${readyCondition?.message ?? ''}`);
    });
    await drainStory('first');
  });

  it('hands leadership to the other pod when the leader is deleted, and scaling goes on', async () => {
    const leader = await waitFor('a Lease holder', 30_000, leaderPod);
    const deleted = Date.now();
    await admin.request('DELETE', `${podsPath(releaseNamespace)}/${leader}`);
    const next = await waitFor('another pod holding the Lease', 90_000, async () => {
      const holder = await leaderPod();
      return holder !== undefined && holder !== leader ? holder : undefined;
    });
    record('leader pod deleted → other pod leads (ms)', Date.now() - deleted);
    expect((await pods(releaseNamespace, operatorLabels)).map((p) => p.metadata.name)).toContain(next);
    await drainStory('after-failover');
  });

  it('stays available (as measured) while helm upgrade rolls both pods', async () => {
    await waitFor('two Ready operator pods', 120_000, async () => {
      const ready = live(await pods(releaseNamespace, operatorLabels)).filter(isReady);
      return ready.length === 2 ? true : undefined;
    });
    const before = new Set((await pods(releaseNamespace, operatorLabels)).map((p) => p.metadata.name));
    // The metric a HPA reads, through the aggregator, the Service and kube-proxy, every 100 ms during the upgrade.
    const failures: number[] = [];
    const reasons = new Set<string>();
    let probes = 0;
    let probing = true;
    const probeLoop = (async () => {
      while (probing) {
        const at = Date.now();
        probes += 1;
        await prober.request('GET', metricPath).catch((error: unknown) => {
          failures.push(at);
          reasons.add((error instanceof Error ? error.message : String(error)).split('\n').slice(0, 2).join(' ').slice(0, 200));
        });
        await sleep(Math.max(0, 100 - (Date.now() - at)));
      }
    })();
    const started = Date.now();
    await run(helm, ['upgrade', release, chartDir, '--namespace', releaseNamespace, ...chartValues(), '--set', 'logLevel=debug', '--wait', '--timeout', '3m']);
    const rolled = await waitFor('both pods replaced and Ready', 180_000, async () => {
      const current = await pods(releaseNamespace, operatorLabels);
      const fresh = current.filter((p) => !before.has(p.metadata.name));
      return current.length === 2 && fresh.length === 2 && fresh.every(isReady) ? fresh : undefined;
    });
    record('helm upgrade --wait, pods rolled (ms)', Date.now() - started);
    await sleep(3_000);
    probing = false;
    await probeLoop;
    for (const pod of rolled) expect(pod.spec.nodeName).toBe(realNodeName);
    // Failed probes, as time: each stands for the ~100 ms until the next one.
    record('upgrade: metric probes through the APIService', probes);
    record('upgrade: failed probes', failures.length);
    record('upgrade: APIService unavailable, first → last failure (ms)', failures.length ? (failures.at(-1) ?? 0) - (failures[0] ?? 0) : 0);
    if (reasons.size > 0) record('upgrade: why probes failed', [...reasons].join(' | '));
    expect(probes).toBeGreaterThan(10);
    await waitFor('a Lease holder among the new pods', 60_000, async () => {
      const holder = await leaderPod();
      return rolled.some((p) => p.metadata.name === holder) ? true : undefined;
    });
  });

  it('leaves the CRDs and the ScaledObjects behind on helm uninstall', async () => {
    await saveOperatorLogs();
    await run(helm, ['uninstall', release, '--namespace', releaseNamespace, '--wait', '--timeout', '2m']);
    installed = false;
    for (const crd of ['scaledobjects.keda.sh', 'scaledjobs.keda.sh', 'triggerauthentications.keda.sh', 'clustertriggerauthentications.keda.sh']) {
      await admin.request('GET', resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', name: crd }));
    }
    const kept = await admin.request<{ metadata: { name: string } }>('GET', soPath(appNamespace, 'worker'));
    expect(kept.metadata.name).toBe('worker');
    await waitFor('the operator pods gone', 60_000, async () => ((await pods(releaseNamespace, operatorLabels)).length === 0 ? true : undefined));
    await expect(admin.request('GET', apiServicePath)).rejects.toSatisfy(isNotFound);
  });
});
