// @sandbox kube,redis,kafka,sqs,prometheus
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwellProcess } from '../../src/demo/processes.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, replicasOf, sandboxClient, waitFor } from '../integration/operator-support.js';
import {
  conditionOf,
  convergeTo,
  createScaledObject,
  createWorker,
  deleteScaledObject,
  eventsAbout,
  full,
  killDaemon,
  recordFigures,
  sandboxOwns,
  startOperator,
  testSandbox,
} from './support.js';
import { kafkaSource, prometheusSource, redisSource, sqsSource, type FaultSource } from './sources.js';

/*
 * Each event source goes away (its server SIGKILLed, then started again by the sandbox on its port) or hangs
 * (SIGSTOP: connections open, nothing answers; then SIGCONT) while two ScaledObjects read it: one with
 * `fallback` (failureThreshold 2, replicas 3) and one without. With fallback the Deployment must go to 3; without,
 * it must hold where it was; both must say why (an Event, the Fallback condition); once the source is back,
 * scaling follows the backlog again. All four sources are faulted at once, so the scenario costs one outage.
 */

type Kind = FaultSource['kind'];
type Mode = 'outage' | 'hang';
const kinds: readonly Kind[] = ['redis', 'kafka', 'sqs', 'prometheus'];
/** The short run covers every source and both fault modes; the full run gives every source both modes. */
const episodes: Record<Kind, Mode>[] = [
  { redis: 'outage', kafka: 'hang', sqs: 'outage', prometheus: 'hang' },
  ...(full ? [{ redis: 'hang', kafka: 'outage', sqs: 'hang', prometheus: 'outage' } as Record<Kind, Mode>] : []),
];
const fallback = { failureThreshold: 2, replicas: 3 };
/** Backlog 10 → 2 replicas (target 5); during the fault: 3 with fallback, 2 without; after: backlog 20 → 4. */
const before = { backlog: 10, replicas: 2 };
const after = { backlog: 20, replicas: 4 };

interface Outcome {
  episode: number;
  kind: Kind;
  mode: Mode;
  fallbackReachedMs?: number;
  fallbackCondition?: string;
  /** Replica counts other than 2 that the ScaledObject without fallback showed during the fault. */
  holdDeviations: number[];
  eventWithFallback?: string;
  eventWithoutFallback?: string;
  /** Every distinct KEDAScalerFailed message of both ScaledObjects during the fault. */
  failureMessages: string[];
  /** How long the sandbox took to restart the killed server on its port. */
  serverRestartMs?: number;
  recoveryMs?: number;
  /** Replicas (with fallback, without) when the source was back, and once its backlog was set again. */
  replicasWhenBack?: [number, number];
  replicasWhenRefilled?: [number, number];
  fallbackConditionAfter?: string;
  errors: string[];
}

const namespace = `faults-sources-${randomBytes(3).toString('hex')}`;
let client: KubeClient;
let operator: SwellProcess | undefined;
let owned = false;
const sources = new Map<Kind, FaultSource>();
const outcomes: Outcome[] = [];

const fb = (kind: Kind) => `${kind}-fallback`;
const hold = (kind: Kind) => `${kind}-hold`;

async function converge(kind: Kind, replicas: number, timeoutMs = 120_000): Promise<void> {
  await Promise.all([convergeTo(client, namespace, fb(kind), replicas, timeoutMs), convergeTo(client, namespace, hold(kind), replicas, timeoutMs)]);
}

/** The newest KEDAScalerFailed message about `name`, once there is one. */
function scalerFailedEvent(name: string, since: number): Promise<string> {
  return waitFor(`a KEDAScalerFailed Event on ${name}`, 60_000, async () => {
    const events = await eventsAbout(client, namespace, name);
    const failed = events.filter((e) => e.reason === 'KEDAScalerFailed' && Date.parse((e as { lastTimestamp?: string }).lastTimestamp ?? '') >= since - 1000);
    return failed.at(-1)?.message;
  });
}

async function replicasNow(kind: Kind): Promise<[number, number]> {
  return [await replicasOf(client, namespace, fb(kind)), await replicasOf(client, namespace, hold(kind))];
}

/** The distinct KEDAScalerFailed messages about `names` since `since`. */
async function failureMessages(names: readonly string[], since: number): Promise<string[]> {
  const messages = new Set<string>();
  for (const name of names) {
    for (const event of await eventsAbout(client, namespace, name)) {
      const at = Date.parse((event as { lastTimestamp?: string }).lastTimestamp ?? '');
      if (event.reason === 'KEDAScalerFailed' && at >= since - 1000 && event.message) messages.add(event.message);
    }
  }
  return [...messages];
}

/** Samples the Deployment until `stop` resolves; returns the counts other than `want` it saw. */
async function sample(name: string, want: number, stop: Promise<unknown>): Promise<number[]> {
  let done = false;
  void stop.finally(() => (done = true));
  const seen = new Set<number>();
  while (!done) {
    seen.add(await replicasOf(client, namespace, name).catch(() => want));
    await new Promise((r) => setTimeout(r, 300));
  }
  return [...seen].filter((n) => n !== want);
}

async function runEpisode(index: number, plan: Record<Kind, Mode>): Promise<void> {
  const sandbox = testSandbox();
  await Promise.all(kinds.map((kind) => (sources.get(kind) as FaultSource).setBacklog(before.backlog)));
  await Promise.all(kinds.map((kind) => converge(kind, before.replicas)));

  const faulted = Date.now();
  for (const kind of kinds) {
    const source = sources.get(kind) as FaultSource;
    if (plan[kind] === 'outage') await killDaemon(sandbox, source.daemon);
    else expect(await sandbox.signalDaemon(source.daemon, 'SIGSTOP')).toBe(true);
  }
  let restoring: () => void = () => undefined;
  const restored = new Promise<void>((resolve) => (restoring = resolve));
  const holdSamples = new Map(kinds.map((kind) => [kind, sample(hold(kind), before.replicas, restored)]));

  const during = await Promise.all(
    kinds.map(async (kind): Promise<Outcome> => {
      const outcome: Outcome = { episode: index + 1, kind, mode: plan[kind], holdDeviations: [], failureMessages: [], errors: [] };
      try {
        await convergeTo(client, namespace, fb(kind), fallback.replicas, 120_000);
        outcome.fallbackReachedMs = Date.now() - faulted;
        outcome.fallbackCondition = (await conditionOf(client, namespace, fb(kind), 'Fallback'))?.status;
      } catch (error) {
        outcome.errors.push(`fallback: ${String(error)}`);
      }
      const [withFallback, withoutFallback] = await Promise.allSettled([scalerFailedEvent(fb(kind), faulted), scalerFailedEvent(hold(kind), faulted)]);
      if (withFallback.status === 'fulfilled') outcome.eventWithFallback = withFallback.value;
      else outcome.errors.push(`event (fallback): ${String(withFallback.reason)}`);
      if (withoutFallback.status === 'fulfilled') outcome.eventWithoutFallback = withoutFallback.value;
      else outcome.errors.push(`event (no fallback): ${String(withoutFallback.reason)}`);
      return outcome;
    }),
  );
  // The ScaledObjects without fallback keep being watched a while after the others went to fallback.
  await new Promise((r) => setTimeout(r, 5_000));
  // Sampling ends before the servers return: a restarted Redis or ElasticMQ is empty, and scaling to zero on an
  // empty source is right.
  restoring();
  for (const outcome of during) {
    outcome.holdDeviations = await (holdSamples.get(outcome.kind) as Promise<number[]>);
    outcome.failureMessages = await failureMessages([fb(outcome.kind), hold(outcome.kind)], faulted);
  }

  const killed = kinds.filter((kind) => plan[kind] === 'outage');
  const restartStarted = Date.now();
  await sandbox.up(killed);
  const serverRestartMs = Date.now() - restartStarted;
  const back = new Map<Kind, number>();
  for (const kind of kinds) {
    if (plan[kind] === 'hang') await sandbox.signalDaemon((sources.get(kind) as FaultSource).daemon, 'SIGCONT');
    back.set(kind, Date.now());
  }
  for (const outcome of during) if (outcome.mode === 'outage') outcome.serverRestartMs = serverRestartMs;

  await Promise.all(
    during.map(async (outcome) => {
      const source = sources.get(outcome.kind) as FaultSource;
      try {
        outcome.replicasWhenBack = await replicasNow(outcome.kind);
        if (outcome.mode === 'outage') await source.afterRestart();
        await source.setBacklog(after.backlog);
        outcome.replicasWhenRefilled = await replicasNow(outcome.kind);
        await converge(outcome.kind, after.replicas);
        outcome.recoveryMs = Date.now() - (back.get(outcome.kind) ?? 0);
        // The condition is written with the status of the poll after the first good read.
        outcome.fallbackConditionAfter = await waitFor(`Fallback=False on ${fb(outcome.kind)}`, 20_000, async () => {
          const status = (await conditionOf(client, namespace, fb(outcome.kind), 'Fallback'))?.status;
          return status === 'False' ? status : undefined;
        }).catch(async () => (await conditionOf(client, namespace, fb(outcome.kind), 'Fallback'))?.status);
      } catch (error) {
        outcome.errors.push(`recovery: ${String(error)}`);
      }
    }),
  );
  outcomes.push(...during);
}

beforeAll(async () => {
  owned = await sandboxOwns(kinds);
  if (!owned) return;
  ({ client } = sandboxClient());
  await createNamespace(client, namespace);
  operator = await startOperator({ namespace, name: `${namespace}-operator` });
  const makers = { redis: redisSource, kafka: kafkaSource, sqs: sqsSource, prometheus: prometheusSource };
  for (const kind of kinds) {
    const source = await makers[kind](namespace);
    sources.set(kind, source);
    const trigger = await source.trigger(client, namespace);
    for (const [name, options] of [
      [fb(kind), { fallback }],
      [hold(kind), {}],
    ] as const) {
      await createWorker(client, namespace, name);
      await createScaledObject(client, namespace, name, trigger, options);
    }
  }
});

afterAll(async () => {
  if (!owned) return;
  // Whatever happened, every server runs again for the files after this one.
  for (const source of sources.values()) await testSandbox().signalDaemon(source.daemon, 'SIGCONT');
  await testSandbox().up([...kinds]);
  for (const kind of kinds) for (const name of [fb(kind), hold(kind)]) await deleteScaledObject(client, namespace, name).catch(() => false);
  await operator?.stop();
  for (const source of sources.values()) await source.close().catch(() => undefined);
  await deleteNamespace(client, namespace);
  await recordFigures('source-outage', {
    fallback,
    outages: outcomes.map((o) => ({ ...o, failureMessages: o.failureMessages.map((m) => m.slice(0, 240)) })),
  });
});

describe('event source outage and hang', () => {
  for (const [index, plan] of episodes.entries()) {
    it(`episode ${index + 1}: ${kinds.map((k) => `${k} ${plan[k]}`).join(', ')}`, { timeout: 600_000 }, async () => {
      if (!owned) return; // the env points at servers the user runs: not ours to kill
      await runEpisode(index, plan);
    });
  }

  describe.each(kinds)('%s', (kind) => {
    const of = () => outcomes.filter((o) => o.kind === kind);

    it('with fallback: goes to fallback.replicas and sets Fallback=True; an Event says why', () => {
      if (!owned) return;
      for (const o of of()) {
        expect(
          o.errors.filter((e) => e.startsWith('fallback') || e.startsWith('event (fallback)')),
          `${o.mode}`,
        ).toEqual([]);
        expect(o.fallbackReachedMs, `${o.mode}`).toBeGreaterThan(0);
        expect(o.fallbackCondition, `${o.mode}`).toBe('True');
        expect(o.eventWithFallback, `${o.mode}`).toBeTruthy();
      }
    });

    it('without fallback: holds its replicas; an Event says why', () => {
      if (!owned) return;
      for (const o of of()) {
        expect(o.holdDeviations, `${o.mode}`).toEqual([]);
        expect(o.eventWithoutFallback, `${o.mode}`).toBeTruthy();
      }
    });

    it('every Event about the failure names the server it could not reach', () => {
      if (!owned) throw new Error('not our servers');
      const address = (sources.get(kind) as FaultSource).address;
      for (const o of of()) {
        expect(o.failureMessages.length, `${o.mode}`).toBeGreaterThan(0);
        expect(
          o.failureMessages.filter((m) => !m.includes(address)),
          `${o.mode}`,
        ).toEqual([]);
      }
    });

    it('after the source returns: both follow the backlog again and Fallback turns False', () => {
      if (!owned) return;
      for (const o of of()) {
        expect(
          o.errors.filter((e) => e.startsWith('recovery')),
          `${o.mode}`,
        ).toEqual([]);
        expect(o.recoveryMs, `${o.mode}`).toBeGreaterThan(0);
        expect(o.fallbackConditionAfter, `${o.mode}`).toBe('False');
      }
    });
  });

  it('no value from a Secret reached the operator log or any Event', async () => {
    if (!owned) return;
    const planted = `faults-secret-${namespace}`;
    const log = await readFile((operator as SwellProcess).logFile, 'utf8');
    const events = JSON.stringify(await client.request('GET', `/api/v1/namespaces/${namespace}/events`));
    expect(log.includes(planted), 'operator log').toBe(false);
    expect(events.includes(planted), 'events').toBe(false);
  });
});
