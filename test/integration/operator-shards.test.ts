// @sandbox kube
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../src/apis/keda/v1alpha1/scaledobject.js';
import { shardOf } from '../../src/controller/shards.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, deleteScaledObjects, hpaPath, installCrds, sandboxClient, soPath, waitFor } from './operator-support.js';

/*
 * Three compiled `swell operator --shards 6` processes share 60 ScaledObjects: each object is polled by
 * exactly one of them, a replica killed with SIGKILL has its objects polled by the others once its Leases
 * expire, and the metrics API answers for objects another replica polls.
 */

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const namespace = `op-shards-${randomUUID().slice(0, 6)}`;
const SHARDS = 6;
const COUNT = 60;
let client: KubeClient;
const children = new Set<ChildProcess>();

interface Replica {
  child: ChildProcess;
  log: string[];
  metricsPort: number;
}

function startReplica(): Promise<Replica> {
  const flags = [
    '--namespace',
    namespace,
    '--lease-namespace',
    namespace,
    '--cluster-auth-namespace',
    namespace,
    '--metrics-port',
    '0',
    '--health-port',
    '0',
    '--burst',
    'false',
    '--webhooks',
    'false',
    '--shards',
    String(SHARDS),
    '--log-level',
    'info',
  ];
  const child = spawn(process.execPath, ['bin/swell.js', 'operator', ...flags], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const log: string[] = [];
  let buffered = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        log.push(line);
        if (line.includes('"swell operator started"')) resolve({ child, log, metricsPort: (JSON.parse(line) as { metricsPort: number }).metricsPort });
      }
    });
    child.once('exit', (code) => reject(new Error(`operator exited (${code}) before it started:\n${log.join('\n')}`)));
  });
}

/** The ScaledObjects a replica polls: those with a scale-loop latency series in its /metrics. */
async function polledBy(replica: Replica): Promise<Set<string>> {
  const text = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const polled = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('keda_internal_scale_loop_latency_seconds{')) continue;
    const resource = /resource="([^"]+)"/.exec(line)?.[1];
    if (resource && line.includes(`namespace="${namespace}"`)) polled.add(resource);
  }
  return polled;
}

/** Each object's poller, once every object is polled by exactly one of `replicas`; undefined until then. */
async function exactlyOnce(replicas: readonly Replica[]): Promise<Map<string, number> | undefined> {
  const sets = await Promise.all(replicas.map(polledBy));
  const owner = new Map<string, number>();
  for (const [index, set] of sets.entries()) for (const name of set) owner.set(name, owner.has(name) ? -1 : index);
  if (owner.size !== COUNT || [...owner.values()].includes(-1)) return undefined;
  return owner;
}

const names = Array.from({ length: COUNT }, (_, i) => `so-${i}`);

beforeAll(async () => {
  client = sandboxClient().client;
  await installCrds(client);
  await createNamespace(client, namespace);
  await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json')], {
    cwd: repo,
    timeout: 300_000,
  });
  // A one-minute cron window half a year away: every poll reads a closed window and writes nothing.
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
  for (const name of names) {
    await client.request('POST', resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace }), {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1' }] } },
        },
      },
    });
    await client.request('POST', soPath(namespace), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name },
        spec: {
          scaleTargetRef: { name },
          pollingInterval: 2,
          triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: `0 0 1 ${month} *`, end: `1 0 1 ${month} *`, desiredReplicas: '2' } }],
        },
      },
    });
  }
}, 360_000);

afterAll(async () => {
  const cleaner = children.size > 0 ? undefined : await startReplica().catch(() => undefined);
  await deleteScaledObjects(client, namespace).catch(() => undefined);
  for (const child of [...children, ...(cleaner ? [cleaner.child] : [])]) child.kill('SIGKILL');
  await deleteNamespace(client, namespace);
}, 120_000);

describe('swell operator --shards', () => {
  it(
    "three replicas poll each ScaledObject exactly once, take over a killed replica's objects, and serve metrics of objects another replica polls",
    { timeout: 240_000 },
    async () => {
      const replicas = await Promise.all([startReplica(), startReplica(), startReplica()]);
      await waitFor('every ScaledObject Ready', 90_000, async () => {
        const list = await client.request<{ items: ScaledObject[] }>('GET', soPath(namespace));
        return list.items.filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === COUNT ? true : undefined;
      });
      const owners = await waitFor('each object polled by exactly one replica', 60_000, () => exactlyOnce(replicas));
      // Shards are whole: all objects of one shard are polled by the same replica, and each replica has some.
      const shardOwner = new Map<number, number>();
      for (const [name, replica] of owners) {
        const shard = shardOf(`${namespace}/${name}`, SHARDS);
        expect(shardOwner.get(shard) ?? replica).toBe(replica);
        shardOwner.set(shard, replica);
      }
      expect(new Set(owners.values()).size).toBe(3);

      // The metrics API (one replica serves it for all, through the aggregator) answers for an object of every
      // shard, so for objects of at least four shards that other replicas poll.
      const byShard = new Map<number, string>();
      for (const name of names) byShard.set(shardOf(`${namespace}/${name}`, SHARDS), name);
      for (const name of byShard.values()) {
        const hpa = await client.request<{ spec: { metrics: { external: { metric: { name: string } } }[] } }>('GET', hpaPath(namespace, `keda-hpa-${name}`));
        const metricName = hpa.spec.metrics[0]!.external.metric.name;
        const metric = await waitFor(`the metric of ${name}`, 30_000, () =>
          client
            .request<{ items: { value: string }[] }>('GET', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${metricName}`, {
              query: { labelSelector: `scaledobject.keda.sh/name=${name}` },
            })
            .catch(() => undefined),
        );
        expect(metric.items[0]?.value).toBe('0');
      }

      const victim = replicas[2];
      const orphans = [...owners].filter(([, replica]) => replica === 2).map(([name]) => name);
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      const survivors = replicas.slice(0, 2);
      await waitFor('every object polled by exactly one survivor', 60_000, () => exactlyOnce(survivors));
      const takeoverMs = Date.now() - killedAt;
      process.stderr.write(`shards: ${orphans.length} objects of the killed replica polled by the others ${takeoverMs} ms after SIGKILL\n`);
      // The Lease duration is 15 s; the survivors notice at their next listing and claim at once.
      expect(takeoverMs).toBeLessThan(45_000);
      expect(takeoverMs).toBeGreaterThan(10_000);
      const logOf = (replica: Replica) => replica.log.filter((line) => line.includes('"holding shard"')).length;
      expect(logOf(survivors[0]!) + logOf(survivors[1]!)).toBeGreaterThanOrEqual(SHARDS);
    },
  );
});
