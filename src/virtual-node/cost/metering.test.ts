import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../controller/fake-clock.js';
import { billedSeconds, CostMeter, fargatePricing, podResources, usageFor, type MeteredPod } from './metering.js';

const rates = fargatePricing;

describe('billedSeconds', () => {
  it.each([
    [0, 60],
    [1, 60],
    [59_999, 60],
    [60_000, 60],
    [60_001, 61],
    [90_000, 90],
    [3_600_000, 3600],
    [-5, 60],
  ])('%d ms is billed as %d s', (ms, seconds) => {
    expect(billedSeconds(ms, rates)).toBe(seconds);
  });
});

describe('usageFor (Fargate Linux/x86 us-east-1)', () => {
  it.each([
    // 1 vCPU, 2 GiB, 90 s: 90 * 0.04048/3600 + 180 * 0.004445/3600
    [{ vcpu: 1, memoryGiB: 2 }, 90, 0.00123425],
    // 2 vCPU, 8 GiB for an hour: the published hourly figure
    [{ vcpu: 2, memoryGiB: 8 }, 3600, 0.11652],
    // 0.25 vCPU, 0.5 GiB for the one-minute minimum
    [{ vcpu: 0.25, memoryGiB: 0.5 }, 60, 0.74055 / 3600],
  ])('%j for %d s costs $%d', (resources, seconds, dollars) => {
    const usage = usageFor(resources, seconds, rates);
    expect(usage.dollars).toBeCloseTo(dollars, 14);
    expect(usage.vcpuSeconds).toBe(resources.vcpu * seconds);
    expect(usage.gibSeconds).toBe(resources.memoryGiB * seconds);
  });
});

function pod(containers: { cpu?: string; memory?: string; limitCpu?: string }[], init: { cpu?: string; memory?: string }[] = []): V1Pod {
  const toContainer = (c: { cpu?: string; memory?: string; limitCpu?: string }, i: number) => ({
    name: `c${i}`,
    resources: {
      requests: { ...(c.cpu ? { cpu: c.cpu } : {}), ...(c.memory ? { memory: c.memory } : {}) },
      ...(c.limitCpu ? { limits: { cpu: c.limitCpu } } : {}),
    },
  });
  return { metadata: { namespace: 'ns', name: 'p' }, spec: { containers: containers.map(toContainer), initContainers: init.map(toContainer) } };
}

describe('podResources', () => {
  it.each([
    [
      'sums containers',
      pod([
        { cpu: '500m', memory: '1Gi' },
        { cpu: '250m', memory: '512Mi' },
      ]),
      { vcpu: 0.75, memoryGiB: 1.5 },
    ],
    ['takes the larger init container', pod([{ cpu: '500m', memory: '1Gi' }], [{ cpu: '2', memory: '256Mi' }]), { vcpu: 2, memoryGiB: 1 }],
    ['falls back to limits', pod([{ limitCpu: '1', memory: '2Gi' }]), { vcpu: 1, memoryGiB: 2 }],
    ['bills a pod without requests at the smallest size', pod([{}]), { vcpu: 0.25, memoryGiB: 0.5 }],
  ])('%s', (_name, p, expected) => {
    expect(podResources(p, rates)).toEqual(expected);
  });

  it('names the field of a bad request', () => {
    expect(() => podResources(pod([{ cpu: 'lots' }]), rates)).toThrow('pod ns/p: spec.containers[0].resources.requests.cpu');
  });
});

describe('CostMeter', () => {
  const t0 = 1_000_000;
  const web = { kind: 'Deployment', name: 'web' };
  const metered = (uid: string, startS: number, endS?: number): MeteredPod => ({
    uid,
    namespace: 'shop',
    workload: web,
    resources: { vcpu: 1, memoryGiB: 2 },
    start: new Date(t0 + startS * 1000),
    ...(endS === undefined ? {} : { end: new Date(t0 + endS * 1000) }),
  });

  it('bills running pods up to now and ended pods up to their end, per workload', async () => {
    const clock = new FakeClock(t0);
    const meter = new CostMeter(rates, clock);
    meter.observe(metered('a', 0));
    meter.observe(metered('b', 0, 90));
    meter.observe({ ...metered('c', 0), workload: { kind: 'Job', name: 'report' } });
    await clock.advance(120_000);
    const [deployment, job] = [meter.rows().find((r) => r.workload.kind === 'Deployment'), meter.rows().find((r) => r.workload.kind === 'Job')];
    expect(deployment).toMatchObject({ namespace: 'shop', running: 1, pods: 2, vcpuSeconds: 120 + 90, gibSeconds: 2 * (120 + 90) });
    expect(deployment?.dollars).toBeCloseTo((210 * 0.04048 + 420 * 0.004445) / 3600, 14);
    expect(job).toMatchObject({ running: 1, pods: 1, vcpuSeconds: 120 });
  });

  it('charges the minimum to a pod that ran for seconds', () => {
    const clock = new FakeClock(t0);
    const meter = new CostMeter(rates, clock);
    meter.observe(metered('a', 0, 5));
    expect(meter.rows()[0]?.vcpuSeconds).toBe(60);
  });

  it('keeps the usage of forgotten pods, so totals never go down', async () => {
    const clock = new FakeClock(t0);
    const meter = new CostMeter(rates, clock);
    meter.observe(metered('a', 0));
    await clock.advance(100_000);
    const before = meter.rows()[0]?.dollars ?? 0;
    meter.forget('a');
    await clock.advance(100_000);
    const after = meter.rows()[0];
    expect(after).toMatchObject({ running: 0, pods: 1, vcpuSeconds: 100 });
    expect(after?.dollars).toBe(before);
    meter.forget('a');
    expect(meter.rows()[0]?.pods).toBe(1);
  });
});
