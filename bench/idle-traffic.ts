/*
 * What the operator asks of the apiserver when nothing happens. Runs the compiled CLI (`swell operator`, every
 * part on: ScaledObjects, ScaledJobs, metrics API, webhooks, burst placement, leader election) as a child process
 * with a request counter loaded into it, makes N idle ScaledObjects (closed cron windows, targets at zero), waits
 * until they are Ready and settled, then counts every request the process starts during a window: requests per
 * second by verb and resource, watches included. Then it sends SIGTERM and reports how long the process took to
 * exit.
 *
 *   npm run build && npx tsx src/cli/main.ts dev up --components kube
 *   npx tsx bench/idle-traffic.ts [--count 100] [--window 60] [--settle 45]
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { ScaledObject } from '../src/apis/keda/v1alpha1/scaledobject.js';
import { isNotFound } from '../src/kube/errors.js';
import { createHttpKubeClient, resourcePath, type KubeClient } from '../src/kube/client.js';
import { installCrds, waitFor } from '../test/integration/operator-support.js';
import { sandboxKubeconfig } from './sandbox-kubeconfig.js';
import { freePort } from '../src/sandbox/net.js';

const repo = join(import.meta.dirname, '..');

function options(): { count: number; windowS: number; settleS: number } {
  const { values } = parseArgs({
    options: { count: { type: 'string', default: '100' }, window: { type: 'string', default: '60' }, settle: { type: 'string', default: '45' } },
  });
  const int = (name: string, raw: string): number => {
    if (!/^[1-9]\d*$/.test(raw)) throw new Error(`--${name}: "${raw}" is not a positive integer`);
    return Number(raw);
  };
  return { count: int('count', values.count), windowS: int('window', values.window), settleS: int('settle', values.settle) };
}

async function readCounts(file: string): Promise<Record<string, number>> {
  const parsed = JSON.parse(await readFile(file, 'utf8').catch(() => '{"counts":{}}')) as { counts: Record<string, number> };
  return parsed.counts;
}

async function createIdleObjects(client: KubeClient, namespace: string, count: number): Promise<void> {
  // A one-minute window half a year away: closed however long the run takes.
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
  const trigger = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: `0 0 1 ${month} *`, end: `1 0 1 ${month} *`, desiredReplicas: '2' } };
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const name = `idle-${next++}`;
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
        await client.request('POST', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }), {
          body: { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name }, spec: { scaleTargetRef: { name }, triggers: [trigger] } },
        });
      }
    }),
  );
}

async function main(): Promise<void> {
  const opts = options();
  const kubeconfig = await sandboxKubeconfig(repo);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const client = createHttpKubeClient(kubeConfig);
  const namespace = `bench-idle-${Date.now().toString(36)}`;
  const progress = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);
  await installCrds(client);
  await mkdir(join(repo, '.swell'), { recursive: true });
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
  const countsFile = join(repo, '.swell', `idle-traffic-${namespace}.json`);
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const logFile = join(repo, '.swell', `idle-traffic-${namespace}.log`);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      join(repo, 'bench', 'request-counter.ts'),
      join(repo, 'bin', 'swell.js'),
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--lease-namespace',
      namespace,
      '--metrics-port',
      String(metricsPort),
      '--health-port',
      String(healthPort),
      '--log-level',
      'info',
    ],
    { cwd: repo, env: { ...process.env, SWELL_BENCH_REQUEST_COUNTS: countsFile }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor('operator healthy', 60_000, async () =>
      (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok ? true : undefined,
    );
    progress(`creating ${opts.count} idle ScaledObjects in ${namespace}`);
    await createIdleObjects(client, namespace, opts.count);
    await waitFor(`${opts.count} Ready`, 10 * 60_000, async () => {
      const list = await client.request<{ items: ScaledObject[] }>(
        'GET',
        resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }),
      );
      const ready = list.items.filter((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      if (ready >= opts.count) return true;
      await new Promise((r) => setTimeout(r, 1_000));
      return undefined;
    });
    // Past the first polls (30 s interval) and the HPAs' first syncs: what follows is the idle steady state.
    progress(`all Ready; settling for ${opts.settleS} s`);
    await new Promise((r) => setTimeout(r, opts.settleS * 1_000));
    const before = await readCounts(countsFile);
    const startedAt = Date.now();
    progress(`counting for ${opts.windowS} s`);
    await new Promise((r) => setTimeout(r, opts.windowS * 1_000 + 1_100));
    const after = await readCounts(countsFile);
    const windowS = (Date.now() - startedAt) / 1_000;
    const perSecond: Record<string, number> = {};
    let total = 0;
    for (const [kind, n] of Object.entries(after)) {
      const delta = n - (before[kind] ?? 0);
      if (delta === 0) continue;
      perSecond[kind] = Number((delta / windowS).toFixed(3));
      total += delta;
    }
    progress('sending SIGTERM');
    const termAt = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    const result = {
      count: opts.count,
      pollingIntervalSeconds: 30,
      node: process.version,
      windowSeconds: Number(windowS.toFixed(1)),
      requestsPerSecond: Number((total / windowS).toFixed(3)),
      byKind: perSecond,
      exitAfterSigtermMs: code === 'hung' ? null : Date.now() - termAt,
      exitCode: code === 'hung' ? 'still running after 30 s' : code,
    };
    await mkdir(join(repo, 'bench', 'results'), { recursive: true });
    const out = join(repo, 'bench', 'results', `idle-traffic-${opts.count}.json`);
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${out}\n`);
  } catch (err) {
    process.stderr.write(`operator output:\n${output.slice(-4_000)}\n`);
    throw err;
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await writeFile(logFile, output).catch(() => undefined);
    await rm(countsFile, { force: true });
    // Without the operator no finalizer is removed: take them off, then delete the namespace.
    const list = await client
      .request<{ items: ScaledObject[] }>('GET', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace }))
      .catch(() => ({ items: [] as ScaledObject[] }));
    for (const so of list.items) {
      await client
        .request('PATCH', resourcePath({ group: 'keda.sh', version: 'v1alpha1', resource: 'scaledobjects', namespace, name: so.metadata.name ?? '' }), {
          body: { metadata: { finalizers: null } },
          contentType: 'application/merge-patch+json',
        })
        .catch(() => undefined);
    }
    await client.request('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    await waitFor('bench namespace gone', 5 * 60_000, async () => {
      try {
        await client.request('GET', `/api/v1/namespaces/${namespace}`);
        await new Promise((r) => setTimeout(r, 1_000));
        return undefined;
      } catch (err) {
        return isNotFound(err) ? true : undefined;
      }
    }).catch((err: unknown) => progress(String(err)));
  }
}

await main();
