// @sandbox kube,redis
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionPool } from '../../scalers/connection-pool.js';
import { createScaler } from '../../scalers/registry.js';
import { SharedReads } from '../../scalers/shared-reads.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createLogger } from '../../src/log.js';
import { resourcePath, type KubeWatchClient } from '../../src/kube/client.js';
import { startScaledJobController, type ScaledJobController } from '../../src/operator/scaledjob/controller.js';
import type { JobObject } from '../../src/operator/scaledjob/jobs.js';
import { createNamespace, deleteNamespace, installCrds, sandboxClient, waitFor } from '../integration/operator-support.js';
import { createSystemClock } from '../../src/controller/clock.js';

/*
 * End to end: a Redis list of 20 messages, a ScaledJob whose Job pods each pop one message with redis-cli, and
 * swell's virtual node (process provider) actually running those pods as local processes. The real Job
 * controller and scheduler do the rest. The queue must end empty, every Job must finish, no more Jobs than
 * maxReplicaCount may run at once, and only the history limit of finished Jobs may remain.
 */

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const suffix = randomUUID().slice(0, 8);
const namespace = `sj-e2e-${suffix}`;
const nodeName = `swell-sj-e2e-${suffix}`;
const list = `${namespace}-work`;
const messages = 20;
const maxReplicaCount = 5;
const historyLimit = 3;
const repoDir = join(import.meta.dirname, '..', '..');

let client: KubeWatchClient;
let redis: Redis;
let controller: ScaledJobController;
let registry: Registry;
let node: ChildProcess | undefined;
let nodeOutput = '';
const stateDir = mkdtempSync(join(tmpdir(), 'swell-sj-e2e-'));

const jobsPath = resourcePath({ group: 'batch', version: 'v1', resource: 'jobs', namespace });
const sjPath = (name?: string) => resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledjobs', namespace, ...(name ? { name } : {}) });

function startVirtualNode(): ChildProcess {
  const child = spawn(
    'npx',
    [
      'tsx',
      'src/cli/main.ts',
      'virtual-node',
      '--provider',
      'process',
      '--name',
      nodeName,
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--state-dir',
      stateDir,
      '--log-level',
      'warn',
    ],
    { cwd: repoDir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const keep = (chunk: Buffer): void => {
    nodeOutput = (nodeOutput + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function stopVirtualNode(): Promise<void> {
  const child = node;
  if (!child?.pid || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function scaledJob(): Record<string, unknown> {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name: 'consumer', namespace },
    spec: {
      pollingInterval: 1,
      maxReplicaCount,
      successfulJobsHistoryLimit: historyLimit,
      failedJobsHistoryLimit: historyLimit,
      jobTargetRef: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            nodeSelector: { type: 'virtual-kubelet', 'kubernetes.io/hostname': nodeName },
            tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Equal', value: 'process', effect: 'NoSchedule' }],
            containers: [
              {
                name: 'consumer',
                image: 'debian/redis-cli',
                // One message per Job, then a little work so several Jobs overlap.
                command: ['sh', '-c', 'redis-cli -u "$REDIS_URL" RPOP "$LIST" && sleep 2'],
                env: [
                  { name: 'REDIS_URL', value: redisUrl },
                  { name: 'LIST', value: list },
                ],
              },
            ],
          },
        },
      },
      triggers: [{ type: 'redis', metadata: { address: `${new URL(redisUrl).hostname}:${new URL(redisUrl).port}`, listName: list, listLength: '1' } }],
    },
  };
}

beforeAll(async () => {
  ({ client } = sandboxClient());
  await installCrds(client);
  await createNamespace(client, namespace);
  redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  node = startVirtualNode();
  await waitFor(`virtual node ${nodeName} Ready`, 120_000, async () => {
    if (node?.exitCode !== null) throw new Error(`virtual node exited: ${nodeOutput}`);
    const n = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>('GET', `/api/v1/nodes/${nodeName}`);
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
  registry = new Registry();
  const log = createLogger({ name: 'scaledjob-e2e', level: 'warn' });
  const clock = createSystemClock();
  const scalerDeps = { clock, log, reads: new SharedReads(clock), connections: new ConnectionPool({ clock }) };
  controller = startScaledJobController({
    client,
    listWatch: (path) => createKubeListWatchSource(client, path),
    identity: 'scaledjob-e2e',
    namespace,
    clusterAuthNamespace: namespace,
    scalerFactory: (context) => createScaler(context, scalerDeps),
    log,
    registry,
    version: '0.1.0-e2e',
  });
  await waitFor('scaledjob controller to sync', 30_000, () => Promise.resolve(controller.ready().ok ? true : undefined));
});

afterAll(async () => {
  await controller?.stop();
  await redis?.del(list);
  redis?.disconnect();
  await client
    .request('PATCH', sjPath('consumer'), { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' })
    .catch(() => undefined);
  await deleteNamespace(client, namespace);
  await stopVirtualNode();
  await client.request('DELETE', `/api/v1/nodes/${nodeName}`).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
});

describe('ScaledJob on the virtual node', () => {
  it('drains a 20-message queue with one Job per message and trims the history', async () => {
    await redis.rpush(list, ...Array.from({ length: messages }, (_, i) => `message-${i}`));
    const startedAt = Date.now();
    await client.request('POST', sjPath(), { body: scaledJob() });
    const seen = new Set<string>();
    let maxRunning = 0;
    await waitFor('queue empty, every Job finished and history trimmed', 240_000, async () => {
      const jobs = (await client.request<{ items: JobObject[] }>('GET', jobsPath)).items;
      for (const job of jobs) seen.add(job.metadata.name ?? '');
      const finished = jobs.filter((j) => j.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True'));
      maxRunning = Math.max(maxRunning, jobs.length - finished.length);
      const left = await redis.llen(list);
      return left === 0 && jobs.length === finished.length && jobs.length <= historyLimit && seen.size >= messages ? jobs : undefined;
    });
    const drainedInMs = Date.now() - startedAt;
    const remaining = (await client.request<{ items: JobObject[] }>('GET', jobsPath)).items;
    const failed = remaining.filter((j) => j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True'));
    const created = Number(/swell_scaledjob_jobs_created_total\{[^}]*scaledJob="consumer"\} (\d+)/.exec(await registry.metrics())?.[1]);
    process.stderr.write(`[scaledjob e2e] ${messages} messages drained by ${created} Jobs in ${drainedInMs} ms; at most ${maxRunning} running at once\n`);
    expect(await redis.llen(list)).toBe(0);
    expect(failed).toHaveLength(0);
    expect(remaining).toHaveLength(historyLimit);
    // One Job per message; a poll that reads the queue just before a Job pops and finishes may add one more.
    expect(created).toBeGreaterThanOrEqual(messages);
    expect(created).toBeLessThanOrEqual(messages + 2);
    expect(maxRunning).toBeLessThanOrEqual(maxReplicaCount);
    const pods = await client.request<{ items: { spec?: { nodeName?: string } }[] }>(
      'GET',
      resourcePath({ group: '', version: 'v1', resource: 'pods', namespace }),
    );
    expect(pods.items.every((p) => p.spec?.nodeName === nodeName)).toBe(true);
  });
});
