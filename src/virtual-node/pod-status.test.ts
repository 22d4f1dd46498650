import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildPodStatus, derivePhase, podStatusChanged, rfc3339, type PodPhase } from './pod-status.js';
import type { ContainerState, ProviderContainerStatus, ProviderPod } from './provider.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);

const waiting: ContainerState = { kind: 'waiting', reason: 'ContainerCreating' };
const running: ContainerState = { kind: 'running', startedAt: at(1) };
const exited = (exitCode: number): ContainerState => ({
  kind: 'terminated',
  exitCode,
  reason: exitCode === 0 ? 'Completed' : 'Error',
  startedAt: at(1),
  finishedAt: at(5),
});

function container(name: string, state: ContainerState, restarted?: number): ProviderContainerStatus {
  return {
    name,
    image: 'busybox',
    containerId: `id-${name}`,
    state,
    restartCount: restarted === undefined ? 0 : 1,
    ...(restarted === undefined ? {} : { lastTermination: { kind: 'terminated', exitCode: restarted, reason: 'Error', finishedAt: at(3) } }),
  };
}

function providerPod(containers: ProviderContainerStatus[], extra: Partial<ProviderPod> = {}): ProviderPod {
  return { namespace: 'ns', name: 'p', uid: 'u1', startTime: t0, podIP: '10.250.0.7', initContainers: [], containers, stopping: false, ...extra };
}

describe('derivePhase', () => {
  const cases: [string, 'Always' | 'OnFailure' | 'Never', ProviderPod, PodPhase][] = [
    ['waiting container', 'Always', providerPod([container('a', waiting)]), 'Pending'],
    ['one running one waiting', 'Always', providerPod([container('a', running), container('b', waiting)]), 'Pending'],
    ['all running', 'Always', providerPod([container('a', running), container('b', running)]), 'Running'],
    ['one running one exited', 'Never', providerPod([container('a', running), container('b', exited(0))]), 'Running'],
    ['exited 0, Never', 'Never', providerPod([container('a', exited(0))]), 'Succeeded'],
    ['exited 1, Never', 'Never', providerPod([container('a', exited(1))]), 'Failed'],
    ['exited 0, OnFailure', 'OnFailure', providerPod([container('a', exited(0))]), 'Succeeded'],
    ['exited 1, OnFailure (will restart)', 'OnFailure', providerPod([container('a', exited(1))]), 'Running'],
    ['exited 0, Always (will restart)', 'Always', providerPod([container('a', exited(0))]), 'Running'],
    ['back-off after a crash counts as stopped', 'Always', providerPod([container('a', { kind: 'waiting', reason: 'CrashLoopBackOff' }, 2)]), 'Running'],
    ['stopped for deletion, all 0', 'Always', providerPod([container('a', exited(0))], { stopping: true }), 'Succeeded'],
    ['stopped for deletion, one 143', 'Always', providerPod([container('a', exited(143))], { stopping: true }), 'Failed'],
    ['provider failure', 'Always', providerPod([container('a', running)], { failure: { reason: 'SimulatedFailure', message: 'x' } }), 'Failed'],
    ['init container running', 'Always', providerPod([container('a', waiting)], { initContainers: [container('i', running)] }), 'Pending'],
    ['init container failed, Never', 'Never', providerPod([container('a', waiting)], { initContainers: [container('i', exited(2))] }), 'Failed'],
    [
      'init container failed, OnFailure retries',
      'OnFailure',
      providerPod([container('a', waiting)], { initContainers: [container('i', exited(2))] }),
      'Pending',
    ],
    ['init done, main running', 'Never', providerPod([container('a', running)], { initContainers: [container('i', exited(0))] }), 'Running'],
  ];
  it.each(cases)('%s (%s) is %s', (_name, policy, pod, phase) => {
    expect(derivePhase(policy, pod)).toBe(phase);
  });
});

function apiPod(status: V1Pod['status'] = {}, spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { namespace: 'ns', name: 'p', uid: 'u1' },
    spec: { nodeName: 'vk', restartPolicy: 'Never', containers: [{ name: 'a', image: 'busybox' }], ...spec },
    status,
  };
}

const base = { providerName: 'process', nodeIP: '127.0.0.1', now: at(10) };

describe('buildPodStatus', () => {
  it('reports a running pod the way a kubelet does', () => {
    const status = buildPodStatus({ ...base, pod: apiPod(), providerPod: providerPod([container('a', running)]) });
    expect(status.phase).toBe('Running');
    expect(status.podIP).toBe('10.250.0.7');
    expect(status.hostIP).toBe('127.0.0.1');
    expect(status.startTime).toBe('2026-01-01T00:00:00Z');
    expect(Object.fromEntries(status.conditions.map((c) => [c.type, c.status]))).toEqual({
      PodReadyToStartContainers: 'True',
      Initialized: 'True',
      Ready: 'True',
      ContainersReady: 'True',
      PodScheduled: 'True',
    });
    expect(status.containerStatuses).toEqual([
      {
        name: 'a',
        image: 'busybox',
        imageID: 'busybox',
        containerID: 'process://id-a',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: '2026-01-01T00:00:01Z' } },
        lastState: {},
      },
    ]);
  });

  it('reports exit codes and marks a completed pod not ready with PodCompleted', () => {
    const status = buildPodStatus({ ...base, pod: apiPod(), providerPod: providerPod([container('a', exited(3))]) });
    expect(status.phase).toBe('Failed');
    expect(status.containerStatuses[0]?.state.terminated).toMatchObject({ exitCode: 3, reason: 'Error', finishedAt: '2026-01-01T00:00:05Z' });
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  it('names the unready containers', () => {
    const pod = apiPod(
      {},
      {
        containers: [
          { name: 'a', image: 'x' },
          { name: 'b', image: 'y' },
        ],
      },
    );
    const status = buildPodStatus({ ...base, pod, providerPod: providerPod([container('a', running), container('b', waiting)]) });
    expect(status.conditions.find((c) => c.type === 'ContainersReady')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [b]',
    });
  });

  it('fails a pod the provider rejected, with its reason and message', () => {
    const rejection = { reason: 'CommandNotFound', message: 'container "a": executable "nope" not found' };
    const status = buildPodStatus({ ...base, pod: apiPod(), rejection });
    expect(status).toMatchObject({ phase: 'Failed', reason: 'CommandNotFound', message: rejection.message });
    expect(status.containerStatuses[0]?.state.terminated?.reason).toBe('CommandNotFound');
  });

  it('keeps a pod Pending with the provider error while creation is retried', () => {
    const status = buildPodStatus({ ...base, pod: apiPod(), providerError: 'backend unavailable' });
    expect(status.phase).toBe('Pending');
    expect(status.containerStatuses[0]?.state.waiting).toEqual({ reason: 'ProviderFailed', message: 'backend unavailable' });
  });

  it('keeps condition transition times while the condition holds, and moves them when it flips', () => {
    const first = buildPodStatus({ ...base, pod: apiPod(), providerPod: providerPod([container('a', running)]) });
    const later = buildPodStatus({
      ...base,
      now: at(60),
      pod: apiPod(first as unknown as V1Pod['status']),
      providerPod: providerPod([container('a', running)]),
    });
    expect(later.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(rfc3339(at(10)));
    const done = buildPodStatus({
      ...base,
      now: at(90),
      pod: apiPod(later as unknown as V1Pod['status']),
      providerPod: providerPod([container('a', exited(0))]),
    });
    expect(done.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(rfc3339(at(90)));
  });

  it('holds Ready back until readiness gates are True', () => {
    const pod = apiPod({ conditions: [{ type: 'example.com/gate', status: 'False' }] }, { readinessGates: [{ conditionType: 'example.com/gate' }] });
    const status = buildPodStatus({ ...base, pod, providerPod: providerPod([container('a', running)]) });
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
  });
});

describe('podStatusChanged', () => {
  const pp = providerPod([container('a', running)]);

  it('is false when the status read back equals the one written, with Date or string times', () => {
    const written = buildPodStatus({ ...base, pod: apiPod(), providerPod: pp });
    expect(podStatusChanged(apiPod(written as unknown as V1Pod['status']), written)).toBe(false);
    // A list response carries Date objects and extra fields the node does not own.
    const readBack = {
      ...written,
      qosClass: 'BestEffort',
      startTime: new Date(written.startTime ?? ''),
      conditions: [...written.conditions, { type: 'DisruptionTarget', status: 'True' }],
    } as unknown as V1Pod['status'];
    expect(podStatusChanged(apiPod(readBack), written)).toBe(false);
  });

  it('is true when a container state, the phase or the pod IP differs', () => {
    const written = buildPodStatus({ ...base, pod: apiPod(), providerPod: pp });
    const next = buildPodStatus({ ...base, pod: apiPod(written as unknown as V1Pod['status']), providerPod: providerPod([container('a', exited(0))]) });
    expect(podStatusChanged(apiPod(written as unknown as V1Pod['status']), next)).toBe(true);
    expect(podStatusChanged(apiPod({ ...(written as unknown as V1Pod['status']), podIP: '10.0.0.1' }), written)).toBe(true);
    expect(podStatusChanged(apiPod({}), written)).toBe(true);
  });
});
