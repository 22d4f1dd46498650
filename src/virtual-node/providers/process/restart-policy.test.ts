import { describe, expect, it } from 'vitest';
import {
  beginStop,
  containerState,
  describePod,
  exitOf,
  nextSteps,
  restartBackoffMs,
  type ContainerRun,
  type Exit,
  type PodRecord,
  type RestartPolicy,
} from './restart-policy.js';

const now = 1_000_000;
const backoff = 100;

function run(name: string, state: Partial<ContainerRun> = {}): ContainerRun {
  return { spec: { name, image: 'img', argv: ['true'], env: {} }, restartCount: 0, ...state };
}

function pod(restartPolicy: RestartPolicy, containers: ContainerRun[], initContainers: ContainerRun[] = []): PodRecord {
  return { namespace: 'ns', name: 'p', uid: 'u', startTime: now - 5000, restartPolicy, initContainers, containers };
}

const exited = (code: number, finishedAt = now - 10): Exit => ({ code, reason: code === 0 ? 'Completed' : 'Error', finishedAt });
const running = { pid: 42, startedAt: now - 1000 };

describe('nextSteps', () => {
  // What happens to one app container under each policy: start now, wait for the back-off, or stay as it is.
  it.each<[string, RestartPolicy, Partial<ContainerRun>, { start: boolean; wakeAt?: number; restartCount: number; changed: boolean }]>([
    ['a new container starts under Always', 'Always', {}, { start: true, restartCount: 0, changed: true }],
    ['a new container starts under Never', 'Never', {}, { start: true, restartCount: 0, changed: true }],
    ['a running container is left alone', 'Always', running, { start: false, restartCount: 0, changed: false }],
    ['Always restarts exit 0 after the first back-off', 'Always', { exit: exited(0) }, { start: false, wakeAt: now + backoff, restartCount: 0, changed: true }],
    [
      'Always restarts a failure after the first back-off',
      'Always',
      { exit: exited(1) },
      { start: false, wakeAt: now + backoff, restartCount: 0, changed: true },
    ],
    ['OnFailure restarts a failure', 'OnFailure', { exit: exited(2) }, { start: false, wakeAt: now + backoff, restartCount: 0, changed: true }],
    ['OnFailure keeps exit 0 ended', 'OnFailure', { exit: exited(0) }, { start: false, restartCount: 0, changed: false }],
    ['Never keeps a failure ended', 'Never', { exit: exited(3) }, { start: false, restartCount: 0, changed: false }],
    ['Never keeps exit 0 ended', 'Never', { exit: exited(0) }, { start: false, restartCount: 0, changed: false }],
    [
      'the back-off doubles with each restart',
      'Always',
      { exit: exited(1), restartCount: 3 },
      { start: false, wakeAt: now + 8 * backoff, restartCount: 3, changed: true },
    ],
    ['a back-off not yet over keeps waiting', 'Always', { restartAt: now + 1 }, { start: false, wakeAt: now + 1, restartCount: 0, changed: false }],
    ['a back-off that is over starts the next attempt', 'Always', { restartAt: now, restartCount: 1 }, { start: true, restartCount: 2, changed: true }],
  ])('%s', (_name, policy, state, expected) => {
    const container = run('main', state);
    const steps = nextSteps(pod(policy, [container]), now, backoff);
    expect(steps.start.includes(container)).toBe(expected.start);
    expect(steps.wakeAt).toEqual(expected.wakeAt === undefined ? [] : [{ run: container, at: expected.wakeAt }]);
    expect(container.restartCount).toBe(expected.restartCount);
    expect(steps.changed).toBe(expected.changed);
  });

  it('keeps the ended run as the last termination while it backs off', () => {
    const container = run('main', { exit: exited(1) });
    nextSteps(pod('Always', [container]), now, backoff);
    expect(container).toMatchObject({ exit: undefined, lastTermination: exited(1), restartAt: now + backoff });
  });

  it.each<[string, RestartPolicy, Partial<ContainerRun>[], string[]]>([
    ['the first init container runs alone', 'Never', [{}, {}], ['init-0']],
    ['the next init container runs once the first succeeded', 'Never', [{ exit: exited(0) }, {}], ['init-1']],
    ['a running init container holds the rest back', 'Never', [running, {}], []],
    ['a failed init container under Never stops the pod', 'Never', [{ exit: exited(1) }, {}], []],
    ['the app containers start once every init container succeeded', 'Never', [{ exit: exited(0) }, { exit: exited(0) }], ['a', 'b']],
  ])('%s', (_name, policy, init, started) => {
    const record = pod(
      policy,
      [run('a'), run('b')],
      init.map((state, i) => run(`init-${i}`, state)),
    );
    expect(nextSteps(record, now, backoff).start.map((r) => r.spec.name)).toEqual(started);
  });

  it('a failed init container under OnFailure is restarted after the back-off', () => {
    const init = run('init', { exit: exited(1) });
    const steps = nextSteps(pod('OnFailure', [run('a')], [init]), now, backoff);
    expect(steps.start).toEqual([]);
    expect(steps.wakeAt).toEqual([{ run: init, at: now + backoff }]);
  });

  it('starts nothing in a stopping pod', () => {
    const record = pod('Always', [run('a', { exit: exited(1) })]);
    record.stopping = { deadline: now + 1000 };
    expect(nextSteps(record, now, backoff)).toEqual({ changed: false, start: [], wakeAt: [] });
  });
});

describe('restartBackoffMs', () => {
  it.each([
    [0, 10_000, 10_000],
    [1, 10_000, 20_000],
    [4, 10_000, 160_000],
    [5, 10_000, 300_000],
    [1000, 10_000, 300_000],
  ])('restart %i with a first back-off of %i ms waits %i ms', (restartCount, first, expected) => {
    expect(restartBackoffMs(restartCount, first)).toBe(expected);
  });
});

describe('beginStop', () => {
  it('sets the deadline, cancels pending restarts and names the running processes to SIGTERM', () => {
    const live = run('live', running);
    const waiting = run('waiting', { restartAt: now + 50, lastTermination: exited(1) });
    const record = pod('Always', [live, waiting]);
    expect(beginStop(record, now, 30)).toEqual([live]);
    expect(record.stopping).toEqual({ deadline: now + 30_000 });
    expect(live.signalled).toBe('SIGTERM');
    expect(waiting.restartAt).toBeUndefined();
    expect(containerState(record, waiting, true)).toMatchObject({ kind: 'terminated', exitCode: 1 });
  });

  it('treats a negative grace period as zero', () => {
    const record = pod('Always', [run('a')]);
    beginStop(record, now, -5);
    expect(record.stopping).toEqual({ deadline: now });
  });
});

describe('exitOf', () => {
  it.each<[string, Partial<ContainerRun>, number | undefined, Partial<Exit>]>([
    ['a recorded 0 is Completed', {}, 0, { code: 0, reason: 'Completed' }],
    ['a recorded failure is Error', {}, 3, { code: 3, reason: 'Error' }],
    ['the recorded code wins over the signal sent', { signalled: 'SIGTERM' }, 0, { code: 0, reason: 'Completed' }],
    ['no record after SIGTERM is 143', { signalled: 'SIGTERM' }, undefined, { code: 143, reason: 'Error', message: 'stopped by SIGTERM' }],
    ['no record after SIGKILL is 137', { signalled: 'SIGKILL' }, undefined, { code: 137, reason: 'Error', message: 'stopped by SIGKILL' }],
    [
      'no record and no signal is unknown',
      {},
      undefined,
      { code: 137, reason: 'ContainerStatusUnknown', message: 'the process ended without recording its exit status' },
    ],
  ])('%s', (_name, state, recorded, expected) => {
    expect(exitOf(run('main', { startedAt: now - 100, ...state }), recorded, now)).toEqual({ startedAt: now - 100, finishedAt: now, ...expected });
  });
});

describe('containerState', () => {
  it.each<[string, Partial<ContainerRun>, boolean, boolean, object]>([
    ['running', running, true, false, { kind: 'running', startedAt: new Date(now - 1000) }],
    ['ended', { exit: exited(2) }, true, false, { kind: 'terminated', exitCode: 2, reason: 'Error' }],
    [
      'backing off',
      { restartAt: now + 20_000, lastTermination: exited(1, now) },
      true,
      false,
      { kind: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 20s restarting container main' },
    ],
    ['not started yet', {}, true, false, { kind: 'waiting', reason: 'ContainerCreating' }],
    ['waiting for init containers', {}, false, false, { kind: 'waiting', reason: 'PodInitializing' }],
    ['stopping after an earlier run', { lastTermination: exited(1) }, true, true, { kind: 'terminated', exitCode: 1 }],
  ])('%s', (_name, state, mayStart, stopping, expected) => {
    const record = pod('Always', [run('main', state)]);
    if (stopping) record.stopping = { deadline: now };
    expect(containerState(record, record.containers[0] as ContainerRun, mayStart)).toMatchObject(expected);
  });

  it('reports a command that could not start as the pod failure', () => {
    const record = pod('Always', [run('main', { exit: { code: 127, reason: 'StartError', message: 'executable "x" not found in PATH', finishedAt: now } })]);
    expect(describePod(record).failure).toEqual({ reason: 'CommandNotFound', message: 'container "main": executable "x" not found in PATH' });
  });

  it('holds app containers in PodInitializing until the init containers succeeded', () => {
    const record = pod('Never', [run('app')], [run('init', running)]);
    expect(describePod(record).containers[0]?.state).toEqual({ kind: 'waiting', reason: 'PodInitializing' });
  });
});
