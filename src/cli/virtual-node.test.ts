import { describe, expect, it } from 'vitest';
import { parseVirtualNodeFlags } from './virtual-node.js';

describe('parseVirtualNodeFlags', () => {
  it('defaults to one large, tainted, simulated virtual node at Fargate prices', () => {
    expect(parseVirtualNodeFlags([])).toMatchObject({
      name: 'swell-virtual-node',
      provider: 'simulated',
      regular: false,
      count: 1,
      capacity: { cpu: '1k', memory: '4Ti', pods: '5k' },
      port: 10250,
      metricsPort: 10255,
      startLatencyMs: 30_000,
      startLatencySpreadMs: 30_000,
      rates: { vcpuHour: 0.04048, gibHour: 0.004445, minimumSeconds: 60 },
    });
  });

  it('sizes regular nodes like ordinary workers and numbers them', () => {
    expect(parseVirtualNodeFlags(['--regular', '--count', '2', '--cpu', '8'])).toMatchObject({
      name: 'swell-node',
      regular: true,
      count: 2,
      capacity: { cpu: '8', memory: '16Gi', pods: '110' },
    });
  });

  it('reads provider, prices and simulation settings', () => {
    expect(
      parseVirtualNodeFlags([
        '--provider',
        'process',
        '--price-vcpu-hour',
        '0.05',
        '--minimum-billed',
        '0s',
        '--start-latency',
        '30s',
        '--run-duration',
        '1m',
        '--failure-rate',
        '0.1',
      ]),
    ).toMatchObject({ provider: 'process', rates: { vcpuHour: 0.05, minimumSeconds: 0 }, startLatencyMs: 30_000, runDurationMs: 60_000, failureRate: 0.1 });
  });

  it('reads the fargate settings, and sizes the node from the vCPU quota unless told otherwise', () => {
    const flags = parseVirtualNodeFlags(
      [
        '--provider',
        'fargate',
        '--subnets',
        'subnet-a, subnet-b',
        '--security-groups',
        'sg-1',
        '--capacity-provider',
        'FARGATE_SPOT',
        '--architecture',
        'ARM64',
        '--vcpu-quota',
        '6',
        '--status-interval',
        '5s',
        '--aws-endpoint',
        'http://127.0.0.1:5000',
      ],
      { AWS_REGION: 'eu-central-1' },
    );
    expect(flags).toMatchObject({
      provider: 'fargate',
      capacity: { cpu: '6', memory: '48Gi', pods: '24' },
      fargate: {
        region: 'eu-central-1',
        cluster: 'default',
        subnets: ['subnet-a', 'subnet-b'],
        securityGroups: ['sg-1'],
        assignPublicIp: false,
        capacityProvider: 'FARGATE_SPOT',
        architecture: 'ARM64',
        logGroup: '/swell/virtual-node',
        vcpuQuota: 6,
        statusIntervalMs: 5000,
        apiRate: 20,
        spotPriceShare: 0.3,
        endpoint: 'http://127.0.0.1:5000',
      },
    });
    expect(parseVirtualNodeFlags(['--provider', 'fargate', '--cpu', '10'], {})).toMatchObject({ capacity: { cpu: '10', memory: '8000Gi', pods: '4000' } });
    expect(parseVirtualNodeFlags(['--start-latency', '0s'])).toMatchObject({ startLatencyMs: 0, startLatencySpreadMs: 0 });
  });

  it.each([
    [['--provider', 'azure'], /--provider: "azure" is not one of simulated, process, fargate/],
    [['--cpu', 'lots'], /--cpu: "lots" is not a Kubernetes quantity/],
    [['--count', '3'], /--count: only --regular nodes/],
    [['--regular', '--count', '0'], /--count: "0" is not a positive integer/],
    [['--port', '70000'], /--port: "70000" is not a port number/],
    [['--failure-rate', '2'], /--failure-rate: 2 is not between 0 and 1/],
    [['--start-latency', 'soon'], /--start-latency: "soon" is not a duration/],
    [['--start-latency', '60s-30s'], /--start-latency: "60s-30s" is not a duration or a range MIN-MAX with MIN <= MAX/],
    [['--capacity-provider', 'EC2'], /--capacity-provider: "EC2" is not one of FARGATE, FARGATE_SPOT/],
    [['--architecture', 'arm'], /--architecture: "arm" is not one of X86_64, ARM64/],
    [['--vcpu-quota', '0.1'], /--vcpu-quota: 0.1 is below the smallest task/],
    [['--status-interval', '500ms'], /--status-interval: must be at least 1s/],
    [['--spot-price-share', '2'], /--spot-price-share: 2 is not between 0 and 1/],
    [['--aws-endpoint', 'moto'], /--aws-endpoint: "moto" is not a URL/],
    [['--price-gib-hour=-1'], /--price-gib-hour: "-1" is not a non-negative number/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseVirtualNodeFlags(argv)).toThrow(message);
  });
});

describe('the virtual node address', () => {
  it.each([
    ['a local run', [], {}, { nodeIP: '127.0.0.1', listenAddress: '127.0.0.1' }],
    ['a pod, from POD_IP', [], { POD_IP: '10.244.1.7' }, { nodeIP: '10.244.1.7', listenAddress: '0.0.0.0' }],
    ['an IPv6 pod', [], { POD_IP: 'fd00::7' }, { nodeIP: 'fd00::7', listenAddress: '::' }],
    ['the flag winning over POD_IP', ['--node-ip', '192.168.0.9'], { POD_IP: '10.244.1.7' }, { nodeIP: '192.168.0.9', listenAddress: '0.0.0.0' }],
    ['an empty POD_IP', [], { POD_IP: '' }, { nodeIP: '127.0.0.1', listenAddress: '127.0.0.1' }],
    ['an explicit listen address', ['--listen-address', '10.244.1.7'], { POD_IP: '10.244.1.7' }, { nodeIP: '10.244.1.7', listenAddress: '10.244.1.7' }],
  ])('%s', (_, argv, env, expected) => {
    expect(parseVirtualNodeFlags(argv, env)).toMatchObject(expected);
  });

  it.each([
    [['--node-ip', 'node-1'], {}, /--node-ip: "node-1" is not an IP address/],
    [[], { POD_IP: '10.0.0.300' }, /--node-ip: "10.0.0.300" is not an IP address/],
    [['--listen-address', 'everywhere'], {}, /--listen-address: "everywhere" is not an IP address/],
  ])('rejects %j %j naming the flag', (argv, env, message) => {
    expect(() => parseVirtualNodeFlags(argv, env)).toThrow(message);
  });
});
