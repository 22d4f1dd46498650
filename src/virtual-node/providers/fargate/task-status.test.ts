import type { Task } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { containerState, taskPrivateIp, taskTags } from './task-status.js';

const now = new Date('2026-03-01T12:00:00Z');
const created = new Date('2026-03-01T11:59:00Z');
const started = new Date('2026-03-01T11:59:40Z');
const stopped = new Date('2026-03-01T11:59:55Z');

describe('containerState', () => {
  it.each<[string, Task, ReturnType<typeof containerState>]>([
    ['PROVISIONING', { lastStatus: 'PROVISIONING', createdAt: created }, { kind: 'waiting', reason: 'ContainerCreating' }],
    [
      'PENDING while the image is pulled',
      { lastStatus: 'PENDING', pullStartedAt: created },
      { kind: 'waiting', reason: 'ContainerCreating', message: 'pulling image' },
    ],
    ['ACTIVATING', { lastStatus: 'ACTIVATING' }, { kind: 'waiting', reason: 'ContainerCreating' }],
    ['RUNNING', { lastStatus: 'RUNNING', startedAt: started, containers: [{ name: 'app', lastStatus: 'RUNNING' }] }, { kind: 'running', startedAt: started }],
    ['RUNNING, the container not listed (the emulator lists one)', { lastStatus: 'RUNNING', createdAt: created }, { kind: 'running', startedAt: created }],
    ['RUNNING without any time yet', { lastStatus: 'RUNNING' }, { kind: 'running', startedAt: now }],
    ['DEACTIVATING: still running until stopped', { lastStatus: 'DEACTIVATING', startedAt: started }, { kind: 'running', startedAt: started }],
    [
      'STOPPED with exit code 0',
      {
        lastStatus: 'STOPPED',
        startedAt: started,
        stoppedAt: stopped,
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: 'app', lastStatus: 'STOPPED', exitCode: 0 }],
      },
      { kind: 'terminated', exitCode: 0, reason: 'Completed', message: 'Essential container in task exited', startedAt: started, finishedAt: stopped },
    ],
    [
      'STOPPED with exit code 2',
      { lastStatus: 'STOPPED', startedAt: started, stoppedAt: stopped, containers: [{ name: 'app', lastStatus: 'STOPPED', exitCode: 2 }] },
      { kind: 'terminated', exitCode: 2, reason: 'Error', startedAt: started, finishedAt: stopped },
    ],
    [
      'a container killed for memory',
      {
        lastStatus: 'RUNNING',
        startedAt: started,
        containers: [{ name: 'app', lastStatus: 'STOPPED', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' }],
      },
      {
        kind: 'terminated',
        exitCode: 137,
        reason: 'OOMKilled',
        message: 'OutOfMemoryError: Container killed due to memory usage',
        startedAt: started,
        finishedAt: now,
      },
    ],
    [
      'an image that could not be pulled',
      {
        lastStatus: 'STOPPED',
        stoppedAt: stopped,
        stopCode: 'TaskFailedToStart',
        stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        containers: [{ name: 'app', lastStatus: 'STOPPED' }],
      },
      {
        kind: 'terminated',
        exitCode: 128,
        reason: 'ErrImagePull',
        message: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        finishedAt: stopped,
      },
    ],
    [
      'stopped by the user before it started',
      { lastStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: 'pod deleted' },
      { kind: 'terminated', exitCode: 128, reason: 'Stopped', message: 'pod deleted', finishedAt: now },
    ],
    [
      'a task that failed to start for another reason',
      { lastStatus: 'STOPPED', stopCode: 'TaskFailedToStart', stoppedReason: 'ResourceInitializationError: unable to pull secrets' },
      { kind: 'terminated', exitCode: 128, reason: 'StartError', message: 'ResourceInitializationError: unable to pull secrets', finishedAt: now },
    ],
  ])('%s', (_, task, expected) => {
    expect(containerState(task, 'app', now)).toEqual(expected);
  });
});

describe('task facts', () => {
  it('reads the private IP from the network interface attachment, else from the containers', () => {
    expect(
      taskPrivateIp({
        attachments: [
          {
            type: 'ElasticNetworkInterface',
            details: [
              { name: 'subnetId', value: 's' },
              { name: 'privateIPv4Address', value: '10.0.1.7' },
            ],
          },
        ],
      }),
    ).toBe('10.0.1.7');
    expect(taskPrivateIp({ containers: [{ networkInterfaces: [{ privateIpv4Address: '10.0.1.8' }] }] })).toBe('10.0.1.8');
    expect(taskPrivateIp({ lastStatus: 'PROVISIONING' })).toBeUndefined();
  });

  it('reads tags into a map', () => {
    expect(taskTags({ tags: [{ key: 'swell.dev/pod-name', value: 'web-1' }, { key: 'broken' }] })).toEqual(new Map([['swell.dev/pod-name', 'web-1']]));
  });
});
