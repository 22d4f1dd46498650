import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSwellProcess, type SwellProcess } from '../../src/demo/processes.js';
import { isNotFound } from '../../src/kube/errors.js';
import { createLogger } from '../../src/log.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import type { ComponentName } from '../../src/sandbox/component.js';
import { sandboxComponents } from '../../src/sandbox/components.js';
import { sandboxPaths } from '../../src/sandbox/paths.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { hpaPath, replicasOf, soPath, waitFor } from '../integration/operator-support.js';

/*
 * What the fault scenarios share: the test sandbox (to kill, stop and restart its real servers), swell operators
 * run as users run them (to SIGKILL them), seeded randomness whose seed is printed, and the figures file.
 *
 * `npm test` runs a short pass of every scenario; FAULTS_FULL=1 (`npm run test:faults`) runs more rounds.
 * FAULTS_SEED replays a run.
 */

export const repoDir = join(import.meta.dirname, '..', '..');
export const full = process.env.FAULTS_FULL === '1';
export const resultsFile = join(repoDir, '.swell', 'faults', 'results.json');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A deterministic generator, so a failing run can be replayed with FAULTS_SEED. */
export { seededRandom } from '../../src/simulate/random.js';

/** The seed of one scenario: FAULTS_SEED when given, else a fresh one; printed so the run can be replayed. */
export function scenarioSeed(scenario: string): number {
  const given = process.env.FAULTS_SEED;
  const seed = given !== undefined && /^\d+$/.test(given) ? Number(given) : randomBytes(4).readUInt32BE(0);
  process.stdout.write(`[faults] ${scenario}: seed ${seed} (replay with FAULTS_SEED=${seed})\n`);
  return seed;
}

/** Merges one scenario's figures into .swell/faults/results.json and prints them. */
export async function recordFigures(scenario: string, figures: Record<string, unknown>): Promise<void> {
  await mkdir(join(repoDir, '.swell', 'faults'), { recursive: true });
  let results: { runs?: unknown; scenarios?: Record<string, unknown> } = {};
  try {
    results = JSON.parse(await readFile(resultsFile, 'utf8')) as typeof results;
  } catch {
    // first scenario of the run
  }
  const scenarios = { ...(results.scenarios ?? {}), [scenario]: { ...figures, full, recordedAt: new Date().toISOString() } };
  const staging = `${resultsFile}.${process.pid}`;
  await writeFile(staging, `${JSON.stringify({ ...results, scenarios }, null, 2)}\n`);
  await rename(staging, resultsFile);
  process.stdout.write(`[faults] ${scenario}: ${JSON.stringify(figures)}\n`);
}

/**
 * The sandbox the test setup started (.swell/test). Its servers can be killed and restarted from here: `up`
 * starts a dead one again on its recorded ports, so every later test still reaches it at the same address.
 */
export function testSandbox(): Sandbox {
  return new Sandbox({
    paths: sandboxPaths({ stateDir: join(repoDir, '.swell', 'test') }),
    components: sandboxComponents(),
    log: createLogger({ name: 'faults-sandbox', level: 'warn' }),
    progress: (message) => process.stdout.write(`[faults sandbox] ${message}\n`),
  });
}

/**
 * True when the named components run in the test sandbox (rather than being servers the user pointed the
 * env variables at, which the suite must not kill).
 */
export async function sandboxOwns(names: readonly ComponentName[]): Promise<boolean> {
  const status = await testSandbox().status();
  return names.every((name) => status.find((s) => s.name === name)?.state === 'running');
}

/** Kills (SIGKILL) one daemon of the test sandbox; fails when it was not running. */
export async function killDaemon(sandbox: Sandbox, daemon: string): Promise<void> {
  if (!(await sandbox.signalDaemon(daemon, 'SIGKILL'))) throw new Error(`${daemon} is not running in the test sandbox`);
}

/** A `swell operator` for one scenario; `extra` flags come last and win. */
export interface OperatorOptions {
  readonly namespace: string;
  /** Distinguishes the log files of several replicas or restarts. */
  readonly name: string;
  readonly leaderElect?: boolean;
  readonly extra?: readonly string[];
}

/**
 * Starts `swell operator` as a user runs it (a child process), its output in .swell/faults/<name>.log, and
 * waits until it leads (or, for a second replica, until it runs).
 */
export function startOperator(options: OperatorOptions, readyLine = /"msg":"leading: reconciling and polling"/): Promise<SwellProcess> {
  const { namespace } = options;
  const args = ['operator', '--install-crds', '--namespace', namespace, '--lease-namespace', namespace, '--cluster-auth-namespace', namespace];
  args.push('--metrics-port', '0', '--health-port', '0', '--webhooks', 'false', '--burst', 'false', '--log-level', 'info');
  args.push('--leader-elect', String(options.leaderElect ?? false), ...(options.extra ?? []));
  return startSwellProcess({ repoDir, args, readyLine, timeoutMs: 90_000, logFile: join(repoDir, '.swell', 'faults', `${options.name}.log`) });
}

/** What a running operator logged on start: its Lease identity and the ports it picked. */
export async function operatorStarted(operator: SwellProcess): Promise<{ identity: string; healthPort: number; metricsApiPort?: number }> {
  return waitFor(`"swell operator started" in ${operator.logFile}`, 30_000, async () => {
    for (const line of (await readFile(operator.logFile, 'utf8')).split('\n')) {
      if (!line.includes('"msg":"swell operator started"')) continue;
      const entry = JSON.parse(line) as { identity: string; healthPort: number; metricsApiPort?: number };
      return entry;
    }
    return undefined;
  });
}

export async function operatorHealthPort(operator: SwellProcess): Promise<number> {
  return (await operatorStarted(operator)).healthPort;
}

/** SIGKILL: no shutdown hook runs, nothing is unregistered or released. Resolves once the process is gone. */
export async function killOperator(operator: SwellProcess): Promise<void> {
  if (operator.pid !== undefined) {
    try {
      process.kill(operator.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await operator.stop(0);
}

/** A consumer Deployment at 0 replicas; its pods land on the sandbox's kwok nodes. */
export async function createWorker(client: KubeClient, namespace: string, name: string): Promise<void> {
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
          spec: { containers: [{ name: 'consumer', image: 'registry.invalid/consumer:1', resources: { requests: { cpu: '10m' } } }] },
        },
      },
    },
  });
}

export interface ScaledObjectOptions {
  readonly target?: string;
  readonly maxReplicaCount?: number;
  readonly cooldownPeriod?: number;
  readonly fallback?: { failureThreshold: number; replicas: number };
}

/** A ScaledObject with fast loops: 1 s polls, a short cooldown, the HPA scaling down without a window. */
export async function createScaledObject(
  client: KubeClient,
  namespace: string,
  name: string,
  trigger: Record<string, unknown>,
  options: ScaledObjectOptions = {},
): Promise<void> {
  await client.request('POST', soPath(namespace), {
    body: {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace },
      spec: {
        scaleTargetRef: { name: options.target ?? name },
        pollingInterval: 1,
        cooldownPeriod: options.cooldownPeriod ?? 5,
        minReplicaCount: 0,
        maxReplicaCount: options.maxReplicaCount ?? 10,
        ...(options.fallback ? { fallback: options.fallback } : {}),
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

/** Waits until the Deployment's desired replicas equal `want`; returns how long that took. */
export async function convergeTo(client: KubeClient, namespace: string, name: string, want: number, timeoutMs = 90_000): Promise<number> {
  const started = Date.now();
  await waitFor(`${namespace}/${name} at ${want} replicas`, timeoutMs, async () => ((await replicasOf(client, namespace, name)) === want ? true : undefined));
  return Date.now() - started;
}

/** Asserts, by sampling for `ms`, that the Deployment stays at `want` replicas; returns what it saw otherwise. */
export async function holdsAt(client: KubeClient, namespace: string, name: string, want: number, ms: number): Promise<number[]> {
  const seen = new Set<number>();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    seen.add(await replicasOf(client, namespace, name));
    await sleep(250);
  }
  return [...seen].filter((n) => n !== want);
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export async function conditionOf(client: KubeClient, namespace: string, name: string, type: string): Promise<Condition | undefined> {
  const so = await client.request<{ status?: { conditions?: Condition[] } }>('GET', soPath(namespace, name));
  return so.status?.conditions?.find((c) => c.type === type);
}

export interface KubeEvent {
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  involvedObject?: { kind?: string; name?: string };
}

/** Events about one object of the namespace, newest last. */
export async function eventsAbout(client: KubeClient, namespace: string, name: string): Promise<KubeEvent[]> {
  const list = await client.request<{ items: KubeEvent[] }>(
    'GET',
    `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
  );
  return list.items;
}

/** The ScaledObjects that still exist, and HPAs in the namespace no existing ScaledObject owns (orphans). */
export async function leftovers(
  client: KubeClient,
  namespace: string,
): Promise<{ scaledObjects: { name: string; finalizers: string[]; deleting: boolean }[]; orphanHpas: string[] }> {
  const sos = await client.request<{ items: { metadata: { name: string; finalizers?: string[]; deletionTimestamp?: string } }[] }>('GET', soPath(namespace));
  const hpas = await client.request<{ items: { metadata: { name: string; ownerReferences?: { kind: string; name: string }[] } }[] }>('GET', hpaPath(namespace));
  const names = new Set(sos.items.map((so) => so.metadata.name));
  return {
    scaledObjects: sos.items.map((so) => ({
      name: so.metadata.name,
      finalizers: so.metadata.finalizers ?? [],
      deleting: so.metadata.deletionTimestamp !== undefined,
    })),
    orphanHpas: hpas.items.filter((h) => !h.metadata.ownerReferences?.some((o) => o.kind === 'ScaledObject' && names.has(o.name))).map((h) => h.metadata.name),
  };
}

/** Deletes a ScaledObject and waits (bounded) until it is gone; true when it went. */
export async function deleteScaledObject(client: KubeClient, namespace: string, name: string, timeoutMs = 30_000): Promise<boolean> {
  await client.request('DELETE', soPath(namespace, name)).catch(() => undefined);
  return waitForGone(client, soPath(namespace, name), timeoutMs);
}

export async function waitForGone(client: KubeClient, path: string, timeoutMs: number): Promise<boolean> {
  return waitFor(`${path} gone`, timeoutMs, () =>
    client.request('GET', path).then(
      () => undefined,
      (e: unknown) => (isNotFound(e) ? true : undefined),
    ),
  ).then(
    () => true,
    () => false,
  );
}

/** Percentiles of a list of durations (ms), for the figures. */
export function summary(values: readonly number[]): { n: number; minMs?: number; medianMs?: number; maxMs?: number } {
  if (values.length === 0) return { n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, minMs: sorted[0], medianMs: sorted[Math.floor(sorted.length / 2)], maxMs: sorted[sorted.length - 1] };
}
