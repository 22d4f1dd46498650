// @sandbox kube
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../src/kube/client.js';
import { createNamespace, deleteNamespace, sandboxClient, waitFor } from './operator-support.js';
import { recordFigures, repoDir, sandboxOwns, testSandbox } from '../faults/support.js';

/*
 * A developer's sandbox survives one of its servers dying: `swell dev up` (the compiled CLI, on the sandbox the tests
 * run on) starts just that server again on its recorded port with its data, so the kubeconfig still works and
 * every object is still there. The test setup's sandbox is the one killed; the test leaves it running.
 */

const stateDir = join(repoDir, '.swell', 'test');
const namespace = `dev-restart-${randomBytes(3).toString('hex')}`;
const run = promisify(execFile);
let client: KubeClient;
let owned = false;
/** How long `swell dev up` took to bring each killed server back (it returns once the cluster answers again). */
const restarts: Record<string, number> = {};

/** The compiled CLI, as users run it (`npm ci` builds dist/ through `prepare`). */
async function dev(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(repoDir, 'bin', 'swell.js'), 'dev', ...args, '--state-dir', stateDir], { cwd: repoDir, timeout: 240_000 });
}

async function configMapData(name: string): Promise<Record<string, string> | undefined> {
  return (await client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${namespace}/configmaps/${name}`)).data;
}

beforeAll(async () => {
  owned = await sandboxOwns(['kube']);
  if (!owned) return;
  client = sandboxClient().client;
  await createNamespace(client, namespace);
});

afterAll(async () => {
  if (!owned) return;
  await deleteNamespace(client, namespace);
  await recordFigures('dev-up-restart', { upRestartMs: restarts });
});

describe('swell dev up after a server of the control plane died', () => {
  it.each(['kube-apiserver', 'etcd'])('restarts a killed %s on its port with its data; the cluster keeps its objects', { timeout: 300_000 }, async (daemon) => {
    if (!owned) return; // KUBECONFIG points at a cluster the user runs: not ours to kill
    const name = `survivor-${daemon}`;
    const value = randomBytes(8).toString('hex');
    await client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } },
    });
    const kubeconfig = await readFile(process.env.KUBECONFIG ?? '', 'utf8');
    const envFile = await readFile(join(stateDir, 'env'), 'utf8');

    expect(await testSandbox().signalDaemon(daemon, 'SIGKILL')).toBe(true);
    await waitFor(`${daemon} dead`, 10_000, async () =>
      (await testSandbox().status()).find((s) => s.name === 'kube')?.dead?.includes(daemon) ? true : undefined,
    );
    expect((await dev('status')).stdout).toMatch(new RegExp(`kube\\s+unhealthy .*not running: ${daemon}`));

    const started = Date.now();
    const up = await dev('up', '--components', 'kube');
    const restartMs = Date.now() - started;
    restarts[daemon] = restartMs;
    expect(up.stderr).toContain(`kube: ${daemon} not running; restarting it with the recorded ports and data`);
    expect(up.stderr).not.toMatch(/RECREATING/);
    expect(up.stdout).toContain(`KUBECONFIG=${process.env.KUBECONFIG ?? ''}`);
    // Same port, same certificates: the kubeconfig and the env file are byte for byte what they were.
    expect(await readFile(process.env.KUBECONFIG ?? '', 'utf8')).toBe(kubeconfig);
    expect(await readFile(join(stateDir, 'env'), 'utf8')).toBe(envFile);
    expect(await waitFor(`ConfigMap ${name} readable`, 30_000, () => configMapData(name))).toEqual({ value });
    expect((await dev('status')).stdout).toMatch(/kube\s+running/);
  });
});
