import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PodSpecError } from '../../provider.js';
import { containerOverrides, familyName, logStreamName, renderTaskDefinition, type TaskDefinitionSettings } from './task-definition.js';

const settings: TaskDefinitionSettings = {
  size: { cpuUnits: 512, memoryMiB: 1024 },
  architecture: 'X86_64',
  logGroup: '/swell/vn',
  region: 'eu-west-1',
  executionRoleArn: 'arn:aws:iam::1:role/exec',
};

function pod(name: string, spec: Partial<NonNullable<V1Pod['spec']>> = {}, owner = 'web-5d9c'): V1Pod {
  return {
    metadata: {
      namespace: 'shop',
      name,
      uid: `uid-${name}`,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: 'rs', controller: true }],
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'ghcr.io/shop/web:1',
          command: ['node'],
          args: ['server.js'],
          ports: [{ containerPort: 8080 }],
          env: [{ name: 'POD', value: name }],
          resources: { requests: { cpu: '300m', memory: '600Mi' } },
        },
      ],
      terminationGracePeriodSeconds: 45,
      ...spec,
    },
  };
}

describe('renderTaskDefinition', () => {
  it('maps containers, command and args, ports, size, roles, grace period and the awslogs driver', () => {
    const { family, input } = renderTaskDefinition(pod('web-5d9c-a'), settings);
    expect(family).toMatch(/^swell-shop-web-5d9c-[0-9a-f]{12}$/);
    expect(input).toMatchObject({
      family,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '512',
      memory: '1024',
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      executionRoleArn: 'arn:aws:iam::1:role/exec',
    });
    expect(input.containerDefinitions).toEqual([
      {
        name: 'app',
        image: 'ghcr.io/shop/web:1',
        entryPoint: ['node'],
        command: ['server.js'],
        cpu: 512,
        memoryReservation: 1024,
        essential: true,
        portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
        mountPoints: [],
        stopTimeout: 45,
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/swell/vn', 'awslogs-region': 'eu-west-1', 'awslogs-stream-prefix': 'swell' } },
      },
    ]);
    expect(input).not.toHaveProperty('taskRoleArn');
  });

  it('gives replicas of one spec the same family, and a different spec another', () => {
    const a = renderTaskDefinition(pod('web-5d9c-a'), settings);
    const b = renderTaskDefinition(pod('web-5d9c-b'), settings);
    const bigger = renderTaskDefinition(pod('web-5d9c-c'), { ...settings, size: { cpuUnits: 1024, memoryMiB: 2048 } });
    const arm = renderTaskDefinition(pod('web-5d9c-d'), { ...settings, architecture: 'ARM64' });
    expect(b.family).toBe(a.family);
    expect(new Set([a.specHash, bigger.specHash, arm.specHash]).size).toBe(3);
  });

  it('keeps env out of the task definition (it differs per pod) and passes it as overrides', () => {
    const { input } = renderTaskDefinition(pod('web-5d9c-a'), settings);
    expect(JSON.stringify(input)).not.toContain('web-5d9c-a');
    expect(containerOverrides(pod('web-5d9c-a'))).toEqual([{ name: 'app', environment: [{ name: 'POD', value: 'web-5d9c-a' }] }]);
  });

  it('runs init containers first, one after another, and the app containers once all succeeded', () => {
    const { input } = renderTaskDefinition(
      pod('p', {
        initContainers: [
          { name: 'migrate', image: 'm' },
          { name: 'warm', image: 'w' },
        ],
      }),
      settings,
    );
    expect(input.containerDefinitions?.map((c) => [c.name, c.essential, c.dependsOn])).toEqual([
      ['migrate', false, undefined],
      ['warm', false, [{ containerName: 'migrate', condition: 'SUCCESS' }]],
      [
        'app',
        true,
        [
          { containerName: 'migrate', condition: 'SUCCESS' },
          { containerName: 'warm', condition: 'SUCCESS' },
        ],
      ],
    ]);
  });

  it('splits the task among containers by what each asks for, and caps the stop timeout at 120 s', () => {
    const twoContainers = pod('p', {
      terminationGracePeriodSeconds: 600,
      containers: [
        { name: 'a', image: 'a', resources: { requests: { cpu: '1', memory: '1Gi' } } },
        { name: 'b', image: 'b' },
      ],
    });
    const { input } = renderTaskDefinition(twoContainers, { ...settings, size: { cpuUnits: 1024, memoryMiB: 2048 } });
    expect(input.containerDefinitions?.map((c) => [c.name, c.cpu, c.memoryReservation, c.stopTimeout])).toEqual([
      ['a', 1024, 2048, 120],
      ['b', 0, 6, 120],
    ]);
  });

  it('turns emptyDir volumes into task volumes and drops the service account token volume', () => {
    const withVolumes = pod('p', {
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'kube-root-ca.crt' } }] } },
      ],
      containers: [
        {
          name: 'app',
          image: 'a',
          volumeMounts: [
            { name: 'scratch', mountPath: '/tmp/s' },
            { name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
          ],
        },
      ],
    });
    const { input } = renderTaskDefinition(withVolumes, settings);
    expect(input.volumes).toEqual([{ name: 'scratch' }]);
    expect(input.containerDefinitions?.[0]?.mountPoints).toEqual([{ sourceVolume: 'scratch', containerPath: '/tmp/s', readOnly: false }]);
  });

  it.each([
    ['hostNetwork', { hostNetwork: true }, 'UnsupportedPodSpec', /hostNetwork/],
    ['a Secret volume', { volumes: [{ name: 'creds', secret: { secretName: 's' } }] }, 'UnsupportedVolume', /volume "creds" is not an emptyDir/],
    ['a privileged container', { containers: [{ name: 'x', image: 'x', securityContext: { privileged: true } }] }, 'UnsupportedPodSpec', /privileged/],
    ['a remapped hostPort', { containers: [{ name: 'x', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }] }, 'UnsupportedPodSpec', /hostPort 8080/],
    ['no containers', { containers: [] }, 'NoContainers', /has no containers/],
  ])('refuses %s for good, naming the pod', (_, spec, reason, message) => {
    const attempt = () => renderTaskDefinition(pod('bad', spec), settings);
    expect(attempt).toThrow(PodSpecError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as PodSpecError).reason).toBe(reason);
      expect((error as Error).message).toContain('pod shop/bad');
    }
  });
});

describe('names', () => {
  it('families use only the characters ECS allows and stay within 255', () => {
    const long = familyName({ metadata: { namespace: 'a.b', name: 'x'.repeat(300) } }, 'abcdef012345');
    expect(long).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(long.length).toBeLessThanOrEqual(255);
    expect(long.endsWith('-abcdef012345')).toBe(true);
  });

  it('log streams follow awslogs: prefix/container/task id', () => {
    expect(logStreamName('app', 'arn:aws:ecs:us-east-1:1:task/swell/0123abcd')).toBe('swell/app/0123abcd');
  });
});
