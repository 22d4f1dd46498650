// The AWS calls the Fargate provider makes for a burst of pods, counted against the sandbox's AWS API emulator:
// N pods created (of a few distinct specs), one minute of status at the default 10 s interval (six passes over
// every task, 100 per DescribeTasks), then all deleted. The emulator answers instantly and never throttles, so
// this measures how the provider batches, not AWS latency; the time the default pacing (--api-rate 20, bursts
// of 100) needs for the RunTask calls is computed alongside.
// Usage: npx tsx bench/fargate-api-calls.ts [--pods 100,1000] [--specs 2]
// Uses the emulator named by SWELL_AWS_ENDPOINT (and SWELL_AWS_SUBNET, SWELL_AWS_SECURITY_GROUP); without it,
// starts the sandbox's aws component in .swell/bench and stops it afterwards.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import type { V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { createSystemClock } from '../src/controller/clock.js';
import { createLogger } from '../src/log.js';
import { SANDBOX_CLUSTER, SANDBOX_CREDENTIALS, SANDBOX_LOG_GROUP, SANDBOX_REGION } from '../src/sandbox/aws.js';
import { sandboxComponents } from '../src/sandbox/components.js';
import { findRepoDir, sandboxPaths } from '../src/sandbox/paths.js';
import { Sandbox } from '../src/sandbox/sandbox.js';
import { apiCallCount } from '../src/virtual-node/providers/fargate/pacing.js';
import { FargateProvider } from '../src/virtual-node/providers/fargate/provider.js';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '100,1000' }, specs: { type: 'string', default: '2' } } });
const sizes = (values.pods ?? '100').split(',').map(Number);
const specs = Number(values.specs ?? '2');
const repo = findRepoDir();
const statusIntervalMs = 10_000;

async function emulator(): Promise<{ env: Record<string, string>; stop: () => Promise<void> }> {
  if (process.env.SWELL_AWS_ENDPOINT) return { env: process.env as Record<string, string>, stop: () => Promise.resolve() };
  const sandbox = new Sandbox({
    paths: sandboxPaths({ stateDir: join(repo, '.swell', 'bench') }),
    components: sandboxComponents(),
    log: createLogger({ name: 'bench', level: 'warn' }),
    progress: (m) => process.stderr.write(`[sandbox] ${m}\n`),
  });
  const env = await sandbox.up(['aws']);
  return { env, stop: async () => void (await sandbox.down(['aws'])) };
}

function pod(i: number, spec: number): V1Pod {
  return {
    metadata: {
      namespace: 'bench',
      name: `web${spec}-${i}`,
      uid: randomUUID(),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web${spec}-5d9c`, uid: 'rs', controller: true }],
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: `registry.example.com/web${spec}:1`,
          env: [{ name: 'INDEX', value: String(i) }],
          resources: { requests: { cpu: '250m', memory: '512Mi' } },
        },
      ],
    },
  };
}

function delta(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const changed = [...after].map(([k, v]): [string, number] => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v > 0);
  return Object.fromEntries(changed);
}

async function run(pods: number, env: Record<string, string>) {
  const config = { endpoint: env.SWELL_AWS_ENDPOINT ?? '', region: SANDBOX_REGION, credentials: SANDBOX_CREDENTIALS, maxAttempts: 3 };
  const nodeName = `bench-${pods}-${randomUUID().slice(0, 6)}`;
  const provider = await FargateProvider.open({
    ecs: new ECSClient(config),
    logs: new CloudWatchLogsClient(config),
    clock: createSystemClock(),
    log: pino({ level: 'silent' }),
    random: Math.random,
    nodeName,
    cluster: SANDBOX_CLUSTER,
    region: SANDBOX_REGION,
    logGroup: SANDBOX_LOG_GROUP,
    placement: { subnets: [env.SWELL_AWS_SUBNET ?? ''], securityGroups: [env.SWELL_AWS_SECURITY_GROUP ?? ''], assignPublicIp: false, architecture: 'X86_64' },
    vcpuQuota: 1000,
    prices: { spotShare: 0.3 },
    // Status passes are driven below, one per simulated 10 s, so the timer stays out of the way.
    statusIntervalMs: 3_600_000,
    // Unpaced, to count calls; the default pacing's cost is computed by apiCallCount.
    callsPerSecond: 100_000,
    callBurst: 100_000,
  });
  const opened = new Map(provider.calls);
  const started = Date.now();
  const all = Array.from({ length: pods }, (_, i) => pod(i, i % specs));
  for (const p of all) await provider.createPod(p);
  for (;;) {
    const listed = await provider.listPods();
    if (listed.every((p) => p.containers.every((c) => c.state.kind === 'running'))) break;
    const failed = listed.find((p) => p.containers.some((c) => c.state.kind === 'waiting' && c.state.reason === 'RunTaskFailed'));
    if (failed) throw new Error(`RunTask failed for ${failed.name}: ${JSON.stringify(failed.containers[0]?.state)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const createSeconds = (Date.now() - started) / 1000;
  const afterCreate = new Map(provider.calls);
  for (let pass = 0; pass < 60_000 / statusIntervalMs; pass++) await provider.refreshStatus();
  const afterSteady = new Map(provider.calls);
  const deleteStarted = Date.now();
  for (const p of all) await provider.deletePod(p);
  const deleteSeconds = (Date.now() - deleteStarted) / 1000;
  const afterDelete = new Map(provider.calls);
  await provider.close();
  return {
    pods,
    distinctSpecs: specs,
    measured: {
      open: Object.fromEntries(opened),
      create: delta(afterCreate, opened),
      steadyPerMinute: delta(afterSteady, afterCreate),
      delete: delta(afterDelete, afterSteady),
      createSeconds,
      deleteSeconds,
    },
    computed: apiCallCount({ pods, distinctSpecs: specs, statusIntervalMs, runTaskPerSecond: 20, runTaskBurst: 100 }),
  };
}

const aws = await emulator();
try {
  const results = [];
  for (const pods of sizes) {
    const result = await run(pods, aws.env);
    results.push(result);
    const m = result.measured;
    process.stdout.write(
      `${pods} pods (${specs} specs): create ${JSON.stringify(m.create)} in ${m.createSeconds.toFixed(1)}s; steady per minute ${JSON.stringify(m.steadyPerMinute)}; ` +
        `delete ${JSON.stringify(m.delete)}; RunTask at the default pacing needs ${result.computed.secondsToLaunchAll.toFixed(0)}s\n`,
    );
  }
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const out = join(repo, 'bench', 'results', 'fargate-api-calls.json');
  await writeFile(out, `${JSON.stringify({ when: new Date().toISOString(), emulator: 'moto 5.2.5', results }, null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await aws.stop();
}
