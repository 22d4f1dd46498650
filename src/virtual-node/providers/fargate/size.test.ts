import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { fargateRates, hourlyPrice } from './pricing.js';
import { formatFargateSize, podNeed, roundToFargateSize } from './size.js';

const Mi = 2 ** 20;

describe('roundToFargateSize', () => {
  it.each([
    ['nothing asked', { vcpu: 0, memoryMiB: 0 }, '0.25vCPU 0.5GB'],
    ['a quarter vCPU, 512 MiB exactly', { vcpu: 0.25, memoryMiB: 512 }, '0.25vCPU 0.5GB'],
    ['a quarter vCPU, 600 MiB', { vcpu: 0.25, memoryMiB: 600 }, '0.25vCPU 1GB'],
    ['a quarter vCPU, 3 GiB: 0.25 tops out at 2 GB', { vcpu: 0.25, memoryMiB: 3072 }, '0.5vCPU 3GB'],
    ['0.3 vCPU', { vcpu: 0.3, memoryMiB: 100 }, '0.5vCPU 1GB'],
    ['1 vCPU, 1 GiB: 1 vCPU starts at 2 GB', { vcpu: 1, memoryMiB: 1024 }, '1vCPU 2GB'],
    ['1 vCPU, 2.5 GiB: 1 GB steps', { vcpu: 1, memoryMiB: 2560 }, '1vCPU 3GB'],
    ["1 vCPU, 9 GiB: above 1 vCPU's 8 GB", { vcpu: 1, memoryMiB: 9216 }, '2vCPU 9GB'],
    ['2 vCPU, 8 GiB', { vcpu: 2, memoryMiB: 8192 }, '2vCPU 8GB'],
    ['3 vCPU', { vcpu: 3, memoryMiB: 1024 }, '4vCPU 8GB'],
    ["4 vCPU, 31 GiB: above 4 vCPU's 30 GB", { vcpu: 4, memoryMiB: 31 * 1024 }, '8vCPU 32GB'],
    ['8 vCPU, 17 GiB: 4 GB steps', { vcpu: 8, memoryMiB: 17 * 1024 }, '8vCPU 20GB'],
    ['16 vCPU, 33 GiB: 8 GB steps', { vcpu: 16, memoryMiB: 33 * 1024 }, '16vCPU 40GB'],
    ['16 vCPU, 120 GiB', { vcpu: 16, memoryMiB: 120 * 1024 }, '16vCPU 120GB'],
  ])('%s', (_, need, expected) => {
    const size = roundToFargateSize(need);
    expect(size && formatFargateSize(size)).toBe(expected);
  });

  it.each([
    ['17 vCPU', { vcpu: 17, memoryMiB: 1024 }],
    ['121 GiB', { vcpu: 1, memoryMiB: 121 * 1024 }],
  ])('has no size for %s', (_, need) => {
    expect(roundToFargateSize(need)).toBeUndefined();
  });
});

function pod(containers: NonNullable<V1Pod['spec']>['containers'], initContainers: NonNullable<V1Pod['spec']>['containers'] = []): V1Pod {
  return { metadata: { namespace: 'ns', name: 'p' }, spec: { containers, initContainers } };
}

describe('podNeed', () => {
  it.each([
    ['no resources', pod([{ name: 'a' }]), { vcpu: 0, memoryMiB: 0 }],
    [
      'requests of two containers add up',
      pod([
        { name: 'a', resources: { requests: { cpu: '250m', memory: '256Mi' } } },
        { name: 'b', resources: { requests: { cpu: '500m', memory: '1Gi' } } },
      ]),
      { vcpu: 0.75, memoryMiB: 1280 },
    ],
    [
      'a limit above the request wins',
      pod([{ name: 'a', resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } } }]),
      { vcpu: 1, memoryMiB: 512 },
    ],
    ['a limit alone counts', pod([{ name: 'a', resources: { limits: { memory: '3Gi' } } }]), { vcpu: 0, memoryMiB: 3072 }],
    [
      'the largest init container when it needs more',
      pod([{ name: 'a', resources: { requests: { cpu: '250m', memory: '256Mi' } } }], [{ name: 'i', resources: { requests: { cpu: '2', memory: '128Mi' } } }]),
      { vcpu: 2, memoryMiB: 256 },
    ],
  ])('%s', (_, p, expected) => {
    expect(podNeed(p)).toEqual(expected);
  });

  it('names the field of a bad quantity', () => {
    expect(() => podNeed(pod([{ name: 'a', resources: { requests: { memory: 'lots' } } }]))).toThrow(
      /pod ns\/p: spec.containers\[0\].resources.requests.memory/,
    );
  });

  it('a 2 vCPU / 8.25 GiB pod rounds to 2 vCPU 9 GB and costs that size per hour', () => {
    const size = roundToFargateSize(podNeed(pod([{ name: 'a', resources: { requests: { cpu: '2', memory: `${8.25 * 1024 * Mi}` } } }])));
    expect(size).toEqual({ cpuUnits: 2048, memoryMiB: 9216 });
    expect(hourlyPrice(size ?? { cpuUnits: 0, memoryMiB: 0 }, fargateRates('X86_64', 'FARGATE', { spotShare: 0.3 }))).toBeCloseTo(
      2 * 0.04048 + 9 * 0.004445,
      10,
    );
  });
});

describe('fargateRates', () => {
  it.each([
    ['X86_64', 'FARGATE', 0.04048, 0.004445],
    ['ARM64', 'FARGATE', 0.03238, 0.00356],
    ['X86_64', 'FARGATE_SPOT', 0.04048 * 0.3, 0.004445 * 0.3],
    ['ARM64', 'FARGATE_SPOT', 0.03238 * 0.3, 0.00356 * 0.3],
  ] as const)('%s on %s', (architecture, provider, vcpuHour, gibHour) => {
    const rates = fargateRates(architecture, provider, { spotShare: 0.3 });
    expect(rates.vcpuHour).toBeCloseTo(vcpuHour, 12);
    expect(rates.gibHour).toBeCloseTo(gibHour, 12);
  });
});
