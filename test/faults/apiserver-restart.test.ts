// @sandbox kube,redis
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwellProcess } from '../../src/demo/processes.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, hpaPath, replicasOf, sandboxClient, waitFor } from '../integration/operator-support.js';
import {
  convergeTo,
  createScaledObject,
  createWorker,
  deleteScaledObject,
  full,
  killDaemon,
  leftovers,
  operatorHealthPort,
  recordFigures,
  sandboxOwns,
  scenarioSeed,
  seededRandom,
  sleep,
  startOperator,
  summary,
  testSandbox,
} from './support.js';

/*
 * The apiserver is killed while the operator is in the middle of a change (the Redis list just grew or shrank),
 * stays down a few seconds, and is started again by the sandbox on its port with its etcd. The operator keeps
 * running through it and must finish the change on its own; its /readyz must say it cannot reach the apiserver
 * while it cannot.
 */

const namespace = `faults-apiserver-${randomBytes(3).toString('hex')}`;
const seed = scenarioSeed('apiserver restart');
const random = seededRandom(seed);
const listName = `jobs-${namespace}`;
/** Backlog → replicas (target 5 per replica), one step per restart. */
const steps = full
  ? [
      [30, 6],
      [10, 2],
      [0, 0],
      [30, 6],
    ]
  : [[30, 6]];
let client: KubeClient;
let redis: Redis;
let operator: SwellProcess | undefined;
let owned = false;
const restarts: {
  step: number;
  want: number;
  killAfterMs: number;
  downMs: number;
  apiserverBackMs: number;
  replicasWhenBack: number;
  convergeMs: number;
  readyzWhileDown: number[];
}[] = [];

async function setBacklog(n: number): Promise<void> {
  await redis.del(listName);
  if (n > 0) await redis.rpush(listName, ...Array.from({ length: n }, (_, i) => `job-${i}`));
}

/** What /readyz answers (status code; 0 when it does not answer at all). */
async function readyz(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  owned = await sandboxOwns(['kube']);
  if (!owned) return;
  ({ client } = sandboxClient());
  redis = new Redis(process.env.REDIS_URL ?? '', { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  await createNamespace(client, namespace);
  await createWorker(client, namespace, 'worker');
  operator = await startOperator({ namespace, name: `${namespace}-operator` });
  const { hostname, port } = new URL(process.env.REDIS_URL ?? '');
  await createScaledObject(client, namespace, 'worker', { type: 'redis', metadata: { address: `${hostname}:${port}`, listName, listLength: '5' } });
  await waitFor('the HPA of worker', 30_000, () => client.request('GET', hpaPath(namespace, 'keda-hpa-worker')).then(() => true));
});

afterAll(async () => {
  if (!owned) return;
  await testSandbox().up(['kube']);
  await deleteScaledObject(client, namespace, 'worker').catch(() => false);
  const code = await operator?.stop();
  await redis.del(listName).catch(() => 0);
  redis.disconnect();
  await deleteNamespace(client, namespace);
  await recordFigures('apiserver-restart', {
    seed,
    restartsSurvived: restarts.length,
    operatorExit: code,
    apiserverBackMs: summary(restarts.map((r) => r.apiserverBackMs)),
    convergeAfterApiserverBackMs: summary(restarts.map((r) => r.convergeMs)),
    restarts,
  });
});

describe('apiserver killed and restarted in the middle of a change', () => {
  it(`the operator rides it out and finishes the change (${steps.length} restart(s))`, { timeout: steps.length * 240_000 }, async () => {
    if (!owned) return; // KUBECONFIG points at a cluster the user runs: not ours to kill
    const sandbox = testSandbox();
    const healthPort = await operatorHealthPort(operator as SwellProcess);
    for (const [index, [backlog, want]] of steps.entries()) {
      const killAfterMs = Math.round(random() * 2_000);
      await setBacklog(backlog as number);
      await sleep(killAfterMs);
      await killDaemon(sandbox, 'kube-apiserver');
      const down = Date.now();
      // Down long enough for the operator's watches, polls and status writes to fail, and for readiness to
      // notice: it forgives a blip shorter than its window (about 8 s), as a kubelet's failureThreshold would.
      const readyzWhileDown: number[] = [];
      for (let i = 0; i < 4 || (i < 14 && readyzWhileDown.at(-1) === 200); i += 1) {
        await sleep(1_000);
        readyzWhileDown.push(await readyz(healthPort));
      }
      await sandbox.up(['kube']);
      const back = Date.now();
      const replicasWhenBack = await replicasOf(client, namespace, 'worker');
      const convergeMs = await convergeTo(client, namespace, 'worker', want as number, 120_000);
      restarts.push({
        step: index + 1,
        want: want as number,
        killAfterMs,
        downMs: back - down,
        apiserverBackMs: back - down - readyzWhileDown.length * 1_000,
        replicasWhenBack,
        convergeMs,
        readyzWhileDown,
      });
      expect(await leftovers(client, namespace)).toEqual({
        scaledObjects: [{ name: 'worker', finalizers: ['finalizer.keda.sh'], deleting: false }],
        orphanHpas: [],
      });
    }
    expect(restarts).toHaveLength(steps.length);
  });

  it('its /readyz turns 503 once the apiserver has been gone longer than its readiness window', () => {
    if (!owned) throw new Error('not our cluster');
    expect(restarts.length).toBeGreaterThan(0);
    for (const restart of restarts) expect(restart.readyzWhileDown.at(-1)).not.toBe(200);
  });
});
