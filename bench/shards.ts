/*
 * Operator replicas sharing ScaledObjects by shard (`swell operator --shards S`) on the sandbox: what each
 * replica spends and polls, and how long the others take to poll a killed replica's objects.
 *
 *   npm run build && npx swell dev up --components kube
 *   npx tsx bench/shards.ts [--replicas 3] [--count 30000] [--shards 6] [--polling-interval 1] [--window 60] [--keep]
 *
 * Steps: R compiled operators (`node --expose-gc bin/swell.js operator --shards S`, the request counter and
 * memory probe of bench/request-counter.ts loaded) start on an empty namespace; N Deployments at zero and N
 * ScaledObjects on closed cron windows are created; once every object is Ready and the run has settled, a window
 * measures per replica: objects polled (swell_poll_scheduled_keys), polls/s, CPU, RSS, settled heap and
 * apiserver requests/s. Then the last replica is killed with SIGKILL and the run times how long until the
 * survivors poll every object again (the sum of their scheduled keys back at N), and how they split them.
 * Prints JSON and writes bench/results/shards-N.json.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { createHttpKubeClient } from '../src/kube/client.js';
import { installCrds, waitFor } from '../test/integration/operator-support.js';
import { pollRuns, samples, scheduledKeys } from './operator-metrics.js';
import { createObjects, deleteNamespace, mib, OperatorProcess, sleep, waitAllReady } from './operator-scale.js';
import { sandboxKubeconfig } from './sandbox-kubeconfig.js';

const repo = join(import.meta.dirname, '..');

function options() {
  const { values } = parseArgs({
    options: {
      replicas: { type: 'string', default: '3' },
      count: { type: 'string', default: '30000' },
      shards: { type: 'string', default: '6' },
      'polling-interval': { type: 'string', default: '1' },
      window: { type: 'string', default: '60' },
      keep: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, raw: string, min = 1): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`--${name}: "${raw}" is not a whole number ≥ ${min}`);
    return Number(raw);
  };
  return {
    replicas: int('replicas', values.replicas, 2),
    count: int('count', values.count),
    shards: int('shards', values.shards, 2),
    pollingIntervalS: int('polling-interval', values['polling-interval']),
    windowS: int('window', values.window),
    keep: values.keep,
  };
}

const shardsHeld = (text: string) => samples(text, 'swell_shards_held').reduce((sum, s) => sum + s.value, 0);

/** What one replica did over a window, from its /metrics, /proc and the request probe. */
async function sample(operator: OperatorProcess) {
  const [metrics, probe, cpu] = await Promise.all([operator.metrics(), operator.probe(), operator.cpuSeconds()]);
  return { at: Date.now(), metrics, probe, cpu };
}

async function main(): Promise<void> {
  const opts = options();
  const kubeconfig = await sandboxKubeconfig(repo);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const client = createHttpKubeClient(kubeConfig, { maxSockets: 64 });
  const namespace = `bench-shards-${opts.count}-${Date.now().toString(36)}`;
  const progress = (message: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  await installCrds(client);
  // The Leases live in a namespace of their own: deleting the objects' namespace must not take the Leases (and so
  // every replica's shards) away while the replicas still have finalizers to remove.
  const leaseNamespace = `${namespace}-leases`;
  for (const name of [namespace, leaseNamespace])
    await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  await mkdir(join(repo, '.swell'), { recursive: true });
  const loads: number[] = [];
  const loadSampler = setInterval(() => loads.push(loadavg()[0] ?? 0), 5_000);
  const probeFiles = Array.from({ length: opts.replicas }, (_, i) => join(repo, '.swell', `shards-${namespace}-${i}.json`));
  const flags = ['--shards', String(opts.shards), '--lease-namespace', leaseNamespace, '--webhooks', 'false', '--burst', 'false'];
  const replicas = await Promise.all(probeFiles.map((file) => OperatorProcess.start(kubeconfig, namespace, file, flags)));
  try {
    await Promise.all(replicas.map((r) => r.ready()));
    progress(`${opts.replicas} replicas ready; creating ${opts.count} Deployments and ScaledObjects in ${namespace}`);
    const createStarted = Date.now();
    await createObjects(client, namespace, opts.count, opts.pollingIntervalS, false);
    progress(`created in ${((Date.now() - createStarted) / 1000).toFixed(1)} s; waiting until all are Ready`);
    await waitAllReady(client, namespace, opts.count, progress);
    const allReady = Date.now();
    const settleS = Math.max(30, opts.pollingIntervalS * 3);
    progress(`all Ready ${((allReady - createStarted) / 1000).toFixed(1)} s after the first create; settling ${settleS} s`);
    await sleep(settleS * 1000);

    const before = await Promise.all(replicas.map(sample));
    progress(`measuring for ${opts.windowS} s`);
    await sleep(opts.windowS * 1000);
    const after = await Promise.all(replicas.map(sample));
    const settled = await Promise.all(replicas.map((r) => r.settledMemory()));
    const perReplica = replicas.map((_, i) => {
      const [b, a] = [before[i]!, after[i]!];
      const seconds = (a.at - b.at) / 1000;
      const requests = Object.entries(a.probe.counts).reduce((sum, [kind, n]) => sum + n - (b.probe.counts[kind] ?? 0), 0);
      return {
        shardsHeld: shardsHeld(a.metrics),
        objectsPolled: scheduledKeys(a.metrics),
        pollsPerSecond: Number(((pollRuns(a.metrics) - pollRuns(b.metrics)) / seconds).toFixed(1)),
        cpuPercentOfOneCore: Number((((a.cpu - b.cpu) / seconds) * 100).toFixed(1)),
        rssMiB: mib(a.probe.memory.rss),
        settledHeapMiB: mib(settled[i]!.heapUsed),
        settledRssMiB: mib(settled[i]!.rss),
        apiRequestsPerSecond: Number((requests / seconds).toFixed(2)),
      };
    });
    progress(`steady: ${JSON.stringify(perReplica)}`);

    const victim = replicas.at(-1)!;
    const survivors = replicas.slice(0, -1);
    const orphaned = perReplica.at(-1)!.objectsPolled;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    progress(`killed replica ${opts.replicas - 1} (${orphaned} objects); waiting for the survivors to poll all ${opts.count}`);
    const takenAt = await waitFor('survivors poll every object', 10 * 60_000, async () => {
      const texts = await Promise.all(survivors.map((r) => r.metrics().catch(() => '')));
      if (texts.reduce((sum, text) => sum + scheduledKeys(text), 0) >= opts.count) return Date.now();
      await sleep(250);
      return undefined;
    });
    const afterKill = await Promise.all(survivors.map(async (r) => r.metrics()));
    const takeover = {
      orphanedObjects: orphaned,
      sigkillToAllPolledSeconds: Number(((takenAt - killedAt) / 1000).toFixed(1)),
      objectsPolledBySurvivors: afterKill.map(scheduledKeys),
      shardsHeldBySurvivors: afterKill.map(shardsHeld),
    };
    progress(`takeover: ${JSON.stringify(takeover)}`);

    const result = {
      benchmark: 'shards',
      date: new Date().toISOString(),
      node: process.version,
      cpus: availableParallelism(),
      loadAverageDuringRun: {
        min: Math.min(...loads),
        max: Math.max(...loads),
        mean: Number((loads.reduce((s, l) => s + l, 0) / Math.max(1, loads.length)).toFixed(1)),
      },
      replicas: opts.replicas,
      shards: opts.shards,
      count: opts.count,
      pollingIntervalSeconds: opts.pollingIntervalS,
      leaseDurationSeconds: 15,
      operator: `compiled CLI: node --expose-gc bin/swell.js operator ${flags.join(' ')}`,
      setup: { firstCreateToAllReadySeconds: Number(((allReady - createStarted) / 1000).toFixed(1)) },
      perReplica,
      totals: {
        objectsPolled: perReplica.reduce((s, r) => s + r.objectsPolled, 0),
        pollsPerSecond: Number(perReplica.reduce((s, r) => s + r.pollsPerSecond, 0).toFixed(1)),
        cpuPercentOfOneCore: Number(perReplica.reduce((s, r) => s + r.cpuPercentOfOneCore, 0).toFixed(1)),
      },
      takeover,
    };
    await mkdir(join(repo, 'bench', 'results'), { recursive: true });
    const out = join(repo, 'bench', 'results', `shards-${opts.count}.json`);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
  } catch (err) {
    for (const [i, r] of replicas.entries()) process.stderr.write(`replica ${i} output:\n${r.tail()}\n`);
    throw err;
  } finally {
    clearInterval(loadSampler);
    if (!opts.keep) {
      // Deleted while operators still run, so that they take their finalizers off.
      await deleteNamespace(client, namespace, progress);
    }
    await Promise.all(replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null).map((r) => r.stop()));
    await client.request('DELETE', `/api/v1/namespaces/${leaseNamespace}`).catch(() => undefined);
    await Promise.all(probeFiles.map((file) => rm(file, { force: true })));
  }
}

await main();
