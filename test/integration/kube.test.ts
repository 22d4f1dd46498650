// @sandbox kube
// The sandbox control plane behaves like a real cluster: controllers, scheduler and fake nodes run pods, the
// aggregation layer proxies to a server on 127.0.0.1 with front-proxy credentials, and the HPA controller acts.
import { X509Certificate, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  ApiregistrationV1Api,
  AppsV1Api,
  AuthenticationV1Api,
  AutoscalingV2Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../../src/pki/index.js';

const kubeconfig = new KubeConfig();
kubeconfig.loadFromDefault();
const core = kubeconfig.makeApiClient(CoreV1Api);
const apps = kubeconfig.makeApiClient(AppsV1Api);

/** Polls until `probe` returns a value other than undefined; fails naming what was awaited and the last value seen. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last === undefined ? '' : ` (last error: ${last})`}`);
}

async function ignoreNotFound(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiException && error.code === 404)) throw error;
  }
}

/** A namespace of its own for each test, ready for pods once the serviceaccount controller made `default`. */
async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  await eventually(`ServiceAccount ${name}/default`, async () => core.readNamespacedServiceAccount({ namespace: name, name: 'default' }));
  return name;
}

function deployment(name: string, replicas: number): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
      },
    },
  };
}

describe('workloads', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await createNamespace('kube-workloads');
  });
  afterAll(async () => {
    await ignoreNotFound(() => core.deleteNamespace({ name: namespace }));
  });

  it('runs a Deployment: ReplicaSet, Pods bound to sandbox nodes, Running', async () => {
    await apps.createNamespacedDeployment({ namespace, body: deployment('web', 2) });

    const replicaSet = await eventually('a ReplicaSet owned by Deployment web', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: 'app=web' });
      return list.items.find((rs) => rs.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'));
    });
    expect(replicaSet.spec?.replicas).toBe(2);

    const pods = await eventually('2 Running pods on sandbox nodes', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=web' });
      const running = list.items.filter((p) => p.status?.phase === 'Running' && p.spec?.nodeName);
      return running.length === 2 ? running : undefined;
    });
    const sandboxNodes = await core.listNode({ labelSelector: 'swell.dev/sandbox-node=regular' });
    const nodeNames = sandboxNodes.items.map((n) => n.metadata?.name);
    for (const pod of pods) {
      expect(nodeNames).toContain(pod.spec?.nodeName);
      expect(pod.metadata?.ownerReferences?.[0]?.name).toBe(replicaSet.metadata?.name);
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }

    const status = await eventually('Deployment web reporting 2 ready replicas', async () => {
      const d = await apps.readNamespacedDeployment({ namespace, name: 'web' });
      return d.status?.readyReplicas === 2 ? d.status : undefined;
    });
    expect(status.availableReplicas).toBe(2);
  });

  it('finishes graceful deletion without a kubelet: scaling down leaves no Terminating pod', async () => {
    await apps.createNamespacedDeployment({ namespace, body: deployment('shrink', 3) });
    await eventually('3 Running shrink pods', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=shrink' });
      return list.items.filter((p) => p.status?.phase === 'Running').length === 3 ? true : undefined;
    });
    // No resourceVersion: an unconditional update, since the controllers keep changing the Deployment's status.
    await apps.replaceNamespacedDeploymentScale({ namespace, name: 'shrink', body: { metadata: { name: 'shrink', namespace }, spec: { replicas: 1 } } });
    const left = await eventually('shrink pods down to 1 (deleted pods gone, not Terminating)', async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: 'app=shrink' });
      return list.items.length === 1 ? list.items : undefined;
    });
    expect(left[0]?.metadata?.deletionTimestamp).toBeUndefined();
    expect(left[0]?.status?.phase).toBe('Running');
  });

  it('runs a Job pod for the time its annotation asks, then completes the Job', async () => {
    const batch = kubeconfig.makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace,
      body: {
        metadata: { name: 'once' },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { annotations: { 'swell.dev/sandbox-run-for': '2s' } },
            spec: { restartPolicy: 'Never', containers: [{ name: 'task', image: 'registry.invalid/task:1' }] },
          },
        },
      },
    });
    const job = await eventually('Job once Complete', async () => {
      const j = await batch.readNamespacedJob({ namespace, name: 'once' });
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    });
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.failed ?? 0).toBe(0);
    const ranSeconds = ((job.status?.completionTime?.getTime() ?? 0) - (job.status?.startTime?.getTime() ?? 0)) / 1000;
    expect(ranSeconds).toBeGreaterThanOrEqual(1);
  });
});

/** What the aggregated test server saw of one request. */
interface SeenRequest {
  readonly path: string;
  readonly peerCommonName: string | undefined;
  readonly peerTrusted: boolean;
  readonly remoteUser: string | undefined;
  readonly remoteGroups: string | undefined;
}

describe('aggregation layer', () => {
  const group = 'sandbox-test.swell.dev';
  const version = 'v1';
  const apiServiceName = `${version}.${group}`;
  const registration = kubeconfig.makeApiClient(ApiregistrationV1Api);
  const seen: SeenRequest[] = [];
  let namespace: string;
  let server: Server | undefined;
  let frontProxyCa: X509Certificate;

  beforeAll(async () => {
    namespace = await createNamespace('kube-aggregation');
    // Where a real extension server learns which client CA signs the aggregator's proxy requests.
    const auth = await core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'extension-apiserver-authentication' });
    const caPem = auth.data?.['requestheader-client-ca-file'];
    if (!caPem) throw new Error('extension-apiserver-authentication has no requestheader-client-ca-file');
    frontProxyCa = new X509Certificate(caPem);
  });

  afterAll(async () => {
    // The APIService goes first: an unavailable aggregated API blocks namespace deletion and discovery.
    await ignoreNotFound(() => registration.deleteAPIService({ name: apiServiceName }));
    if (server) {
      server.close();
      server.closeAllConnections();
    }
    await ignoreNotFound(() => core.deleteNamespace({ name: namespace }));
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const peer = (req.socket as TLSSocket).getPeerX509Certificate();
    seen.push({
      path: req.url ?? '',
      peerCommonName: peer?.subject.match(/CN=([^\n]+)/)?.[1],
      peerTrusted: peer !== undefined && peer.checkIssued(frontProxyCa) && peer.verify(frontProxyCa.publicKey),
      remoteUser: header(req, 'x-remote-user'),
      remoteGroups: header(req, 'x-remote-group'),
    });
    const path = (req.url ?? '').split('?')[0];
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === `/apis/${group}/${version}`) {
      reply(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: `${group}/${version}`,
        resources: [{ name: 'widgets', singularName: 'widget', namespaced: false, kind: 'Widget', verbs: ['get'] }],
      });
    } else if (path?.startsWith(`/apis/${group}/${version}/widgets/`)) {
      const name = path.split('/').pop() ?? '';
      reply(200, { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name }, spec: { requestedBy: header(req, 'x-remote-user') ?? '' } });
    } else {
      reply(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    }
  }

  it('proxies a read of an APIService backed by a server on 127.0.0.1 with front-proxy credentials', async () => {
    const serviceName = 'sandbox-test-api';
    const ca = await createCertificateAuthority({ commonName: 'sandbox-test-api-ca' });
    // The aggregator dials the ExternalName host but checks the certificate for <service>.<namespace>.svc.
    const serving = await issueServerCertificate(ca, { commonName: serviceName, dnsNames: [`${serviceName}.${namespace}.svc`] });
    server = createServer({ key: serving.privateKeyPem, cert: serving.certificatePem, requestCert: true, rejectUnauthorized: false }, handle);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;

    await core.createNamespacedService({ namespace, body: { metadata: { name: serviceName }, spec: { type: 'ExternalName', externalName: '127.0.0.1' } } });
    await registration.createAPIService({
      body: {
        metadata: { name: apiServiceName },
        spec: {
          group,
          version,
          groupPriorityMinimum: 1000,
          versionPriority: 15,
          caBundle: Buffer.from(ca.certificatePem).toString('base64'),
          service: { name: serviceName, namespace, port },
        },
      },
    });
    await eventually(`APIService ${apiServiceName} Available`, async () => {
      const api = await registration.readAPIServiceStatus({ name: apiServiceName });
      return api.status?.conditions?.find((c) => c.type === 'Available' && c.status === 'True');
    });

    const custom = kubeconfig.makeApiClient(CustomObjectsApi);
    const widget = (await eventually('GET widgets/gear through the apiserver', () =>
      custom.getClusterCustomObject({ group, version, plural: 'widgets', name: 'gear' }),
    )) as {
      kind: string;
      metadata: { name: string };
      spec: { requestedBy: string };
    };
    const me = await kubeconfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    const username = me.status?.userInfo?.username;
    expect(username).toBeTruthy();
    expect(widget.kind).toBe('Widget');
    expect(widget.metadata.name).toBe('gear');
    expect(widget.spec.requestedBy).toBe(username);

    const read = seen.find((r) => r.path.startsWith(`/apis/${group}/${version}/widgets/gear`));
    expect(read).toBeDefined();
    expect(read?.peerCommonName).toBe('front-proxy-client');
    expect(read?.peerTrusted).toBe(true);
    expect(read?.remoteUser).toBe(username);
    expect(read?.remoteGroups).toContain('system:authenticated');
  });
});

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

describe('horizontal pod autoscaler', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await createNamespace('kube-hpa');
  });
  afterAll(async () => {
    await ignoreNotFound(() => core.deleteNamespace({ name: namespace }));
  });

  it('gets status conditions from the real HPA controller', async () => {
    await apps.createNamespacedDeployment({ namespace, body: deployment('worker', 1) });
    const autoscaling = kubeconfig.makeApiClient(AutoscalingV2Api);
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace,
      body: {
        metadata: { name: 'worker' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' },
          minReplicas: 1,
          maxReplicas: 5,
          metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
        },
      },
    });

    // No metrics server runs in the sandbox, so the controller reports that it cannot read CPU metrics.
    const status = await eventually('HPA worker conditions AbleToScale and ScalingActive', async () => {
      const hpa = await autoscaling.readNamespacedHorizontalPodAutoscaler({ namespace, name: 'worker' });
      const conditions = hpa.status?.conditions ?? [];
      return conditions.some((c) => c.type === 'AbleToScale') && conditions.some((c) => c.type === 'ScalingActive') ? hpa.status : undefined;
    });
    const byType = new Map(status.conditions?.map((c) => [c.type, c]));
    expect(byType.get('AbleToScale')?.status).toBe('True');
    expect(byType.get('ScalingActive')?.status).toBe('False');
    expect(byType.get('ScalingActive')?.reason).toBe('FailedGetResourceMetric');
    expect(status.currentReplicas).toBe(1);
  });
});
