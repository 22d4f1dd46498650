import { text } from 'node:stream/consumers';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../controller/fake-clock.js';
import { derivePhase } from '../pod-status.js';
import { PodSpecError, type ProviderPod } from '../provider.js';
import { SimulatedProvider, type SimulatedProviderOptions } from './simulated.js';

const capacity = { cpu: '1k', memory: '4Ti', pods: '5k' };

function setup(options: Partial<SimulatedProviderOptions> = {}) {
  const clock = new FakeClock(1_000_000);
  const provider = new SimulatedProvider({ clock, startLatencyMs: 5000, failureRate: 0, random: () => 0.5, capacity, ...options });
  const changes: string[] = [];
  provider.watch((ns, name) => changes.push(`${ns}/${name}`));
  return { clock, provider, changes };
}

function pod(name: string, restartPolicy: 'Always' | 'Never' = 'Always', annotations: Record<string, string> = {}, status?: V1Pod['status']): V1Pod {
  return {
    metadata: { namespace: 'ns', name, uid: `uid-${name}`, annotations },
    spec: { restartPolicy, containers: [{ name: 'main', image: 'busybox' }] },
    ...(status ? { status } : {}),
  };
}

async function phaseOf(provider: SimulatedProvider, name: string, policy: 'Always' | 'Never' = 'Always'): Promise<string> {
  const p = (await provider.getPod('ns', name)) as ProviderPod;
  return derivePhase(policy, p);
}

describe('SimulatedProvider', () => {
  it.each([
    [0, 30_000],
    [0.5, 45_000],
    [1, 60_000],
  ])('spreads the start latency over a range: random %s starts after %i ms', async (random, latencyMs) => {
    const { clock, provider } = setup({ startLatencyMs: 30_000, startLatencySpreadMs: 30_000, random: () => random });
    await provider.createPod(pod('web'));
    await clock.advance(latencyMs - 1);
    expect(await phaseOf(provider, 'web')).toBe('Pending');
    await clock.advance(1);
    expect(await phaseOf(provider, 'web')).toBe('Running');
  });

  it('keeps containers creating for the start latency, then runs them and says so', async () => {
    const { clock, provider, changes } = setup();
    await provider.createPod(pod('web'));
    expect(await phaseOf(provider, 'web')).toBe('Pending');
    changes.length = 0;
    await clock.advance(4999);
    expect(await phaseOf(provider, 'web')).toBe('Pending');
    await clock.advance(1);
    expect(changes).toEqual(['ns/web']);
    const running = await provider.getPod('ns', 'web');
    expect(running?.containers[0]?.state).toEqual({ kind: 'running', startedAt: new Date(1_005_000) });
    expect(running?.startTime).toEqual(new Date(1_000_000));
    expect(running?.podIP).toMatch(/^10\.250\.\d+\.\d+$/);
    await clock.advance(3_600_000);
    expect(await phaseOf(provider, 'web')).toBe('Running');
  });

  it('ends Job pods with exit code 0 after the run duration', async () => {
    const { clock, provider } = setup({ runDurationMs: 30_000 });
    await provider.createPod(pod('job', 'Never'));
    await clock.advance(34_999);
    expect(await phaseOf(provider, 'job', 'Never')).toBe('Running');
    await clock.advance(1);
    const done = await provider.getPod('ns', 'job');
    expect(done?.containers[0]?.state).toMatchObject({ kind: 'terminated', exitCode: 0, reason: 'Completed', finishedAt: new Date(1_035_000) });
    expect(await phaseOf(provider, 'job', 'Never')).toBe('Succeeded');
  });

  it('takes latency and run time from annotations', async () => {
    const { clock, provider } = setup();
    await provider.createPod(pod('quick', 'Never', { 'swell.dev/simulate-start-latency': '100ms', 'swell.dev/simulate-run-duration': '1s' }));
    await clock.advance(100);
    expect(await phaseOf(provider, 'quick', 'Never')).toBe('Running');
    await clock.advance(1000);
    expect(await phaseOf(provider, 'quick', 'Never')).toBe('Succeeded');
  });

  it('rejects a bad annotation as a pod spec error naming it', async () => {
    const { provider } = setup();
    await expect(provider.createPod(pod('bad', 'Never', { 'swell.dev/simulate-run-duration': 'soon' }))).rejects.toThrow(PodSpecError);
    await expect(provider.createPod(pod('bad', 'Never', { 'swell.dev/simulate-run-duration': 'soon' }))).rejects.toThrow(/ns\/bad.*simulate-run-duration/);
  });

  it.each([
    ['annotation', { 'swell.dev/simulate-failure': 'disk on fire' }, 0, 0.9, 'disk on fire'],
    ['rate', {}, 0.3, 0.29, 'failure injected at rate 0.3'],
  ])('fails pods by %s once they start', async (_how, annotations, failureRate, draw, message) => {
    const { clock, provider } = setup({ failureRate, random: () => draw });
    await provider.createPod(pod('f', 'Always', annotations));
    expect(await phaseOf(provider, 'f')).toBe('Pending');
    await clock.advance(5000);
    const failed = await provider.getPod('ns', 'f');
    expect(failed?.failure).toEqual({ reason: 'SimulatedFailure', message });
    expect(failed?.containers[0]?.state).toMatchObject({ kind: 'terminated', exitCode: 1 });
    expect(await phaseOf(provider, 'f')).toBe('Failed');
  });

  it('does not fail pods when the draw is above the rate', async () => {
    const { clock, provider } = setup({ failureRate: 0.3, random: () => 0.31 });
    await provider.createPod(pod('ok'));
    await clock.advance(5000);
    expect(await phaseOf(provider, 'ok')).toBe('Running');
  });

  it('stops pods on delete and forgets them on release', async () => {
    const { clock, provider } = setup();
    await provider.createPod(pod('web'));
    await clock.advance(6000);
    await provider.deletePod(pod('web'));
    await clock.advance(1000);
    const stopped = await provider.getPod('ns', 'web');
    expect(stopped?.stopping).toBe(true);
    expect(stopped?.containers[0]?.state).toMatchObject({ kind: 'terminated', exitCode: 0, finishedAt: new Date(1_006_000) });
    expect(await phaseOf(provider, 'web')).toBe('Succeeded');
    await provider.releasePod('ns', 'web');
    expect(await provider.listPods()).toEqual([]);
  });

  it('is idempotent for the same UID and replaces a pod re-created under the same name', async () => {
    const { clock, provider } = setup();
    await provider.createPod(pod('web'));
    await clock.advance(6000);
    await provider.createPod(pod('web'));
    expect(await phaseOf(provider, 'web')).toBe('Running');
    await provider.createPod({ ...pod('web'), metadata: { namespace: 'ns', name: 'web', uid: 'other' } });
    expect((await provider.getPod('ns', 'web'))?.uid).toBe('other');
    expect(await phaseOf(provider, 'web')).toBe('Pending');
  });

  it('re-adopts a pod that was already running before a restart, keeping its start time and IP', async () => {
    const { provider } = setup();
    const startTime = new Date(900_000);
    await provider.createPod(pod('web', 'Always', {}, { phase: 'Running', startTime, podIP: '10.250.9.9' }));
    const adopted = await provider.getPod('ns', 'web');
    expect(adopted?.containers[0]?.state).toEqual({ kind: 'running', startedAt: startTime });
    expect(adopted?.podIP).toBe('10.250.9.9');
  });

  it('serves synthetic logs with timestamps and tail', async () => {
    const { clock, provider } = setup({ runDurationMs: 1000 });
    await provider.createPod(pod('job', 'Never'));
    await clock.advance(6000);
    const options = { follow: false, timestamps: true, previous: false, signal: new AbortController().signal };
    const all = await text(await provider.getContainerLogs('ns', 'job', 'main', options));
    expect(all).toBe('1970-01-01T00:16:45Z simulated container main of pod ns/job started\n1970-01-01T00:16:46Z simulated container main exited with code 0\n');
    const last = await text(await provider.getContainerLogs('ns', 'job', 'main', { ...options, tailLines: 1, timestamps: false }));
    expect(last).toBe('simulated container main exited with code 0\n');
    await expect(provider.getContainerLogs('ns', 'job', 'nope', options)).rejects.toThrow(/not found/);
  });

  it('reports an unhealthy backend through the health check', async () => {
    const { provider } = setup();
    await expect(provider.healthCheck()).resolves.toBeUndefined();
    provider.setHealthProblem('quota exhausted');
    await expect(provider.healthCheck()).rejects.toThrow('quota exhausted');
  });
});
