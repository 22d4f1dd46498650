// @sandbox kube
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScaledObject } from '../../src/apis/keda/v1alpha1/scaledobject.js';
import type { KubeClient } from '../../src/kube/client.js';
import { createDeployment, createNamespace, deleteNamespace, installCrds, replicasOf, sandboxClient, soPath, waitFor } from './operator-support.js';

/*
 * The operator as users run it: `swell operator` in its own process. Everything that matters lives in the
 * cluster, so a process killed mid-loop is replaced without losing the cooldown clock, and a clean stop hands
 * the Lease over at once.
 */

const namespace = `op-restart-${randomUUID().slice(0, 6)}`;
const repo = join(import.meta.dirname, '..', '..');
let client: KubeClient;
const children = new Set<ChildProcess>();

function startOperator(...flags: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'operator', '--namespace', namespace, '--metrics-port', '0', '--health-port', '0', '--log-level', 'info', ...flags],
    {
      cwd: repo,
      env: { ...process.env, POD_NAMESPACE: namespace },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  // Its log (on stderr) is read for `started`; warnings and errors still reach the test's output.
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (/"level":[4-6]\d/.test(line)) process.stderr.write(`${line}\n`);
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves once the process logged that every part is up (from then on it is a candidate for the Lease). */
function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      if (!buffered.includes('"msg":"swell operator started"')) return;
      child.stderr?.off('data', onData);
      resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the operator exited (${code}) before it started`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

beforeAll(async () => {
  client = sandboxClient().client;
  await installCrds(client);
  await createNamespace(client, namespace);
});

afterAll(async () => {
  const survivor = startOperator('--leader-elect', 'false');
  await client.request('DELETE', soPath(namespace, 'cart')).catch(() => undefined);
  await waitFor('ScaledObjects deleted', 20_000, async () =>
    (await client.request<{ items: unknown[] }>('GET', soPath(namespace))).items.length === 0 ? true : undefined,
  ).catch(() => undefined);
  for (const child of [...children, survivor]) child.kill('SIGKILL');
  await deleteNamespace(client, namespace);
});

const getSo = (name: string) => client.request<ScaledObject>('GET', soPath(namespace, name));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('swell operator as a process', () => {
  it('killed mid-loop and started again, keeps the cooldown measured from the stored lastActiveTime', { timeout: 90_000 }, async () => {
    await createDeployment(client, namespace, 'cart', 0);
    const minute = new Date().getUTCMinutes();
    const window = (open: boolean) => ({
      type: 'cron',
      metadata: {
        timezone: 'Etc/UTC',
        start: `${(minute + (open ? 59 : 20)) % 60} * * * *`,
        end: `${(minute + (open ? 3 : 30)) % 60} * * * *`,
        desiredReplicas: '2',
      },
    });
    await client.request('POST', soPath(namespace), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'cart' },
        spec: { scaleTargetRef: { name: 'cart' }, pollingInterval: 1, cooldownPeriod: 15, triggers: [window(true)] },
      },
    });
    const first = startOperator('--leader-elect', 'false');
    await waitFor('cart woken', 30_000, async () => ((await replicasOf(client, namespace, 'cart')) === 1 ? true : undefined));
    // The window closes while the first operator still polls: lastActiveTime stops moving.
    await client.request('PATCH', soPath(namespace, 'cart'), { body: { spec: { triggers: [window(false)] } }, contentType: 'application/merge-patch+json' });
    await waitFor('cart inactive', 20_000, async () =>
      (await getSo('cart')).status?.conditions?.find((c) => c.type === 'Active')?.status === 'False' ? true : undefined,
    );
    first.kill('SIGKILL');
    await exited(first);
    const stored = await getSo('cart');
    const lastActive = Date.parse(stored.status?.lastActiveTime ?? '');
    expect(Number.isNaN(lastActive)).toBe(false);
    await sleep(Math.max(0, lastActive + 7_000 - Date.now()));
    const second = startOperator('--leader-elect', 'false');
    // Polled every second: a fresh operator that lost the clock would scale at once (no lastActiveTime) or
    // 15 s after its own start; one that kept it scales 15 s after lastActiveTime.
    let scaledAt = 0;
    await waitFor('cart back to zero', 40_000, async () => {
      if ((await replicasOf(client, namespace, 'cart')) !== 0) return undefined;
      scaledAt = Date.now();
      return true;
    });
    expect(scaledAt - lastActive).toBeGreaterThanOrEqual(15_000);
    expect(scaledAt - lastActive).toBeLessThan(21_000);
    const after = await getSo('cart');
    expect(after.status?.originalReplicaCount).toBe(0);
    expect(after.metadata.finalizers).toEqual(['finalizer.keda.sh']);
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
  });

  it('on SIGTERM stops cleanly and releases the Lease, so a successor leads at once', { timeout: 60_000 }, async () => {
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/swell-operator`;
    const holder = async () => (await client.request<{ spec?: { holderIdentity?: string } }>('GET', leasePath)).spec?.holderIdentity ?? '';
    const leader = startOperator('--leader-elect', 'true', '--lease-namespace', namespace);
    const firstHolder = await waitFor('a leader', 30_000, async () => (await holder().catch(() => '')) || undefined);
    const successor = startOperator('--leader-elect', 'true', '--lease-namespace', namespace);
    await started(successor);
    // The window is the leader's own progress: two renewals after the successor came up, so the successor has
    // tried for the Lease in between (it retries as often as the leader renews).
    const renewTime = async () => (await client.request<{ spec?: { renewTime?: string } }>('GET', leasePath)).spec?.renewTime ?? '';
    for (const renewal of [1, 2]) {
      const seen = await renewTime();
      await waitFor(`renewal ${renewal} by the leader`, 15_000, async () => ((await renewTime()) !== seen ? true : undefined));
    }
    expect(await holder()).toBe(firstHolder);
    const stoppedAt = Date.now();
    leader.kill('SIGTERM');
    expect(await exited(leader)).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    const next = await waitFor('the successor leads', 15_000, async () => {
      const h = await holder();
      return h && h !== firstHolder ? h : undefined;
    });
    // Lease duration is 15 s: taking over well before that proves the lease was released, not expired.
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    expect(next).not.toBe(firstHolder);
    successor.kill('SIGTERM');
    expect(await exited(successor)).toBe(0);
  });
});
