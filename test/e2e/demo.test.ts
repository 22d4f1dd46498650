// @sandbox kube,node,redis
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { seriesFromChart } from '../../src/demo/chart.js';
import { nodeContainerdEnvVar } from '../../src/sandbox/node.js';
import { sandboxVirtualNodeName } from '../../src/sandbox/virtual-node.js';
import { repoDir } from './support.js';

/*
 * `swell demo` as someone trying swell runs it (the compiled CLI), on the sandbox the tests use: it must finish by
 * itself, the chart it leaves must show the whole story (a full queue, burst replicas on the virtual node, back to
 * zero), and the queue must have been drained by the pods themselves: real consumer pods on the real node and
 * local processes on the virtual node, every item found in their logs.
 */
describe('swell demo', () => {
  // The demo starts the sandbox's virtual node and stops it again; not the header, or other suites' burst pods would
  // land on it for the whole run. Its Node object outlives the process, so it goes too.
  afterAll(async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
    await kubeConfig
      .makeApiClient(CoreV1Api)
      .deleteNode({ name: sandboxVirtualNodeName })
      .catch(() => undefined);
  });

  it('scales a small queue 0 → N (with burst) → 0 with real pods popping it, and charts it', async () => {
    if (!process.env[nodeContainerdEnvVar])
      throw new Error(`${nodeContainerdEnvVar} is not set: the real node did not start (it needs root; see the test setup's output)`);
    const kubeconfig = process.env.KUBECONFIG ?? '';
    // KUBECONFIG is <state-dir>/kube/admin.kubeconfig: the demo reuses that sandbox instead of starting one.
    const stateDir = dirname(dirname(kubeconfig));
    const outDir = mkdtempSync(join(tmpdir(), 'swell-demo-'));
    const child = spawn(
      process.execPath,
      [join(repoDir, 'bin', 'swell.js'), 'demo', '--jobs', '30', '--timeout', '120', '--out-dir', outDir, '--state-dir', stateDir],
      { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGTERM'), 280_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect(code, output).toBe(0);
    const chartPath = /chart: (\S+\.svg)/.exec(output)?.[1];
    expect(chartPath, output).toBeDefined();
    expect(chartPath?.startsWith(outDir)).toBe(true);
    const series = seriesFromChart(readFileSync(chartPath ?? '', 'utf8'));
    const queue = series.get('items waiting') ?? [];
    const regular = series.get('regular nodes') ?? [];
    const virtual = series.get('virtual node (burst)') ?? [];
    const cost = series.get('virtual node cost') ?? [];
    expect(queue[0]).toBe(30);
    expect(Math.max(...virtual)).toBeGreaterThan(0);
    expect(Math.max(...regular)).toBeLessThanOrEqual(2);
    expect(queue.at(-1)).toBe(0);
    expect((regular.at(-1) ?? -1) + (virtual.at(-1) ?? -1)).toBe(0);
    expect(cost.at(-1)).toBeGreaterThan(0);
    expect(output).not.toContain('was not drained');
    // No stand-in consumption: the regular tier is real.
    expect(output).not.toContain('in their place');
    const popped = /items the pods logged as processed: (\d+) by regular pods, (\d+) by virtual-node pods, of (\d+)/.exec(output);
    expect(popped, output).not.toBeNull();
    const [regularPopped, virtualPopped, jobs] = [Number(popped?.[1]), Number(popped?.[2]), Number(popped?.[3])];
    expect(jobs).toBe(30);
    expect(regularPopped, output).toBeGreaterThan(0);
    expect(virtualPopped, output).toBeGreaterThan(0);
    expect(regularPopped + virtualPopped, output).toBe(30);
  });
});
