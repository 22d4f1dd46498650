// @sandbox kube,aws
// The Fargate provider end to end: a real control plane (scheduler, controllers, burst placement webhook) and
// `swell virtual-node --provider fargate` talking to the sandbox's AWS API emulator (ECS, EC2, CloudWatch
// Logs). The emulator runs no container: a task reads RUNNING from RunTask on and only stops when StopTask is
// called, so this test calls StopTask itself where a real container would exit, and writes the log events a
// real awslogs driver would write.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  StopTaskCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, Log, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBurstPolicyCrd } from '../../src/apis/swell/v1alpha1/crd.js';
import { startBurstPlacement, type BurstPlacement } from '../../src/burst/index.js';
import { createKubeListWatchSource } from '../../src/kube/list-watch.js';
import { createLogger } from '../../src/log.js';
import { createHttpKubeClient } from '../../src/kube/client.js';
import { freePort } from '../../src/sandbox/net.js';
import { taskPrivateIp, taskTags } from '../../src/virtual-node/providers/fargate/task-status.js';
import { startWebhooks, type RunningWebhooks } from '../../src/webhooks/index.js';
import { unregisterWebhooks } from '../../src/webhooks/register.js';

const log = createLogger({ name: 'fargate-test', level: 'warn' });
const suffix = randomBytes(3).toString('hex');
const namespace = `fargate-${suffix}`;
const nodeName = `fargate-vn-${suffix}`;
const configurationName = `swell-fargate-${suffix}`;
const cluster = process.env.SWELL_AWS_CLUSTER ?? 'swell';
const logGroup = process.env.SWELL_AWS_LOG_GROUP ?? '/swell/virtual-node';
const subnet = process.env.SWELL_AWS_SUBNET ?? '';
const securityGroup = process.env.SWELL_AWS_SECURITY_GROUP ?? '';
const region = process.env.AWS_REGION ?? 'us-east-1';
const toleration = { key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' };

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const ecs = new ECSClient({ region });
const logs = new CloudWatchLogsClient({ region });
let metricsPort = 0;
let node: ChildProcess | undefined;
let output = '';
let placement: BurstPlacement | undefined;
let webhooks: RunningWebhooks | undefined;
const stopLoop = new AbortController();
let loop: Promise<void> | undefined;

function startNode(): ChildProcess {
  const args = [
    '--import',
    'tsx',
    'src/cli/main.ts',
    'virtual-node',
    '--provider',
    'fargate',
    '--name',
    nodeName,
    '--port',
    '0',
    '--metrics-port',
    String(metricsPort),
  ];
  args.push('--region', region, '--cluster', cluster, '--subnets', subnet, '--security-groups', securityGroup, '--log-group', logGroup);
  args.push('--vcpu-quota', '64', '--status-interval', '1s', '--execution-role-arn', 'arn:aws:iam::123456789012:role/swell-task-execution');
  const child = spawn(process.execPath, args, { env: { ...process.env, SWELL_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return child;
}

async function stopNode(): Promise<void> {
  const child = node;
  node = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) child.kill('SIGKILL');
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    await sleep(300);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}\n--- virtual node output ---\n${output.slice(-3000)}`,
  );
}

async function describeTask(arn: string): Promise<Task> {
  const result = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [arn], include: ['TAGS'] }));
  const task = result.tasks?.[0];
  if (!task) throw new Error(`task ${arn} not found`);
  return task;
}

const readPod = (name: string) => core.readNamespacedPod({ name, namespace });
const taskArnOf = (pod: V1Pod) => pod.metadata?.annotations?.['swell.dev/fargate-task-arn'];

async function runningOnNode(name: string): Promise<V1Pod> {
  return until(`pod ${name} Running on ${nodeName}`, async () => {
    const pod = await readPod(name);
    return pod.spec?.nodeName === nodeName && pod.status?.phase === 'Running' && pod.status.podIP && taskArnOf(pod) ? pod : undefined;
  });
}

function barePod(name: string, extra: { restartPolicy?: 'Always' | 'Never'; annotations?: Record<string, string> } = {}): V1Pod {
  return {
    metadata: { name, namespace, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      restartPolicy: extra.restartPolicy ?? 'Always',
      nodeSelector: { 'kubernetes.io/hostname': nodeName },
      tolerations: [toleration],
      terminationGracePeriodSeconds: 20,
      containers: [
        {
          name: 'app',
          image: 'public.ecr.aws/docker/library/busybox:1.36',
          command: ['sh', '-c', 'sleep 3600'],
          resources: { requests: { cpu: '1', memory: '3Gi' } },
        },
      ],
    },
  };
}

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

beforeAll(async () => {
  metricsPort = await freePort();
  const client = createHttpKubeClient(kc);
  try {
    await client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: buildBurstPolicyCrd() });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
  await until('BurstPolicy CRD', async () => {
    const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
      'GET',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/burstpolicies.swell.dev',
    );
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  node = startNode();
  await until('the Fargate node to be Ready', async () => {
    const n = await core.readNode({ name: nodeName });
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  });
  placement = await startBurstPlacement({
    client,
    listWatch: (path) => createKubeListWatchSource(client, path),
    log,
    costMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
  });
  loop = placement.run(stopLoop.signal);
  webhooks = await startWebhooks({ client, log, host: '127.0.0.1', port: 0, configurationName, validateKeda: false, podMutator: placement.podMutator });
  // The apiserver needs a moment to start calling a newly registered webhook.
  await sleep(3_000);
}, 180_000);

afterAll(async () => {
  stopLoop.abort();
  await loop;
  await webhooks?.stop();
  await unregisterWebhooks(createHttpKubeClient(kc), configurationName, log);
  await placement?.stop();
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  // With the node gone nothing would confirm the deletions; the tasks it started are stopped here instead.
  await until('the node to stop the tasks of the deleted namespace', async () => {
    const running = await ecs.send(new ListTasksCommand({ cluster, startedBy: nodeName.replace(/[^A-Za-z0-9_-]/g, '_'), desiredStatus: 'RUNNING' }));
    return (running.taskArns ?? []).length === 0;
  }).catch(() => undefined);
  await stopNode();
  const left = await core.listNamespacedPod({ namespace }).catch(() => ({ items: [] as V1Pod[] }));
  for (const p of left.items) await core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  await core.deleteNode({ name: nodeName }).catch(() => undefined);
  await kc
    .makeApiClient(CoordinationV1Api)
    .deleteNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' })
    .catch(() => undefined);
  ecs.destroy();
  logs.destroy();
}, 120_000);

describe('swell virtual-node --provider fargate against the AWS API emulator', () => {
  let webPods: V1Pod[] = [];

  it('advertises the vCPU quota as capacity and the fargate taint', async () => {
    const n = await core.readNode({ name: nodeName });
    expect(n.status?.capacity).toMatchObject({ cpu: '64', memory: '512Gi', pods: '256' });
    expect(n.spec?.taints).toContainEqual({ key: 'virtual-kubelet.io/provider', value: 'fargate', effect: 'NoSchedule' });
  });

  it('a BurstPolicy bursts onto the node: each burst pod becomes a tagged task of one shared, rounded task definition, and is billed at that size', async () => {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              terminationGracePeriodSeconds: 0,
              containers: [
                {
                  name: 'app',
                  image: 'public.ecr.aws/nginx/nginx:1.27',
                  command: ['nginx'],
                  args: ['-g', 'daemon off;'],
                  ports: [{ containerPort: 8080 }],
                  env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
                  // 0.3 vCPU / 600 MiB has no Fargate size: it runs, and is billed, as 0.5 vCPU / 1 GB.
                  resources: { requests: { cpu: '300m', memory: '600Mi' } },
                },
              ],
            },
          },
        },
      },
    });
    await createHttpKubeClient(kc).request('POST', `/apis/swell.dev/v1alpha1/namespaces/${namespace}/burstpolicies`, {
      body: {
        apiVersion: 'swell.dev/v1alpha1',
        kind: 'BurstPolicy',
        metadata: { name: 'web' },
        spec: {
          scaleTargetRef: { name: 'web' },
          baseReplicas: 1,
          pendingTimeout: '20s',
          rebalance: { enabled: false },
          virtualNode: { nodeSelector: { 'kubernetes.io/hostname': nodeName, type: 'virtual-kubelet' } },
        },
      },
    });
    await createHttpKubeClient(kc).request('PATCH', `/apis/apps/v1/namespaces/${namespace}/deployments/web/scale`, {
      body: { spec: { replicas: 3 } },
      contentType: 'application/merge-patch+json',
    });
    webPods = await until(
      '2 web pods Running on the Fargate node',
      async () => {
        const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
        const burst = list.items.filter((p) => p.spec?.nodeName === nodeName && p.status?.phase === 'Running' && p.status.podIP && taskArnOf(p));
        return burst.length === 2 ? burst : undefined;
      },
      90_000,
    );

    const tasks = await Promise.all(webPods.map(async (pod) => ({ pod, task: await describeTask(taskArnOf(pod) ?? '') })));
    for (const { pod, task } of tasks) {
      expect(pod.metadata?.annotations?.['swell.dev/capacity-provisioned']).toBe('0.5vCPU 1GB');
      expect(task.lastStatus).toBe('RUNNING');
      expect(pod.status?.podIP).toBe(taskPrivateIp(task));
      expect(Object.fromEntries(taskTags(task))).toMatchObject({
        'swell.dev/pod-namespace': namespace,
        'swell.dev/pod-name': pod.metadata?.name,
        'swell.dev/pod-uid': pod.metadata?.uid,
        'swell.dev/node': nodeName,
      });
      expect(task.launchType).toBe('FARGATE');
      expect(task.startedBy).toBe(nodeName.replace(/[^A-Za-z0-9_-]/g, '_'));
      expect(task.attachments?.[0]?.details).toContainEqual({ name: 'subnetId', value: subnet });
      // Env differs per pod, so it travels as RunTask overrides, resolved by the node (downward API here).
      expect(task.overrides?.containerOverrides).toEqual([{ name: 'app', environment: [{ name: 'POD_NAME', value: pod.metadata?.name }] }]);
    }
    expect(tasks[0]?.task.taskDefinitionArn).toBe(tasks[1]?.task.taskDefinitionArn);
    const definition = (await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: tasks[0]?.task.taskDefinitionArn }))).taskDefinition;
    const replicaSet = webPods[0]?.metadata?.ownerReferences?.[0]?.name ?? '';
    expect(definition).toMatchObject({
      cpu: '512',
      memory: '1024',
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      executionRoleArn: 'arn:aws:iam::123456789012:role/swell-task-execution',
    });
    expect(definition?.family).toMatch(new RegExp(`^swell-${namespace}-${replicaSet}-[0-9a-f]{12}$`));
    expect(definition?.containerDefinitions?.[0]).toMatchObject({
      name: 'app',
      image: 'public.ecr.aws/nginx/nginx:1.27',
      entryPoint: ['nginx'],
      command: ['-g', 'daemon off;'],
      portMappings: [{ containerPort: 8080, protocol: 'tcp' }],
      logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': logGroup, 'awslogs-region': region, 'awslogs-stream-prefix': 'swell' } },
    });
    // One registration for both replicas.
    const revisions = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: definition?.family }));
    expect(revisions.taskDefinitionArns).toHaveLength(1);

    // Billed at the rounded size with the one-minute minimum: 2 pods x 0.5 vCPU x 60 s, 2 x 1 GiB x 60 s.
    const labels = { node: nodeName, namespace, workload_kind: 'Deployment', workload: 'web' };
    expect(await metric('swell_virtual_node_vcpu_seconds_total', labels)).toBeCloseTo(60, 6);
    expect(await metric('swell_virtual_node_memory_gib_seconds_total', labels)).toBeCloseTo(120, 6);
    expect(await metric('swell_virtual_node_cost_dollars_total', labels)).toBeCloseTo((60 * 0.04048 + 120 * 0.004445) / 3600, 9);
  }, 150_000);

  it('a stopped task ends its container; restartPolicy Always runs a new task, Never ends the pod', async () => {
    const pod = webPods[0] as V1Pod;
    const firstTask = taskArnOf(pod) ?? '';
    // What a container exiting looks like to ECS; the emulator needs StopTask to get there.
    await ecs.send(new StopTaskCommand({ cluster, task: firstTask, reason: 'Essential container in task exited' }));
    const restarted = await until('a new task for the pod', async () => {
      const current = await readPod(pod.metadata?.name ?? '');
      const status = current.status?.containerStatuses?.[0];
      return status?.restartCount === 1 && status.state?.running && taskArnOf(current) !== firstTask ? current : undefined;
    });
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
      message: 'Essential container in task exited',
    });
    expect((await describeTask(taskArnOf(restarted) ?? '')).lastStatus).toBe('RUNNING');

    await core.createNamespacedPod({ namespace, body: barePod('once', { restartPolicy: 'Never' }) });
    const once = await runningOnNode('once');
    expect(once.metadata?.annotations?.['swell.dev/capacity-provisioned']).toBe('1vCPU 3GB');
    await ecs.send(new StopTaskCommand({ cluster, task: taskArnOf(once), reason: 'Essential container in task exited' }));
    const ended = await until('pod once Succeeded', async () => {
      const current = await readPod('once');
      return current.status?.phase === 'Succeeded' ? current : undefined;
    });
    expect(ended.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  }, 90_000);

  it('a RunTask failure (a subnet that does not exist) shows on the pod and as an Event; the pod stays Pending', async () => {
    await core.createNamespacedPod({ namespace, body: barePod('lost', { annotations: { 'swell.dev/fargate-subnets': 'subnet-0doesnotexist' } }) });
    const waiting = await until('pod lost waiting with RunTaskFailed', async () => {
      const current = await readPod('lost');
      const state = current.status?.containerStatuses?.[0]?.state?.waiting;
      return state?.reason === 'RunTaskFailed' ? state : undefined;
    });
    expect(waiting.message).toContain('InvalidSubnetID.NotFound');
    expect(waiting.message).toContain('subnet-0doesnotexist');
    expect((await readPod('lost')).status?.phase).toBe('Pending');
    const event = await until('a RunTaskFailed Event', async () => {
      const events = await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=lost' });
      return events.items.find((e) => e.reason === 'RunTaskFailed');
    });
    expect(event.type).toBe('Warning');
    expect(event.message).toContain('subnet-0doesnotexist');
    await core.deleteNamespacedPod({ name: 'lost', namespace });
    await until('pod lost gone', async () => (await core.listNamespacedPod({ namespace, fieldSelector: 'metadata.name=lost' })).items.length === 0);
  }, 90_000);

  it('kubectl logs reads the awslogs stream: tail, limitBytes, sinceSeconds and follow', async () => {
    const pod = await runningOnNode(webPods[1]?.metadata?.name ?? '');
    const stream = `swell/app/${(taskArnOf(pod) ?? '').split('/').pop() ?? ''}`;
    await logs.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: stream }));
    const now = Date.now();
    const put = (messages: string[], at: number) =>
      logs.send(
        new PutLogEventsCommand({ logGroupName: logGroup, logStreamName: stream, logEvents: messages.map((message, i) => ({ message, timestamp: at + i })) }),
      );
    await put(['old line'], now - 3_600_000);
    await put(['one', 'two', 'three'], now);
    const name = pod.metadata?.name ?? '';
    expect(await core.readNamespacedPodLog({ name, namespace, container: 'app' })).toBe('old line\none\ntwo\nthree\n');
    expect(await core.readNamespacedPodLog({ name, namespace, container: 'app', tailLines: 2 })).toBe('two\nthree\n');
    expect(await core.readNamespacedPodLog({ name, namespace, container: 'app', limitBytes: 12 })).toBe('old line\none');
    expect(await core.readNamespacedPodLog({ name, namespace, container: 'app', sinceSeconds: 600 })).toBe('one\ntwo\nthree\n');

    const followed = new PassThrough();
    let text = '';
    followed.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const request = await new Log(kc).log(namespace, name, 'app', followed, { follow: true, tailLines: 1 });
    try {
      await until('the followed stream to start', () => Promise.resolve(text.includes('three')), 15_000);
      await put(['four'], Date.now());
      await until('a line written after the follow began', () => Promise.resolve(text.includes('four')), 15_000);
      expect(text).toBe('three\nfour\n');
    } finally {
      request.abort();
    }
  }, 60_000);

  it('deleting a pod stops its task; the pod object goes once the task is STOPPED', async () => {
    await core.createNamespacedPod({ namespace, body: barePod('doomed') });
    const pod = await runningOnNode('doomed');
    const arn = taskArnOf(pod) ?? '';
    await core.deleteNamespacedPod({ name: 'doomed', namespace });
    await until('pod doomed gone', async () => (await core.listNamespacedPod({ namespace, fieldSelector: 'metadata.name=doomed' })).items.length === 0);
    const task = await describeTask(arn);
    expect(task.lastStatus).toBe('STOPPED');
    expect(task.stoppedReason).toBe(`pod ${namespace}/doomed deleted`);
  }, 60_000);

  it('after a restart the node re-adopts running tasks (no second RunTask) and stops the task of a pod deleted meanwhile', async () => {
    await core.createNamespacedPod({ namespace, body: barePod('keeper') });
    await core.createNamespacedPod({ namespace, body: barePod('orphan') });
    const keeper = await runningOnNode('keeper');
    const orphan = await runningOnNode('orphan');
    await stopNode();
    // Gone from the API while nobody watched: its task keeps running in ECS.
    await core.deleteNamespacedPod({ name: 'orphan', namespace, gracePeriodSeconds: 0 });
    expect((await describeTask(taskArnOf(orphan) ?? '')).lastStatus).toBe('RUNNING');

    node = startNode();
    const stopped = await until('the orphan task stopped', async () => {
      const task = await describeTask(taskArnOf(orphan) ?? '');
      return task.lastStatus === 'STOPPED' ? task : undefined;
    });
    expect(stopped.stoppedReason).toContain(`${namespace}/orphan`);
    await until('the node Ready again', async () =>
      (await core.readNode({ name: nodeName })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    const after = await readPod('keeper');
    expect(after.status?.phase).toBe('Running');
    expect(taskArnOf(after)).toBe(taskArnOf(keeper));
    expect(after.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect((await describeTask(taskArnOf(keeper) ?? '')).lastStatus).toBe('RUNNING');
    const keeperTasks = await ecs.send(new ListTasksCommand({ cluster, startedBy: nodeName.replace(/[^A-Za-z0-9_-]/g, '_') }));
    const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: keeperTasks.taskArns ?? [], include: ['TAGS'] }));
    expect((described.tasks ?? []).filter((t) => taskTags(t).get('swell.dev/pod-name') === 'keeper')).toHaveLength(1);
  }, 120_000);
});
