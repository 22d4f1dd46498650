// @sandbox kube,redis
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwellProcess } from '../../src/demo/processes.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, hpaPath, replicasOf, sandboxClient, soPath, waitFor } from '../integration/operator-support.js';
import {
  convergeTo,
  createScaledObject,
  createWorker,
  deleteScaledObject,
  full,
  killOperator,
  leftovers,
  recordFigures,
  scenarioSeed,
  seededRandom,
  sleep,
  startOperator,
  summary,
  waitForGone,
} from './support.js';

/*
 * The operator is SIGKILLed at a random moment (seeded; the seed is printed) while a ScaledObject activates,
 * scales up, scales down and is deleted, and a new operator started in its place. Everything it needs lives in
 * the cluster, so the replacement must finish what the killed one was doing: the replicas end where the Redis
 * list says, exactly one HPA exists while the ScaledObject does, and a deleted ScaledObject goes away with its
 * HPA, its finalizer removed.
 */

const namespace = `faults-kill-${randomBytes(3).toString('hex')}`;
const rounds = full ? 4 : 1;
const seed = scenarioSeed('operator SIGKILL');
const random = seededRandom(seed);
const listName = `jobs-${namespace}`;
let client: KubeClient;
let redis: Redis;
let operator: SwellProcess | undefined;
let restarts = 0;
/** One kill: when it came, the replicas then (≠ the goal: it landed mid-transition), and how long until the goal. */
const kills: {
  phase: string;
  round: number;
  afterMs: number;
  replicasAtKill: number;
  want: number;
  restartMs: number;
  convergeMs: number;
  killToGoalMs: number;
}[] = [];

const startReplacement = async () => {
  restarts += 1;
  const started = Date.now();
  operator = await startOperator({ namespace, name: `${namespace}-operator-${restarts}` });
  return Date.now() - started;
};

async function setBacklog(n: number): Promise<void> {
  await redis.del(listName);
  if (n > 0) await redis.rpush(listName, ...Array.from({ length: n }, (_, i) => `job-${i}`));
}

/**
 * Kills the operator a random moment into `change` (the Deployment heading for `want` replicas, or the
 * ScaledObject being deleted), starts another, and measures how long until `settled` holds.
 */
async function killDuring(
  phase: string,
  round: number,
  windowMs: number,
  want: number,
  change: () => Promise<void>,
  settled: () => Promise<void>,
): Promise<void> {
  const afterMs = Math.round(random() * windowMs);
  await change();
  await sleep(afterMs);
  const replicasAtKill = await replicasOf(client, namespace, 'worker');
  const killed = Date.now();
  await killOperator(operator as SwellProcess);
  const restartMs = await startReplacement();
  const convergeStarted = Date.now();
  await settled();
  kills.push({ phase, round, afterMs, replicasAtKill, want, restartMs, convergeMs: Date.now() - convergeStarted, killToGoalMs: Date.now() - killed });
}

async function exactlyOneHpa(): Promise<void> {
  const left = await leftovers(client, namespace);
  expect(left.orphanHpas).toEqual([]);
  expect(left.scaledObjects).toEqual([{ name: 'worker', finalizers: ['finalizer.keda.sh'], deleting: false }]);
  await client.request('GET', hpaPath(namespace, 'keda-hpa-worker'));
}

beforeAll(async () => {
  ({ client } = sandboxClient());
  redis = new Redis(process.env.REDIS_URL ?? '', { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  await createNamespace(client, namespace);
  await createWorker(client, namespace, 'worker');
  await startReplacement();
});

afterAll(async () => {
  await deleteScaledObject(client, namespace, 'worker').catch(() => false);
  await operator?.stop();
  await redis.del(listName).catch(() => 0);
  redis.disconnect();
  await deleteNamespace(client, namespace);
  const byPhase = Object.fromEntries(
    ['activation', 'scale-up', 'scale-down', 'deletion'].map((p) => [p, summary(kills.filter((k) => k.phase === p).map((k) => k.killToGoalMs))]),
  );
  await recordFigures('operator-sigkill', {
    seed,
    killsSurvived: kills.length,
    // Scaling kills that found the Deployment short of its goal (the others came after the HPA had finished).
    killsMidTransition: kills.filter((k) => k.phase !== 'deletion' && k.replicasAtKill !== k.want).length,
    operatorStartMs: summary(kills.map((k) => k.restartMs)),
    killToGoalMs: byPhase,
    kills,
  });
});

describe('operator SIGKILL at random points of a ScaledObject life', () => {
  it(`loses no transition, leaves no orphan HPA and no stuck finalizer (${rounds} round(s) of 4 kills)`, { timeout: rounds * 300_000 }, async () => {
    const { hostname, port } = new URL(process.env.REDIS_URL ?? '');
    for (let round = 1; round <= rounds; round += 1) {
      await setBacklog(0);
      await createScaledObject(client, namespace, 'worker', { type: 'redis', metadata: { address: `${hostname}:${port}`, listName, listLength: '5' } });
      await waitFor('the HPA of worker', 30_000, () => client.request('GET', hpaPath(namespace, 'keda-hpa-worker')).then(() => true));

      // 3 waiting → 1 replica: swell itself wakes the Deployment.
      await killDuring(
        'activation',
        round,
        3_000,
        1,
        () => setBacklog(3),
        async () => {
          await convergeTo(client, namespace, 'worker', 1);
        },
      );
      await exactlyOneHpa();

      // 30 waiting → 6 replicas: the HPA scales on the metric the new operator serves.
      await killDuring(
        'scale-up',
        round,
        6_000,
        6,
        () => setBacklog(30),
        async () => {
          await convergeTo(client, namespace, 'worker', 6, 120_000);
        },
      );
      await exactlyOneHpa();

      // Nothing waits → the HPA goes to 1, then swell to 0 once the cooldown (5 s) has passed.
      await killDuring(
        'scale-down',
        round,
        10_000,
        0,
        () => setBacklog(0),
        async () => {
          await convergeTo(client, namespace, 'worker', 0, 120_000);
        },
      );
      await exactlyOneHpa();

      // Deleted while scaled out: the finalizer is removed and the HPA goes with the ScaledObject.
      await setBacklog(10);
      await convergeTo(client, namespace, 'worker', 2, 120_000);
      await killDuring(
        'deletion',
        round,
        1_500,
        2,
        () => client.request('DELETE', soPath(namespace, 'worker')).then(() => undefined),
        async () => {
          expect(await waitForGone(client, soPath(namespace, 'worker'), 60_000)).toBe(true);
          expect(await waitForGone(client, hpaPath(namespace, 'keda-hpa-worker'), 30_000)).toBe(true);
        },
      );
      expect(await leftovers(client, namespace)).toEqual({ scaledObjects: [], orphanHpas: [] });
    }
    expect(kills).toHaveLength(rounds * 4);
  });
});
