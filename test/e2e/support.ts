import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwellProcess, type SwellProcess } from '../../src/demo/processes.js';
import { isNotFound } from '../../src/kube/errors.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, hpaPath, replicasOf, sandboxClient, soPath, waitFor } from '../integration/operator-support.js';

/*
 * The steps every end-to-end story shares: `swell operator` run as a user runs it (a child process against the
 * sandbox), a consumer Deployment, a ScaledObject, and what to read back from the cluster while it scales.
 */

export const repoDir = join(import.meta.dirname, '..', '..');

export type RunningProcess = SwellProcess;

/** Starts `swell <args>` as a user runs it, its output in .swell/e2e/<name>.log, and waits (bounded) for `readyLine`. */
export function startSwell(name: string, args: string[], readyLine: RegExp, timeoutMs = 90_000): Promise<SwellProcess> {
  return startSwellProcess({ repoDir, args, readyLine, timeoutMs, logFile: join(repoDir, '.swell', 'e2e', `${name}.log`) });
}

/** `swell operator` for one story: its own namespace, lease, APIService registration and webhook names. */
export function startOperator(namespace: string, extra: string[] = []): Promise<RunningProcess> {
  const args = ['operator', '--install-crds', '--namespace', namespace, '--lease-namespace', namespace, '--cluster-auth-namespace', namespace];
  args.push('--metrics-port', '0', '--health-port', '0', '--webhook-configuration', `swell-${namespace}`, '--log-level', 'info', ...extra);
  return startSwell(`${namespace}-operator`, args, /"msg":"leading: reconciling and polling"/);
}

/** A consumer Deployment at 0 replicas; its pods land on the sandbox's kwok nodes (Running, but do no work). */
export async function createConsumer(client: KubeClient, namespace: string, name: string, env: Record<string, string> = {}): Promise<void> {
  await client.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: 'consumer',
                image: 'registry.invalid/consumer:1',
                resources: { requests: { cpu: '100m' } },
                env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
              },
            ],
          },
        },
      },
    },
  });
}

/** Fast loops so a story takes seconds: 1 s polls, a short cooldown, the HPA scaling down without a window. */
export async function createScaledObject(
  client: KubeClient,
  namespace: string,
  name: string,
  trigger: Record<string, unknown>,
  options: { maxReplicaCount?: number; cooldownPeriod?: number } = {},
): Promise<void> {
  await client.request('POST', soPath(namespace), {
    body: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace },
      spec: {
        scaleTargetRef: { name },
        pollingInterval: 1,
        cooldownPeriod: options.cooldownPeriod ?? 5,
        minReplicaCount: 0,
        maxReplicaCount: options.maxReplicaCount ?? 10,
        advanced: {
          horizontalPodAutoscalerConfig: {
            behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] } },
          },
        },
        triggers: [trigger],
      },
    },
  });
}

/** Waits until the Deployment's desired replicas satisfy `want`; returns them. */
export function waitForReplicas(
  client: KubeClient,
  namespace: string,
  name: string,
  what: string,
  want: (replicas: number) => boolean,
  timeoutMs = 90_000,
): Promise<number> {
  return waitFor(`${namespace}/${name} ${what}`, timeoutMs, async () => {
    const replicas = await replicasOf(client, namespace, name);
    return want(replicas) ? replicas : undefined;
  });
}

interface HpaStatus {
  spec: { metrics?: { external?: { metric: { name: string } } }[] };
  status?: {
    currentReplicas?: number;
    desiredReplicas?: number;
    currentMetrics?: { external?: { metric: { name: string }; current: { averageValue?: string; value?: string } } }[];
  };
}

/** The external metric of the HPA swell owns for `scaledObject`: its name, and the current value the HPA saw (total over replicas). */
export async function hpaExternalMetric(
  client: KubeClient,
  namespace: string,
  scaledObject: string,
): Promise<{ metricName: string; total?: number; replicas?: number }> {
  const hpa = await client.request<HpaStatus>('GET', hpaPath(namespace, `keda-hpa-${scaledObject}`));
  const metricName = hpa.spec.metrics?.[0]?.external?.metric.name ?? '';
  const current = hpa.status?.currentMetrics?.find((m) => m.external?.metric.name === metricName)?.external?.current;
  const replicas = hpa.status?.currentReplicas;
  const perReplica = current?.averageValue ?? current?.value;
  if (perReplica === undefined || replicas === undefined) return { metricName };
  const total = current?.averageValue !== undefined ? parseQuantity(perReplica) * replicas : parseQuantity(perReplica);
  return { metricName, total, replicas };
}

/** The value swell's metrics API serves, read as the HPA reads it: through the aggregation layer. */
export async function servedMetric(client: KubeClient, namespace: string, scaledObject: string, metricName: string): Promise<number> {
  const list = await client.request<{ items: { value: string }[] }>(
    'GET',
    `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${metricName}?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${scaledObject}`)}`,
  );
  const first = list.items[0];
  if (!first) throw new Error(`no value for ${metricName}`);
  return parseQuantity(first.value);
}

/** Kubernetes quantities as the metrics API and HPA print them: plain, milli (m) or k/M/G. */
export function parseQuantity(raw: string): number {
  const match = /^(-?\d+(?:\.\d+)?)(m|k|M|G)?$/.exec(raw);
  if (!match?.[1]) throw new Error(`unexpected quantity "${raw}"`);
  const scale = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

export { waitFor };

/**
 * The ScaledObject both sides of a simulate agreement run use: a Redis list worker, one replica per 10 items, that
 * scales down at once so the HPA's own window does not blur the comparison.
 */
export function redisWorkerManifest(options: { address: string; listName: string; namespace?: string }): string {
  const namespace = options.namespace ? `\n  namespace: ${options.namespace}` : '';
  return `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: worker${namespace}
spec:
  scaleTargetRef:
    name: worker
  pollingInterval: 1
  cooldownPeriod: 10
  minReplicaCount: 0
  maxReplicaCount: 10
  advanced:
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
      metadata:
        address: ${options.address}
        listName: ${options.listName}
        listLength: "10"
`;
}

/** A simulate trace of these arrivals, running until the run's last second. */
export function arrivalsCsv(arrivals: readonly (readonly [number, number])[], seconds: number): string {
  return `seconds,arrivals\n${arrivals.map(([t, n]) => `${t},${n}`).join('\n')}\n${seconds - 1},0\n`;
}

/** One event source as a story needs it: a trigger for the ScaledObject, and ways to set how much work waits. */
export interface StorySource {
  /** Creates what the trigger needs (Secrets, TriggerAuthentications) in `namespace`; returns the trigger. */
  trigger(client: KubeClient, namespace: string): Promise<Record<string, unknown>>;
  /** Makes exactly `n` units of work wait (n only ever goes 0 → 30 → 10 → 0). */
  setBacklog(n: number): Promise<void>;
  /** The HPA's external metric name swell generates for the trigger. */
  metricName: string;
  close(): Promise<void>;
}

/**
 * The story every event source tells, target 5 per replica: nothing waits → 0 replicas; 30 wait → swell wakes
 * the Deployment and the HPA scales it to 6 on swell's metric (its status adding up to 30); 10 wait → the HPA
 * scales in to 2; nothing waits → the HPA goes to 1 and swell to 0 after the cooldown.
 */
export function scalingStory(title: string, prefix: string, makeSource: (namespace: string) => Promise<StorySource>): void {
  describe(title, () => {
    const namespace = `e2e-${prefix}-${randomBytes(3).toString('hex')}`;
    let client: KubeClient;
    let source: StorySource | undefined;
    let operator: RunningProcess | undefined;

    beforeAll(async () => {
      ({ client } = sandboxClient());
      source = await makeSource(namespace);
      await createNamespace(client, namespace);
      operator = await startOperator(namespace, ['--burst', 'false']);
      await createConsumer(client, namespace, 'worker');
      await createScaledObject(client, namespace, 'worker', await source.trigger(client, namespace));
    });

    afterAll(async () => {
      // The ScaledObject goes first, while swell runs to remove its finalizer; then swell unregisters and stops.
      await client.request('DELETE', soPath(namespace, 'worker')).catch(() => undefined);
      await waitFor('the ScaledObject to be deleted', 30_000, () =>
        client.request('GET', soPath(namespace, 'worker')).then(
          () => undefined,
          (e: unknown) => (isNotFound(e) ? true : undefined),
        ),
      );
      const code = await operator?.stop();
      await source?.close();
      await deleteNamespace(client, namespace);
      expect(code).toBe(0);
    });

    it('stays at zero while nothing waits', async () => {
      await waitFor('the HPA swell creates', 30_000, async () => ((await hpaExternalMetric(client, namespace, 'worker')).metricName ? true : undefined));
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await replicasOf(client, namespace, 'worker')).toBe(0);
    });

    it('wakes from zero, then the HPA scales out on the metric swell serves', async () => {
      const s = source as StorySource;
      await s.setBacklog(30);
      await waitForReplicas(client, namespace, 'worker', 'awake', (n) => n >= 1, 30_000);
      await waitForReplicas(client, namespace, 'worker', 'scaled out to 30/5', (n) => n === 6, 60_000);
      const { metricName } = await hpaExternalMetric(client, namespace, 'worker');
      expect(metricName).toBe(s.metricName);
      expect(await servedMetric(client, namespace, 'worker', metricName)).toBe(30);
      // The HPA reports the value per replica; at a steady 6 replicas it must add up to the backlog.
      const seen = await waitFor('the HPA status at 6 replicas', 30_000, async () => {
        const m = await hpaExternalMetric(client, namespace, 'worker');
        return m.replicas === 6 && m.total !== undefined ? m : undefined;
      });
      expect(seen.total).toBeCloseTo(30, 2);
    });

    it('follows a partial drain down, then sleeps after the cooldown once empty', async () => {
      const s = source as StorySource;
      await s.setBacklog(10);
      await waitForReplicas(client, namespace, 'worker', 'scaled in to 10/5', (n) => n === 2, 60_000);
      await s.setBacklog(0);
      await waitForReplicas(client, namespace, 'worker', 'back to one (HPA minimum)', (n) => n <= 1, 60_000);
      await waitForReplicas(client, namespace, 'worker', 'back to zero after the cooldown', (n) => n === 0, 60_000);
    });
  });
}
