// @sandbox kube,redis
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwellProcess } from '../../src/demo/processes.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, hpaPath, sandboxClient, waitFor } from '../integration/operator-support.js';
import {
  convergeTo,
  createScaledObject,
  createWorker,
  deleteScaledObject,
  full,
  killOperator,
  operatorStarted,
  recordFigures,
  startOperator,
  summary,
} from './support.js';

/*
 * Two replicas with leader election, as the chart runs them (here both with --local, from a workstation). The
 * leader is SIGKILLed: it neither releases the Lease nor unregisters anything, so the other replica takes over
 * once the Lease expires and scaling goes on. Then the replica that does not lead is killed: the leader, and the
 * metrics API the HPA reads, must not notice.
 */

const namespace = `faults-leader-${randomBytes(3).toString('hex')}`;
const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/swell-operator`;
const listName = `jobs-${namespace}`;
const failovers = full ? 3 : 1;
let client: KubeClient;
let redis: Redis;
const replicas = new Set<SwellProcess>();
let started = 0;
const leaderKills: { leaseTakenOverMs: number; scaledAfterKillMs: number; hpaScaledAfterKillMs: number }[] = [];
const followerKills: { activationAfterKillMs?: number; hpaScaledMs?: number; hpaError?: string }[] = [];

async function setBacklog(n: number): Promise<void> {
  await redis.del(listName);
  if (n > 0) await redis.rpush(listName, ...Array.from({ length: n }, (_, i) => `job-${i}`));
}

async function holder(): Promise<string> {
  return (await client.request<{ spec?: { holderIdentity?: string } }>('GET', leasePath)).spec?.holderIdentity ?? '';
}

/** Starts one more replica; the first to start leads, later ones are ready once they run. */
async function startReplica(leads: boolean): Promise<{ process: SwellProcess; identity: string }> {
  started += 1;
  const process = await startOperator(
    { namespace, name: `${namespace}-replica-${started}`, leaderElect: true },
    leads ? undefined : /"msg":"swell operator started"/,
  );
  replicas.add(process);
  return { process, identity: (await operatorStarted(process)).identity };
}

beforeAll(async () => {
  ({ client } = sandboxClient());
  redis = new Redis(process.env.REDIS_URL ?? '', { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  await createNamespace(client, namespace);
  await createWorker(client, namespace, 'worker');
  const { hostname, port } = new URL(process.env.REDIS_URL ?? '');
  await createScaledObject(client, namespace, 'worker', { type: 'redis', metadata: { address: `${hostname}:${port}`, listName, listLength: '5' } });
});

afterAll(async () => {
  await deleteScaledObject(client, namespace, 'worker').catch(() => false);
  for (const replica of replicas) await replica.stop();
  await redis.del(listName).catch(() => 0);
  redis.disconnect();
  await deleteNamespace(client, namespace);
  await recordFigures('leader-failover', {
    leaderKills: leaderKills.length,
    leaseTakenOverMs: summary(leaderKills.map((k) => k.leaseTakenOverMs)),
    activationAfterLeaderKillMs: summary(leaderKills.map((k) => k.scaledAfterKillMs)),
    hpaScaleOutAfterLeaderKillMs: summary(leaderKills.map((k) => k.hpaScaledAfterKillMs)),
    followerKills,
  });
});

describe('two replicas, one killed', () => {
  let leader: { process: SwellProcess; identity: string };
  let follower: { process: SwellProcess; identity: string };

  it(`leader SIGKILLed: the other replica takes over and scaling goes on (${failovers} failover(s))`, { timeout: failovers * 240_000 }, async () => {
    leader = await startReplica(true);
    await waitFor('the HPA of worker', 30_000, () => client.request('GET', hpaPath(namespace, 'keda-hpa-worker')).then(() => true));
    for (let i = 0; i < failovers; i += 1) {
      // The follower starts last, so it is also the replica the APIService was registered for last.
      follower = await startReplica(false);
      expect(await holder()).toBe(leader.identity);
      await setBacklog(0);
      await convergeTo(client, namespace, 'worker', 0, 60_000);

      const killed = Date.now();
      await killOperator(leader.process);
      replicas.delete(leader.process);
      // Work arrives while nobody leads: only a new leader can wake the Deployment from zero.
      await setBacklog(3);
      await waitFor('the follower to take the Lease', 60_000, async () => ((await holder()) === follower.identity ? true : undefined));
      const leaseTakenOverMs = Date.now() - killed;
      await convergeTo(client, namespace, 'worker', 1, 60_000);
      const scaledAfterKillMs = Date.now() - killed;
      // The HPA scales out on the metrics API the surviving replica serves.
      await setBacklog(30);
      await convergeTo(client, namespace, 'worker', 6, 90_000);
      leaderKills.push({ leaseTakenOverMs, scaledAfterKillMs, hpaScaledAfterKillMs: Date.now() - killed });
      leader = follower;
    }
  });

  it('follower SIGKILLed: the leader keeps leading, scales to zero and wakes the Deployment itself', { timeout: 180_000 }, async () => {
    follower = await startReplica(false);
    await convergeTo(client, namespace, 'worker', 6, 60_000);
    const killed = Date.now();
    await killOperator(follower.process);
    replicas.delete(follower.process);
    expect(await holder()).toBe(leader.identity);
    // 0 and 1 are swell's own decisions (cooldown, activation); they need no metrics API.
    await setBacklog(0);
    await convergeTo(client, namespace, 'worker', 0, 60_000);
    await setBacklog(3);
    await convergeTo(client, namespace, 'worker', 1, 30_000);
    followerKills.push({ activationAfterKillMs: Date.now() - killed });
    expect(await holder()).toBe(leader.identity);
  });

  it('follower SIGKILLed: the HPA keeps reading the metrics API from the leader', { timeout: 120_000 }, async () => {
    const started = Date.now();
    await setBacklog(10);
    try {
      // The HPA moves 1 → 2 within a few of its 2 s syncs when it can read the metric.
      await convergeTo(client, namespace, 'worker', 2, 30_000);
      followerKills.push({ hpaScaledMs: Date.now() - started });
    } catch (error) {
      followerKills.push({ hpaError: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  });
});
