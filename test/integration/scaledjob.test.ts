// @sandbox kube,redis
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { createNamespace, deleteNamespace, installCrds, sandboxClient, waitFor } from './operator-support.js';
import { createSystemClock } from '../../src/controller/clock.js';

/*
 * The ScaledJob controller against the sandbox's real apiserver, Job controller and scheduler, with Redis lists
 * as queues. Job pods land on the sandbox's kwok nodes, where they run for as long as their
 * swell.dev/sandbox-run-for annotation says, so each test decides whether its Jobs keep running or finish.
 */

const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const address = `${redisUrl.hostname}:${redisUrl.port}`;
const namespace = `sj-${randomUUID().slice(0, 8)}`;
const pollingInterval = 1;
let client: KubeWatchClient;
let redis: Redis;
let controller: ScaledJobController;
let registry: Registry;
let connections: ConnectionPool;

const jobsPath = (name?: string) => resourcePath({ group: 'batch', version: 'v1', resource: 'jobs', namespace, ...(name ? { name } : {}) });
const sjPath = (name?: string) => resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledjobs', namespace, ...(name ? { name } : {}) });

interface ScaledJobOptions {
  list: string;
  runFor?: string;
  spec?: Record<string, unknown>;
  annotations?: Record<string, string>;
  /** Pods no node can take: their Jobs stay pending. */
  unschedulable?: boolean;
  triggerMetadata?: Record<string, string>;
  authenticationRef?: { name: string };
}

function scaledJob(name: string, options: ScaledJobOptions): Record<string, unknown> {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name, namespace, labels: { team: 'media' }, ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec: {
      pollingInterval,
      jobTargetRef: {
        template: {
          metadata: { annotations: { 'swell.dev/sandbox-run-for': options.runFor ?? '10m' } },
          spec: {
            containers: [{ name: 'worker', image: 'registry.invalid/worker:1', command: ['work'] }],
            ...(options.unschedulable ? { nodeSelector: { 'swell.dev/no-such-node': 'true' } } : {}),
          },
        },
      },
      triggers: [
        {
          type: 'redis',
          metadata: { ...(options.authenticationRef ? {} : { address }), listName: options.list, listLength: '1', ...options.triggerMetadata },
          ...(options.authenticationRef ? { authenticationRef: options.authenticationRef } : {}),
        },
      ],
      ...options.spec,
    },
  };
}

async function create(name: string, options: ScaledJobOptions): Promise<void> {
  await client.request('POST', sjPath(), { body: scaledJob(name, options) });
}

async function jobsOf(name: string): Promise<JobObject[]> {
  const list = await client.request<{ items: JobObject[] }>('GET', jobsPath(), { query: { labelSelector: `scaledjob.keda.sh/name=${name}` } });
  return list.items.filter((j) => !j.metadata.deletionTimestamp);
}

interface ScaledJobObject {
  metadata: { generation?: number; finalizers?: string[] };
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    triggersTypes?: string;
    authenticationsTypes?: string;
    externalMetricNames?: string[];
  };
}

async function getScaledJob(name: string): Promise<ScaledJobObject> {
  return client.request<ScaledJobObject>('GET', sjPath(name));
}

function condition(sj: ScaledJobObject, type: string) {
  return sj.status?.conditions?.find((c) => c.type === type);
}

/** Waits until the Job count has been `expected` for `stablePolls` polling intervals in a row. */
async function settlesAt(name: string, expected: number, stablePolls = 4, timeoutMs = 45_000): Promise<void> {
  let since: number | undefined;
  await waitFor(`${name} to settle at ${expected} jobs`, timeoutMs, async () => {
    const count = (await jobsOf(name)).length;
    if (count > expected) throw new Error(`${name} has ${count} jobs, more than ${expected}`);
    if (count !== expected) {
      since = undefined;
      return undefined;
    }
    since ??= Date.now();
    return Date.now() - since >= stablePolls * pollingInterval * 1000 ? true : undefined;
  });
}

async function fill(list: string, items: number): Promise<void> {
  await redis.rpush(list, ...Array.from({ length: items }, (_, i) => `message-${i}`));
}

beforeAll(async () => {
  ({ client } = sandboxClient());
  await installCrds(client);
  await createNamespace(client, namespace);
  redis = new Redis({ host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: 1 });
  registry = new Registry();
  const log = createLogger({ name: 'scaledjob-test', level: 'warn' });
  const clock = createSystemClock();
  connections = new ConnectionPool({ clock });
  const scalerDeps = { clock, log, reads: new SharedReads(clock), connections };
  controller = startScaledJobController({
    client,
    listWatch: (path) => createKubeListWatchSource(client, path),
    identity: 'scaledjob-integration',
    namespace,
    clusterAuthNamespace: namespace,
    scalerFactory: (context) => createScaler(context, scalerDeps),
    log,
    registry,
    version: '0.1.0-test',
  });
  await waitFor('scaledjob controller to sync', 30_000, () => Promise.resolve(controller.ready().ok ? true : undefined));
});

afterAll(async () => {
  await controller?.stop();
  const keys = await redis.keys(`${namespace}-*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  // ScaledJobs carry the finalizer: drop it so the namespace can go once the controller has stopped.
  const list = await client.request<{ items: { metadata: { name: string } }[] }>('GET', sjPath()).catch(() => ({ items: [] }));
  for (const sj of list.items) {
    await client
      .request('PATCH', sjPath(sj.metadata.name), { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' })
      .catch(() => undefined);
  }
  await deleteNamespace(client, namespace);
});

describe('ScaledJob strategies on 20 messages, one message per Job', () => {
  const cases = [
    { name: 'default', spec: {}, unschedulable: false, expected: 20, why: 'default: maxScale - running = 20' },
    { name: 'default-capped', spec: { maxReplicaCount: 8 }, unschedulable: false, expected: 8, why: 'maxReplicaCount caps maxScale at 8' },
    {
      name: 'custom',
      spec: { scalingStrategy: { strategy: 'custom', customScalingQueueLengthDeduction: 10, customScalingRunningJobPercentage: '1' } },
      unschedulable: false,
      expected: 10,
      why: 'custom: 20 - 10 deducted - 1.0 x running, so 10 then 20 - 10 - 10 = 0',
    },
    {
      name: 'accurate',
      spec: { scalingStrategy: { strategy: 'accurate' } },
      unschedulable: true,
      expected: 20,
      why: 'accurate: maxScale - pending = 20, then 20 - 20 = 0',
    },
    {
      name: 'eager',
      spec: { maxReplicaCount: 10, scalingStrategy: { strategy: 'eager' } },
      unschedulable: true,
      expected: 10,
      why: 'eager: min(10 - 0 - 0, 20) = 10, then min(10 - 10 - 10, 20) < 0',
    },
  ];

  // The cases share nothing (each its own ScaledJob and list) and wait on polls, so they run at the same time.
  it.concurrent.for(cases)('$name creates $expected Jobs and no more ($why)', async ({ name, spec, unschedulable, expected }, { expect }) => {
    const list = `${namespace}-${name}`;
    await fill(list, 20);
    await create(name, { list, spec, unschedulable });
    await settlesAt(name, expected);
    const jobs = await jobsOf(name);
    const sample = jobs[0]!;
    expect(sample.metadata.generateName).toBe(`${name}-`);
    expect(sample.metadata.labels).toMatchObject({
      'scaledjob.keda.sh/name': name,
      'app.kubernetes.io/managed-by': 'keda-operator',
      'app.kubernetes.io/version': '0.1.0-test',
      team: 'media',
    });
    expect(sample.metadata.annotations?.['scaledjob.keda.sh/generation']).toBe('1');
    expect(sample.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ScaledJob', name, controller: true });
    expect(sample.spec?.template.spec?.restartPolicy).toBe('OnFailure');
    const sj = await getScaledJob(name);
    expect(sj.metadata.finalizers).toContain('finalizer.keda.sh');
    expect(condition(sj, 'Ready')).toMatchObject({ status: 'True', reason: 'ScaledJobReady' });
    expect(condition(sj, 'Active')).toMatchObject({ status: 'True', reason: 'ScalerActive' });
    expect(sj.status?.triggersTypes).toBe('redis');
    expect(sj.status?.externalMetricNames).toEqual([`s0-redis-${list}`]);
  });

  it('publishes KEDA metrics for ScaledJobs and the Jobs it created', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(new RegExp(`keda_scaler_metrics_value\\{[^}]*scaledObject="default"[^}]*type="scaledjob"[^}]*\\} 20`));
    expect(text).toMatch(/keda_scaled_job_errors_total\{namespace="[^"]+",scaledJob="default"\} 0/);
    expect(text).toMatch(/swell_scaledjob_jobs_created_total\{namespace="[^"]+",scaledJob="default-capped"\} 8/);
  });

  it('records a KEDAJobsCreated event', async () => {
    const events = await client.request<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(
      'GET',
      resourcePath({ group: '', version: 'v1', resource: 'events', namespace }),
    );
    const created = events.items.filter((e) => e.involvedObject.name === 'default-capped' && e.reason === 'KEDAJobsCreated');
    expect(created.length).toBeGreaterThan(0);
    expect(created[0]?.message).toMatch(/^Created \d+ jobs$/);
  });
});

describe('ScaledJob lifecycle', () => {
  it('creates no Jobs while paused and resumes when the annotation is removed', async () => {
    const list = `${namespace}-paused`;
    await fill(list, 5);
    await create('paused', { list, annotations: { 'autoscaling.keda.sh/paused': 'true' } });
    await waitFor('Paused condition', 20_000, async () => (condition(await getScaledJob('paused'), 'Paused')?.status === 'True' ? true : undefined));
    // A twin without the annotation, created after it on a list just as full, gets its Jobs: by then the paused
    // one had every chance to create some too.
    const twinList = `${namespace}-paused-twin`;
    await fill(twinList, 5);
    await create('paused-twin', { list: twinList });
    await waitFor('the twin creates Jobs', 30_000, async () => ((await jobsOf('paused-twin')).length > 0 ? true : undefined));
    expect(await jobsOf('paused')).toHaveLength(0);
    await client.request('PATCH', sjPath('paused'), {
      body: { metadata: { annotations: { 'autoscaling.keda.sh/paused': null } } },
      contentType: 'application/merge-patch+json',
    });
    await settlesAt('paused', 5);
    expect(condition(await getScaledJob('paused'), 'Paused')).toMatchObject({ status: 'False', reason: 'ScaledJobUnpaused' });
  });

  it.concurrent.for([
    { strategy: 'immediate', oldJobsRemain: false },
    { strategy: 'gradual', oldJobsRemain: true },
  ])('a changed spec with the $strategy rollout (old Jobs remain: $oldJobsRemain)', async ({ strategy, oldJobsRemain }, { expect }) => {
    const name = `rollout-${strategy}`;
    const list = `${namespace}-${name}`;
    await fill(list, 3);
    await create(name, { list, spec: { rollout: { strategy } } });
    await settlesAt(name, 3);
    const before = new Set((await jobsOf(name)).map((j) => j.metadata.name));
    await client.request('PATCH', sjPath(name), {
      body: { spec: { jobTargetRef: { template: { metadata: { annotations: { 'swell.dev/sandbox-run-for': '10m', revision: '2' } } } } } },
      contentType: 'application/merge-patch+json',
    });
    await waitFor('generation 2', 10_000, async () => ((await getScaledJob(name)).metadata.generation === 2 ? true : undefined));
    if (oldJobsRemain) {
      await settlesAt(name, 3);
      const after = await jobsOf(name);
      expect(after.every((j) => before.has(j.metadata.name))).toBe(true);
    } else {
      await waitFor('the new generation of Jobs', 30_000, async () => {
        const after = await jobsOf(name);
        return after.length === 3 && after.every((j) => j.metadata.annotations?.['scaledjob.keda.sh/generation'] === '2') ? true : undefined;
      });
      const after = await jobsOf(name);
      expect(after.some((j) => before.has(j.metadata.name))).toBe(false);
      expect(after[0]?.spec?.template.metadata?.annotations?.revision).toBe('2');
    }
  });

  it('trims finished Jobs to the history limit, oldest first', async () => {
    const name = 'history';
    const list = `${namespace}-${name}`;
    const seen = new Map<string, string>();
    const observe = async (): Promise<JobObject[]> => {
      const jobs = await jobsOf(name);
      for (const j of jobs) seen.set(j.metadata.name ?? '', String(j.metadata.creationTimestamp));
      return jobs;
    };
    await fill(list, 5);
    await create(name, { list, runFor: '1s', spec: { successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 } });
    await waitFor('5 jobs', 20_000, async () => ((await observe()).length >= 5 ? true : undefined));
    await redis.del(list);
    const kept = await waitFor('history trimmed to 2 complete jobs', 60_000, async () => {
      const jobs = await observe();
      const done = jobs.filter((j) => j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'));
      return jobs.length === 2 && done.length === 2 ? jobs : undefined;
    });
    const newest = [...seen]
      .sort(([an, at], [bn, bt]) => Date.parse(at) - Date.parse(bt) || an.localeCompare(bn))
      .slice(-2)
      .map(([n]) => n);
    expect(seen.size).toBeGreaterThanOrEqual(5);
    expect(kept.map((j) => j.metadata.name).sort()).toEqual(newest.sort());
    await waitFor('Active=False once the queue is empty', 10_000, async () =>
      condition(await getScaledJob(name), 'Active')?.status === 'False' ? true : undefined,
    );
    expect(condition(await getScaledJob(name), 'Ready')?.status).toBe('True');
  });

  it('reads trigger parameters through a TriggerAuthentication and its Secret', async () => {
    const name = 'with-auth';
    const list = `${namespace}-${name}`;
    await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace }), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'redis-address', namespace }, stringData: { address } },
    });
    await client.request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace }), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'TriggerAuthentication',
        metadata: { name: 'redis-auth', namespace },
        spec: { secretTargetRef: [{ parameter: 'address', name: 'redis-address', key: 'address' }] },
      },
    });
    await fill(list, 2);
    await create(name, { list, authenticationRef: { name: 'redis-auth' } });
    await settlesAt(name, 2);
    expect((await getScaledJob(name)).status?.authenticationsTypes).toBe('redis-auth');
  });

  it('reports a bad trigger as Ready=False naming the field, and creates nothing', async () => {
    const name = 'bad-trigger';
    await create(name, { list: `${namespace}-${name}`, triggerMetadata: { listLength: 'many' } });
    const ready = await waitFor('Ready=False', 20_000, async () => {
      const c = condition(await getScaledJob(name), 'Ready');
      return c?.status === 'False' ? c : undefined;
    });
    expect(ready.reason).toBe('ScaledJobCheckFailed');
    expect(ready.message).toContain('spec.triggers[0]');
    expect(ready.message).toContain('listLength');
    expect(await jobsOf(name)).toHaveLength(0);
  });

  it('lets go of a deleted ScaledJob: finalizer removed, its Jobs collected', async () => {
    const name = 'paused';
    await client.request('DELETE', sjPath(name));
    await waitFor('ScaledJob gone', 20_000, async () => {
      try {
        await getScaledJob(name);
        return undefined;
      } catch (err) {
        return (err as { code?: number }).code === 404 ? true : undefined;
      }
    });
  });
});

describe('a rotated credential reaches the next poll', () => {
  let server: Server;
  /** The Authorization header of every request the metrics endpoint received, in order. */
  const seen: string[] = [];

  beforeAll(async () => {
    // A metrics endpoint that answers only the current token: 2 tasks waiting.
    server = createServer((request, response) => {
      const authorization = request.headers.authorization ?? '';
      seen.push(authorization);
      if (authorization !== 'Bearer new-token') {
        response.writeHead(401).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tasks: 2 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a ScaledJob authenticating through a TriggerAuthentication uses the Secret’s new value once it is updated', async () => {
    const name = 'rotated';
    const secretPath = resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace, name: 'api-token' });
    await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace }), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api-token', namespace }, stringData: { token: 'old-token' } },
    });
    await client.request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'triggerauthentications', namespace }), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'TriggerAuthentication',
        metadata: { name: 'api-auth', namespace },
        spec: { secretTargetRef: [{ parameter: 'token', name: 'api-token', key: 'token' }] },
      },
    });
    const { port } = server.address() as AddressInfo;
    const trigger = {
      type: 'metrics-api',
      metadata: { url: `http://127.0.0.1:${port}/stats`, valueLocation: 'tasks', targetValue: '1', authMode: 'bearer' },
      authenticationRef: { name: 'api-auth' },
    };
    await create(name, { list: 'unused', spec: { triggers: [trigger] } });

    // Polls with the old token are refused, so nothing is created.
    await waitFor('a poll with the old token', 20_000, () => Promise.resolve(seen.includes('Bearer old-token') ? true : undefined));
    expect(await jobsOf(name)).toHaveLength(0);

    await client.request('PATCH', secretPath, { body: { stringData: { token: 'new-token' } }, contentType: 'application/merge-patch+json' });
    await waitFor('a poll with the new token', 20_000, () => Promise.resolve(seen.includes('Bearer new-token') ? true : undefined));
    await settlesAt(name, 2);
    // Every poll after the first with the new token carries it too.
    expect(seen.slice(seen.indexOf('Bearer new-token'))).not.toContain('Bearer old-token');

    // Neither token is told anywhere: status, or the ScaledJob's events.
    const sj = await getScaledJob(name);
    const events = await client.request<{ items: { involvedObject: { name: string } }[] }>(
      'GET',
      resourcePath({ group: '', version: 'v1', resource: 'events', namespace }),
    );
    const told = JSON.stringify([sj, events.items.filter((e) => e.involvedObject.name === name)]);
    expect(told).not.toContain('old-token');
    expect(told).not.toContain('new-token');
  });
});
