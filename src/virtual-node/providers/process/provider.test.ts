import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { text } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSystemClock, type Clock } from '../../../controller/clock.js';
import { FakeClock } from '../../../controller/fake-clock.js';
import { derivePhase } from '../../pod-status.js';
import type { LogOptions, ProviderPod } from '../../provider.js';
import { ProcessProvider } from './provider.js';

const log = pino({ level: 'silent' });
const opened: { provider: ProcessProvider; dir: string }[] = [];

function openProvider(dir = mkdtempSync(join(tmpdir(), 'swell-process-')), clock: Clock = createSystemClock()): ProcessProvider {
  const provider = ProcessProvider.open({ stateDir: dir, clock, log, capacity: { cpu: '8', memory: '16Gi', pods: '110' }, restartBackoffMs: 100, pollMs: 50 });
  opened.push({ provider, dir });
  return provider;
}

afterEach(async () => {
  for (const { provider } of opened) {
    for (const p of await provider.listPods()) {
      await provider.deletePod(pod(p.name, [], 'Never', p.uid), 0);
    }
    await sleep(100);
    for (const p of await provider.listPods()) await provider.releasePod(p.namespace, p.name);
    await provider.close();
  }
  for (const { dir } of opened.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sh(name: string, script: string, env: Record<string, string> = {}): V1Container {
  return { name, image: 'ignored:latest', command: ['sh', '-c'], args: [script], env: Object.entries(env).map(([n, value]) => ({ name: n, value })) };
}

function pod(
  name: string,
  containers: V1Container[],
  restartPolicy: 'Always' | 'OnFailure' | 'Never' = 'Never',
  uid = `uid-${name}`,
  initContainers: V1Container[] = [],
): V1Pod {
  return { metadata: { namespace: 'ns', name, uid }, spec: { restartPolicy, containers, initContainers } };
}

const logOptions = (extra: Partial<LogOptions> = {}): LogOptions => ({
  follow: false,
  timestamps: false,
  previous: false,
  signal: new AbortController().signal,
  ...extra,
});
/** Polls the pod until `done`; with a fake clock, moves it 20 ms per look so the provider's own retries run. */
async function waitFor(provider: ProcessProvider, name: string, done: (p: ProviderPod) => boolean, clock?: FakeClock, timeoutMs = 5000): Promise<ProviderPod> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await provider.getPod('ns', name);
    if (current && done(current)) return current;
    if (Date.now() > deadline) throw new Error(`timed out waiting for pod ${name}: ${JSON.stringify(current)}`);
    await sleep(25);
    await clock?.advance(20);
  }
}

async function waitForLog(provider: ProcessProvider, name: string, expected: string, clock?: FakeClock, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await text(await provider.getContainerLogs('ns', name, 'main', logOptions()));
    if (current === expected) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for the log of ${name} to read ${JSON.stringify(expected)}: ${JSON.stringify(current)}`);
    await sleep(25);
    await clock?.advance(20);
  }
}

const phase = (policy: 'Always' | 'OnFailure' | 'Never') => (p: ProviderPod) => derivePhase(policy, p);

describe('ProcessProvider', () => {
  it('runs command and args with the container env, captures the output, and reports exit 0 as Succeeded', async () => {
    const provider = openProvider();
    await provider.createPod(pod('hello', [sh('main', 'echo "hello $WHO from $HOSTNAME"; echo oops >&2', { WHO: 'world' })]));
    const done = await waitFor(provider, 'hello', (p) => phase('Never')(p) === 'Succeeded');
    expect(done.containers[0]?.state).toMatchObject({ kind: 'terminated', exitCode: 0, reason: 'Completed' });
    expect(done.podIP).toBe('127.0.0.1');
    expect(await text(await provider.getContainerLogs('ns', 'hello', 'main', logOptions()))).toBe('hello world from hello\noops\n');
  });

  it('records exit codes when the state directory was given as a relative path', async () => {
    const provider = openProvider(relative(process.cwd(), mkdtempSync(join(tmpdir(), 'swell-process-'))));
    await provider.createPod(pod('relative', [sh('main', 'exit 5')]));
    const done = await waitFor(provider, 'relative', (p) => p.containers[0]?.state.kind === 'terminated');
    expect(done.containers[0]?.state).toMatchObject({ exitCode: 5, reason: 'Error' });
  });

  it('reports a non-zero exit code and fails a Never pod', async () => {
    const provider = openProvider();
    await provider.createPod(pod('bad', [sh('main', 'exit 3')]));
    const done = await waitFor(provider, 'bad', (p) => p.containers[0]?.state.kind === 'terminated');
    expect(done.containers[0]?.state).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(phase('Never')(done)).toBe('Failed');
  });

  it('does not expose the node program environment to containers', async () => {
    process.env.SWELL_TEST_SECRET = 'do-not-leak';
    const provider = openProvider();
    await provider.createPod(pod('env', [sh('main', 'echo "[${SWELL_TEST_SECRET:-}]"')]));
    await waitFor(provider, 'env', (p) => p.containers[0]?.state.kind === 'terminated');
    expect(await text(await provider.getContainerLogs('ns', 'env', 'main', logOptions()))).toBe('[]\n');
    delete process.env.SWELL_TEST_SECRET;
  });

  it.each([
    [
      'a missing command',
      { name: 'main', command: ['definitely-not-a-command-xyz'] },
      /CommandNotFound|executable "definitely-not-a-command-xyz" not found in PATH/,
    ],
    ['no command at all', { name: 'main', image: 'nginx' }, /has no command/],
    ['a missing working directory', { name: 'main', command: ['true'], workingDir: '/nonexistent/dir' }, /workingDir "\/nonexistent\/dir" does not exist/],
    [
      'an unresolved valueFrom',
      { name: 'main', command: ['true'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] },
      /env X uses valueFrom/,
    ],
  ])('rejects a pod with %s, naming the pod and container', async (_what, container, message) => {
    const provider = openProvider();
    await expect(provider.createPod(pod('nope', [container]))).rejects.toThrow(message);
    await expect(provider.createPod(pod('nope', [container]))).rejects.toThrow(/pod ns\/nope/);
    expect(await provider.listPods()).toEqual([]);
  });

  it('restarts an Always container that exits, with back-off, keeping the last termination', async () => {
    const provider = openProvider();
    await provider.createPod(pod('crash', [sh('main', 'echo run; exit 2')], 'Always'));
    const restarted = await waitFor(provider, 'crash', (p) => (p.containers[0]?.restartCount ?? 0) >= 2);
    expect(restarted.containers[0]?.lastTermination).toMatchObject({ exitCode: 2, reason: 'Error' });
    expect(phase('Always')(restarted)).toBe('Running');
    const previous = await text(await provider.getContainerLogs('ns', 'crash', 'main', logOptions({ previous: true })));
    expect(previous).toBe('run\n');
  });

  it('does not restart an OnFailure container that exits 0, however many polls and back-offs pass', async () => {
    const clock = new FakeClock();
    const provider = openProvider(undefined, clock);
    await provider.createPod(pod('once', [sh('main', 'exit 0')], 'OnFailure'));
    await waitFor(provider, 'once', (p) => p.containers[0]?.state.kind === 'terminated');
    // Twenty polls and ten first back-offs.
    await clock.advance(1_000);
    const later = await provider.getPod('ns', 'once');
    expect(later?.containers[0]?.restartCount).toBe(0);
    expect(later && phase('OnFailure')(later)).toBe('Succeeded');
  });

  it('runs init containers first, one after the other', async () => {
    const provider = openProvider();
    const dir = mkdtempSync(join(tmpdir(), 'swell-init-'));
    const init = [sh('first', `echo one > ${dir}/order`), sh('second', `echo two >> ${dir}/order`)];
    await provider.createPod(pod('init', [sh('main', `cat ${dir}/order`)], 'Never', 'uid-init', init));
    await waitFor(provider, 'init', (p) => phase('Never')(p) === 'Succeeded');
    expect(await text(await provider.getContainerLogs('ns', 'init', 'main', logOptions()))).toBe('one\ntwo\n');
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops a pod with SIGTERM on delete, and does not restart it', async () => {
    const clock = new FakeClock();
    const provider = openProvider(undefined, clock);
    await provider.createPod(pod('long', [{ name: 'main', command: ['sleep', '30'] }], 'Always'));
    await waitFor(provider, 'long', (p) => p.containers[0]?.state.kind === 'running');
    await provider.deletePod(pod('long', []), 10);
    // The command's pid is recorded a moment after the start; the provider retries on its clock until it is.
    const stopped = await waitFor(provider, 'long', (p) => p.containers[0]?.state.kind === 'terminated', clock);
    // 143: stopped by SIGTERM well inside the 10 s grace period (the kill at its end would make it 137).
    expect(stopped.containers[0]?.state).toMatchObject({ exitCode: 143 });
    expect(stopped.stopping).toBe(true);
    await clock.advance(1_000);
    expect((await provider.getPod('ns', 'long'))?.containers[0]?.restartCount).toBe(0);
  });

  it('kills a process that ignores SIGTERM once the grace period is over, not before', async () => {
    const clock = new FakeClock();
    const provider = openProvider(undefined, clock);
    // `wait` returns on a trapped signal, so the trap can tell that SIGTERM arrived and was shrugged off.
    await provider.createPod(pod('stubborn', [sh('main', 'trap "echo ignored TERM" TERM; echo ready; while :; do sleep 30 & wait $!; done')], 'Always'));
    await waitForLog(provider, 'stubborn', 'ready\n', clock);
    const deletedAt = clock.now();
    await provider.deletePod(pod('stubborn', []), 1);
    await waitForLog(provider, 'stubborn', 'ready\nignored TERM\n', clock);
    await clock.advance(deletedAt + 999 - clock.now());
    expect((await provider.getPod('ns', 'stubborn'))?.containers[0]?.state.kind).toBe('running');
    await clock.advance(1);
    const killed = await waitFor(provider, 'stubborn', (p) => p.containers[0]?.state.kind === 'terminated');
    expect(killed.containers[0]?.state).toMatchObject({ exitCode: 137 });
  });

  it('re-adopts a running process after a restart instead of starting it again', async () => {
    const first = openProvider();
    const dir = opened[0]?.dir ?? '';
    await first.createPod(pod('keep', [sh('main', 'echo started; sleep 30')], 'Always'));
    const before = await waitFor(first, 'keep', (p) => p.containers[0]?.state.kind === 'running');
    await first.close();
    opened.splice(0);

    const second = openProvider(dir);
    const after = await second.getPod('ns', 'keep');
    expect(after?.containers[0]?.state).toEqual(before.containers[0]?.state);
    expect(after?.containers[0]?.containerId).toBe(before.containers[0]?.containerId);
    await sleep(300);
    expect(await text(await second.getContainerLogs('ns', 'keep', 'main', logOptions()))).toBe('started\n');
    await second.deletePod(pod('keep', [], 'Always'), 5);
    expect((await waitFor(second, 'keep', (p) => p.containers[0]?.state.kind === 'terminated')).containers[0]?.state).toMatchObject({ exitCode: 143 });
  });

  it('reports how a process ended while the node program was down', async () => {
    const first = openProvider();
    const dir = opened[0]?.dir ?? '';
    await first.createPod(pod('brief', [sh('main', 'sleep 0.3; exit 4')]));
    await waitFor(first, 'brief', (p) => p.containers[0]?.state.kind === 'running');
    await first.close();
    opened.splice(0);
    await sleep(700);

    const second = openProvider(dir);
    const ended = await waitFor(second, 'brief', (p) => p.containers[0]?.state.kind === 'terminated');
    expect(ended.containers[0]?.state).toMatchObject({ exitCode: 4, reason: 'Error' });
  });

  it('serves the last lines, and follows output until the container ends', async () => {
    const provider = openProvider();
    await provider.createPod(pod('talk', [sh('main', 'for i in 1 2 3; do echo line$i; sleep 0.2; done')]));
    await waitFor(provider, 'talk', (p) => p.containers[0]?.state.kind === 'running');
    const followed = text(await provider.getContainerLogs('ns', 'talk', 'main', logOptions({ follow: true })));
    expect(await followed).toBe('line1\nline2\nline3\n');
    expect(await text(await provider.getContainerLogs('ns', 'talk', 'main', logOptions({ tailLines: 2 })))).toBe('line2\nline3\n');
    expect(await text(await provider.getContainerLogs('ns', 'talk', 'main', logOptions({ limitBytes: 3 })))).toBe('lin');
    await expect(provider.getContainerLogs('ns', 'talk', 'other', logOptions())).rejects.toThrow(/not found/);
  });
});
