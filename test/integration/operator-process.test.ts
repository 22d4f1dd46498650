// @sandbox kube,redis
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/kube/client.js';
import { freePort } from '../../src/sandbox/net.js';
import { createDeployment, createNamespace, deleteNamespace, deleteScaledObjects, installCrds, sandboxClient, soPath, waitFor } from './operator-support.js';

/*
 * `swell operator` as users run it: the compiled CLI (bin/swell.js -> dist/), built here first, in processes of
 * its own against the sandbox. The quick start's --install-crds, readiness that follows the apiserver, exit on
 * SIGTERM, and two local replicas of which either can die without taking the metrics API or the webhooks along.
 */

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const suffix = randomUUID().slice(0, 6);
const namespace = `op-process-${suffix}`;
const webhookConfiguration = `swell-it-${suffix}`;
const apiServicePath = '/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io';
let client: KubeClient;
let work: string;
const children = new Set<ChildProcess>();

interface Operator {
  child: ChildProcess;
  log: string[];
  ports: { health: number; metricsApi?: number; webhooks?: number };
}

function startOperator(flags: string[], env: Record<string, string | undefined> = {}): Promise<Operator> {
  const child = spawn(
    process.execPath,
    [
      'bin/swell.js',
      'operator',
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
      ...flags,
    ],
    {
      cwd: repo,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
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
        if (!line.includes('"swell operator started"')) continue;
        const started = JSON.parse(line) as { healthPort: number; metricsApiPort?: number; webhooksPort?: number };
        resolve({
          child,
          log,
          ports: {
            health: started.healthPort,
            ...(started.metricsApiPort ? { metricsApi: started.metricsApiPort } : {}),
            ...(started.webhooksPort ? { webhooks: started.webhooksPort } : {}),
          },
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`operator exited (${code}) before it started:\n${log.join('\n')}`)));
  });
}

/** Sends SIGTERM and resolves with the exit code and how long the process took to exit. */
async function terminate(operator: Operator): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const exited = new Promise<number | null>((resolve) => operator.child.once('exit', (code) => resolve(code)));
  operator.child.kill('SIGTERM');
  return { code: await exited, ms: Date.now() - started };
}

async function readyz(port: number): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
  return { status: response.status, body: await response.text() };
}

/** A TCP relay on 127.0.0.1 to the sandbox apiserver that can be cut and restored, to play an apiserver outage. */
class Relay {
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}
  async open(): Promise<void> {
    const server = net.createServer((socket) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [socket, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      socket.pipe(upstream).pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.#server = server;
  }
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

beforeAll(async () => {
  client = sandboxClient().client;
  await installCrds(client);
  await createNamespace(client, namespace);
  work = await mkdtemp(join(tmpdir(), 'swell-op-process-'));
  // What users run: the compiled output, rebuilt from these sources.
  await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json')], {
    cwd: repo,
    timeout: 300_000,
  });
}, 360_000);

afterAll(async () => {
  await deleteScaledObjects(client, namespace).catch(() => undefined);
  for (const child of children) child.kill('SIGKILL');
  await client.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${webhookConfiguration}`).catch(() => undefined);
  await deleteNamespace(client, namespace);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the compiled operator process', () => {
  it('installs the CRDs from the compiled CLI, is ready only while it reaches the apiserver, and exits on SIGTERM', { timeout: 90_000 }, async () => {
    // The operator reaches the apiserver through a relay this test can cut.
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
    const server = new URL(kubeConfig.getCurrentCluster()?.server ?? '');
    const relay = new Relay(await freePort(), { host: server.hostname, port: Number(server.port) });
    await relay.open();
    const relayed = JSON.parse(kubeConfig.exportConfig()) as { clusters: { cluster: { server: string } }[] };
    for (const c of relayed.clusters) c.cluster.server = `https://127.0.0.1:${relay.port}`;
    const kubeconfigFile = join(work, 'relayed.kubeconfig');
    await writeFile(kubeconfigFile, JSON.stringify(relayed));
    try {
      const operator = await startOperator([
        '--install-crds',
        '--kubeconfig',
        kubeconfigFile,
        '--metrics-api',
        'false',
        '--webhooks',
        'false',
        '--leader-elect',
        'false',
      ]);
      expect(operator.log.some((l) => l.includes('"installed CRDs"'))).toBe(true);
      await waitFor('/readyz 200', 20_000, async () => ((await readyz(operator.ports.health)).status === 200 ? true : undefined));
      await relay.cut();
      const down = await waitFor('/readyz 503 with the apiserver cut off', 20_000, async () => {
        const reply = await readyz(operator.ports.health);
        return reply.status === 503 ? reply : undefined;
      });
      expect(down.body).toMatch(/apiserver unreachable/);
      await relay.open();
      await waitFor('/readyz 200 again', 20_000, async () => ((await readyz(operator.ports.health)).status === 200 ? true : undefined));
      const { code, ms } = await terminate(operator);
      expect(code).toBe(0);
      expect(ms).toBeLessThan(10_000);
      expect(operator.log.some((l) => l.includes('"swell operator stopped"'))).toBe(true);
      // It ended by itself: the last-resort exit did not have to step in.
      expect(operator.log.some((l) => l.includes('exiting now'))).toBe(false);
    } finally {
      await relay.cut();
    }
  });

  it('a replica that does not lead but served metrics (so holds scalers of its own) exits at once on SIGTERM', { timeout: 90_000 }, async () => {
    const redis = new URL(process.env.REDIS_URL ?? '');
    await createDeployment(client, namespace, 'worker', 1);
    await client.request('POST', soPath(namespace), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'worker', namespace },
        spec: {
          scaleTargetRef: { name: 'worker' },
          minReplicaCount: 1,
          triggers: [{ type: 'redis', metadata: { address: redis.host, listName: `jobs-${suffix}`, listLength: '5' } }],
        },
      },
    });
    const flags = ['--metrics-api-service', `swell-metrics-it-${suffix}`, '--webhooks', 'false', '--local', 'true'];
    const leader = await startOperator([...flags, '--metrics-api', 'false']);
    const leaseHolder = async () =>
      (await client.request<{ spec?: { holderIdentity?: string } }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/swell-operator`)).spec
        ?.holderIdentity;
    const holder = await waitFor('the first replica leads', 30_000, async () => (await leaseHolder().catch(() => undefined)) || undefined);
    const follower = await startOperator(flags);
    // The follower serves the metric through the aggregator, reading Redis with scalers it built itself.
    const metric = await waitFor('the metric served by the follower', 30_000, () =>
      client.request<{ items: { value: string }[] }>('GET', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/s0-redis-jobs-${suffix}`, {
        query: { labelSelector: 'scaledobject.keda.sh/name=worker' },
      }),
    );
    expect(metric.items[0]?.value).toBe('0');
    expect(await leaseHolder()).toBe(holder);
    const { code, ms } = await terminate(follower);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(follower.log.some((l) => l.includes('exiting now'))).toBe(false);
    expect((await terminate(leader)).code).toBe(0);
  });

  it(
    'two local replicas: killing the registered one leaves the metrics API and webhooks served; a replica that stops removes no one else’s registration',
    { timeout: 180_000 },
    async () => {
      const flags = ['--metrics-api-service', `swell-metrics-it-${suffix}`, '--webhook-configuration', webhookConfiguration, '--local', 'true'];
      const registeredPorts = async () => {
        const apiService = await client.request<{ spec?: { service?: { port?: number } } }>('GET', apiServicePath).catch(() => undefined);
        const webhooks = await client
          .request<{ webhooks?: { clientConfig: { url?: string } }[] }>(
            'GET',
            `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${webhookConfiguration}`,
          )
          .catch(() => undefined);
        const url = webhooks?.webhooks?.[0]?.clientConfig.url;
        return { metricsApi: apiService?.spec?.service?.port, webhooks: url ? Number(new URL(url).port) : undefined };
      };
      const first = await startOperator(flags);
      await waitFor('the first replica registered', 20_000, async () => {
        const ports = await registeredPorts();
        return ports.metricsApi === first.ports.metricsApi && ports.webhooks === first.ports.webhooks ? true : undefined;
      });
      const second = await startOperator(flags);
      // The second replica leaves a live replica's registration alone.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await registeredPorts()).toEqual({ metricsApi: first.ports.metricsApi, webhooks: first.ports.webhooks });

      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor('metrics API and webhooks served by the survivor', 20_000, async () =>
        (await metricsApiServed()) && (await webhookServed()) ? true : undefined,
      );
      const failoverMs = Date.now() - killedAt;
      process.stderr.write(`[operator-process] metrics API and webhooks served again ${failoverMs} ms after kill -9 of the registered replica\n`);
      expect(await registeredPorts()).toEqual({ metricsApi: second.ports.metricsApi, webhooks: second.ports.webhooks });

      // A third replica starts and stops: the registration stays with the survivor.
      const third = await startOperator(flags);
      await new Promise((r) => setTimeout(r, 2_000));
      const stopped = await terminate(third);
      expect(stopped.code).toBe(0);
      expect(await registeredPorts()).toEqual({ metricsApi: second.ports.metricsApi, webhooks: second.ports.webhooks });
      expect(await metricsApiServed()).toBe(true);
      expect(await webhookServed()).toBe(true);

      // The registered replica stops cleanly while another runs: the other takes over within seconds.
      const fourth = await startOperator(flags);
      const handover = await terminate(second);
      expect(handover.code).toBe(0);
      const stoppedAt = Date.now();
      await waitFor('metrics API and webhooks served by the remaining replica', 20_000, async () => {
        const ports = await registeredPorts();
        const moved = ports.metricsApi === fourth.ports.metricsApi && ports.webhooks === fourth.ports.webhooks;
        return moved && (await metricsApiServed()) && (await webhookServed()) ? true : undefined;
      });
      process.stderr.write(`[operator-process] served by the remaining replica ${Date.now() - stoppedAt} ms after the registered one stopped cleanly\n`);

      // The last replica stops: it removes what points at itself, so no dead APIService is left behind.
      const last = await terminate(fourth);
      expect(last.code).toBe(0);
      expect(await registeredPorts()).toEqual({ metricsApi: undefined, webhooks: undefined });
    },
  );
});

/** The aggregator reaches a swell metrics API: any answer but 503 ServiceUnavailable (here 404, no such object). */
async function metricsApiServed(): Promise<boolean> {
  try {
    await client.request('GET', `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/s0-none`, {
      query: { labelSelector: 'scaledobject.keda.sh/name=none' },
    });
    return true;
  } catch (err) {
    return (err as { code?: number }).code === 404;
  }
}

/** The validating webhook answers: a dry-run ScaledObject only the webhook refuses (idle >= min replicas) is refused. */
async function webhookServed(): Promise<boolean> {
  const body = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'probe', namespace },
    spec: {
      scaleTargetRef: { name: 'probe' },
      minReplicaCount: 2,
      idleReplicaCount: 3,
      triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '1' } }],
    },
  };
  try {
    await client.request('POST', soPath(namespace), { body, query: { dryRun: 'All' } });
    return false;
  } catch (err) {
    return String((err as Error).message).includes('idleReplicaCount');
  }
}
