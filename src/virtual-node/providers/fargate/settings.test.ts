import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podPlacement, type TaskPlacement } from './settings.js';

const defaults: TaskPlacement = {
  subnets: ['subnet-a', 'subnet-b'],
  securityGroups: ['sg-1'],
  assignPublicIp: false,
  architecture: 'X86_64',
  executionRoleArn: 'arn:exec',
};

function pod(annotations: Record<string, string> = {}, nodeSelector?: Record<string, string>): V1Pod {
  return { metadata: { namespace: 'ns', name: 'p', annotations }, spec: { containers: [], ...(nodeSelector ? { nodeSelector } : {}) } };
}

describe('podPlacement', () => {
  it.each<[string, V1Pod, Partial<TaskPlacement>]>([
    ['the node defaults', pod(), defaults],
    [
      'subnets and security groups from annotations',
      pod({ 'swell.dev/fargate-subnets': 'subnet-x, subnet-y', 'swell.dev/fargate-security-groups': 'sg-9' }),
      { subnets: ['subnet-x', 'subnet-y'], securityGroups: ['sg-9'] },
    ],
    ['a public IP', pod({ 'swell.dev/fargate-assign-public-ip': 'true' }), { assignPublicIp: true }],
    ['spot capacity', pod({ 'swell.dev/fargate-capacity-provider': 'FARGATE_SPOT' }), { capacityProvider: 'FARGATE_SPOT' }],
    ['ARM from the arch node selector', pod({}, { 'kubernetes.io/arch': 'arm64' }), { architecture: 'ARM64' }],
    ['ARM from the annotation', pod({ 'swell.dev/fargate-architecture': 'ARM64' }), { architecture: 'ARM64' }],
    [
      'roles from annotations',
      pod({ 'swell.dev/fargate-execution-role-arn': 'arn:e2', 'swell.dev/fargate-task-role-arn': 'arn:t2' }),
      { executionRoleArn: 'arn:e2', taskRoleArn: 'arn:t2' },
    ],
  ])('%s', (_, p, expected) => {
    expect(podPlacement(p, defaults)).toMatchObject(expected);
  });

  it.each([
    ['a bad public IP value', pod({ 'swell.dev/fargate-assign-public-ip': 'yes' }), /fargate-assign-public-ip is "yes"/],
    ['an unknown capacity provider', pod({ 'swell.dev/fargate-capacity-provider': 'EC2' }), /fargate-capacity-provider is "EC2"/],
    ['an architecture Fargate lacks', pod({}, { 'kubernetes.io/arch': 's390x' }), /architecture "s390x"/],
  ])('refuses %s, naming the pod', (_, p, message) => {
    expect(() => podPlacement(p, defaults)).toThrow(message);
  });

  it('refuses to run without any subnet', () => {
    expect(() => podPlacement(pod(), { ...defaults, subnets: [] })).toThrow(/pod ns\/p: no subnets .* --subnets .* swell.dev\/fargate-subnets/);
  });
});
