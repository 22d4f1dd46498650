// @sandbox kube
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import {
  ApiregistrationV1Api,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpKubeClient } from '../../src/kube/client.js';
import { createLogger } from '../../src/log.js';
import { startMetricsApi, type ExternalMetricsSource, type RunningMetricsApi } from '../../src/metrics-api/index.js';
import { createCertificateAuthority, issueClientCertificate } from '../../src/pki/index.js';

const log = createLogger({ name: 'metrics-api-it', level: 'warn' });
const suffix = Math.random().toString(36).slice(2, 7);
const namespace = `metrics-api-it-${suffix}`;
const registration = { namespace: 'swell-system', serviceName: `swell-metrics-it-${suffix}` };
const group = '/apis/external.metrics.k8s.io/v1beta1';
const metricPath = (metric: string, so: string) =>
  `${group}/namespaces/${namespace}/${metric}?labelSelector=${encodeURIComponent(`scaledobject.keda.sh/name=${so}`)}`;

/** The operator's side, faked: metric values by "<scaledObject>/<metric>", changeable by the tests. */
const served = new Map<string, number>();
const source: ExternalMetricsSource = {
  getMetric({ namespace: ns, scaledObject, metricName }) {
    if (ns !== namespace) return Promise.resolve({ ok: false, reason: 'ScaledObjectNotFound', message: `no ScaledObjects in ${ns}` });
    const value = served.get(`${scaledObject}/${metricName}`);
    if (value === undefined) return Promise.resolve({ ok: false, reason: 'MetricNotFound', message: `no metric ${metricName}` });
    return Promise.resolve({ ok: true, value, timestamp: new Date() });
  },
};

const kubeConfig = new KubeConfig();
let api: RunningMetricsApi;

interface Reply {
  status: number;
  body: string;
}

function send(options: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`request ${options.path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET through kube-apiserver as the sandbox admin, optionally impersonating someone. */
async function viaApiserver(path: string, impersonate?: string): Promise<Reply> {
  const server = new URL(kubeConfig.getCurrentCluster()?.server ?? '');
  const options: RequestOptions = {
    hostname: server.hostname,
    port: server.port,
    path,
    method: 'GET',
    headers: impersonate ? { 'Impersonate-User': impersonate } : {},
  };
  await kubeConfig.applyToHTTPSOptions(options);
  return send(options);
}

/** GET straight to the metrics server, skipping the aggregator. */
function direct(path: string, client?: { certificatePem: string; privateKeyPem: string }, headers: Record<string, string> = {}): Promise<Reply> {
  return send({
    host: '127.0.0.1',
    port: api.port,
    path,
    servername: 'localhost',
    ca: api.caPem(),
    headers,
    ...(client ? { cert: client.certificatePem, key: client.privateKeyPem } : {}),
  });
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 500,
  explain: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''} ${explain()}`);
}

/** A Kubernetes quantity as a number (enough for the suffixes the HPA writes). */
function quantityValue(q: string): number {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G)?$/.exec(q);
  if (!match) throw new Error(`unexpected quantity ${q}`);
  const scale: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (match[2] ? (scale[match[2]] ?? 1) : 1);
}

beforeAll(async () => {
  const file = process.env.KUBECONFIG;
  if (!file) throw new Error('KUBECONFIG is not set; the sandbox global setup should have started kube');
  kubeConfig.loadFromFile(file);
  await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  api = await startMetricsApi({
    client: createHttpKubeClient(kubeConfig),
    source,
    log,
    host: '127.0.0.1',
    port: 0,
    certificates: { kind: 'generated', identity: registration },
    registerLocally: registration,
    acceptBearerTokens: true,
  });
});

afterAll(async () => {
  await api?.stop();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await core.deleteNamespacedSecret({ name: `${registration.serviceName}-certs`, namespace: registration.namespace }).catch(() => undefined);
  await core.deleteNamespacedService({ name: registration.serviceName, namespace: registration.namespace }).catch(() => undefined);
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.deleteClusterRoleBinding({ name: `metrics-reader-${suffix}` }).catch(() => undefined);
  await rbac.deleteClusterRole({ name: `metrics-reader-${suffix}` }).catch(() => undefined);
});

describe('external.metrics.k8s.io through the aggregation layer', () => {
  it('becomes an Available APIService', async () => {
    const registrations = kubeConfig.makeApiClient(ApiregistrationV1Api);
    const available = await eventually(
      'APIService v1beta1.external.metrics.k8s.io Available',
      async () => {
        const service = await registrations.readAPIService({ name: 'v1beta1.external.metrics.k8s.io' });
        return service.status?.conditions?.find((c) => c.type === 'Available' && c.status === 'True');
      },
      60_000,
    );
    expect(available.reason).toBe('Passed');
  });

  it('serves the value of the source to a reader, through the apiserver', async () => {
    served.set('orders/s0-queue', 12.5);
    const reply = await eventually(
      'a metric through the apiserver',
      async () => {
        const r = await viaApiserver(metricPath('s0-queue', 'orders'));
        return r.status === 200 ? r : undefined;
      },
      30_000,
    );
    const list = JSON.parse(reply.body) as { kind: string; items: { metricName: string; value: string }[] };
    expect(list.kind).toBe('ExternalMetricValueList');
    expect(list.items).toMatchObject([{ metricName: 's0-queue', value: '12500m' }]);
  });

  it('passes the Status errors of the server through the apiserver', async () => {
    const missing = await viaApiserver(metricPath('s9-missing', 'orders'));
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    const noSelector = await viaApiserver(`${group}/namespaces/${namespace}/s0-queue`);
    expect(noSelector.status).toBe(400);
    expect((JSON.parse(noSelector.body) as { message: string }).message).toMatch(/scaledObject name is not specified/);
  });

  it('answers 403 to a user without RBAC, checking access itself as well as the apiserver does', async () => {
    served.set('orders/s0-queue', 3);
    const user = `reader-${suffix}`;
    const errorOf = (r: Reply) => JSON.parse(r.body) as { message: string; reason: string };
    // No rules at all: kube-apiserver refuses before proxying (it authorizes this path as verb "list").
    const refused = await viaApiserver(metricPath('s0-queue', 'orders'), user);
    expect(refused.status).toBe(403);
    expect(errorOf(refused).message).toContain(`User "${user}" cannot list resource "s0-queue"`);

    // "list" only: the apiserver lets the request through and this server's own SubjectAccessReview ("get") refuses.
    const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const role = (verbs: string[]) => ({
      metadata: { name: `metrics-reader-${suffix}` },
      rules: [{ apiGroups: ['external.metrics.k8s.io'], resources: ['*'], verbs }],
    });
    await rbac.createClusterRole({ body: role(['list']) });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `metrics-reader-${suffix}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `metrics-reader-${suffix}` },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }],
      },
    });
    const refusedHere = await eventually(
      'the list-only binding to reach this server',
      async () => {
        const r = await viaApiserver(metricPath('s0-queue', 'orders'), user);
        return r.status === 403 && errorOf(r).message.includes('cannot get resource') ? r : undefined;
      },
      30_000,
      1_000,
    );
    expect(errorOf(refusedHere).message).toMatch(
      /^externalmetrics\.external\.metrics\.k8s\.io "s0-queue" is forbidden: User "reader-\w+" cannot get resource "s0-queue"/,
    );

    // get and list: served. The server caches its denial for 10 s, so this may take that long.
    await rbac.replaceClusterRole({ name: `metrics-reader-${suffix}`, body: role(['get', 'list']) });
    const allowed = await eventually(
      'the get rule to take effect',
      async () => {
        const r = await viaApiserver(metricPath('s0-queue', 'orders'), user);
        return r.status === 200 ? r : undefined;
      },
      30_000,
      1_000,
    );
    expect((JSON.parse(allowed.body) as { items: { value: string }[] }).items[0]?.value).toBe('3');
  });

  it('answers 401 directly to clients without the front-proxy certificate, whatever headers they send', async () => {
    const asAdmin = { 'X-Remote-User': 'system:admin', 'X-Remote-Group': 'system:masters' };
    const pki = process.env.SWELL_DEV_KUBE_PKI;
    const otherCa = await createCertificateAuthority({ commonName: 'not-the-front-proxy-ca' });
    const impostor = await issueClientCertificate(otherCa, { commonName: 'front-proxy-client' });
    const clients: [string, { certificatePem: string; privateKeyPem: string } | undefined][] = [
      ['no certificate', undefined],
      ['a front-proxy-client certificate from another CA', impostor],
    ];
    if (pki) {
      // The cluster's own admin certificate: valid for the apiserver, but not from the front-proxy CA.
      clients.push([
        'the cluster admin certificate',
        { certificatePem: await readFile(join(pki, 'admin.crt'), 'utf8'), privateKeyPem: await readFile(join(pki, 'admin.key'), 'utf8') },
      ]);
    }
    for (const [what, client] of clients) {
      const reply = await direct(metricPath('s0-queue', 'orders'), client, asAdmin);
      expect({ what, status: reply.status }).toEqual({ what, status: 401 });
      expect(JSON.parse(reply.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
    }
    expect((await direct('/healthz')).status).toBe(200);
    if (pki) {
      const proxy = {
        certificatePem: await readFile(join(pki, 'front-proxy-client.crt'), 'utf8'),
        privateKeyPem: await readFile(join(pki, 'front-proxy-client.key'), 'utf8'),
      };
      expect((await direct(metricPath('s0-queue', 'orders'), proxy, asAdmin)).status).toBe(200);
      expect((await direct(metricPath('s0-queue', 'orders'), proxy, { 'X-Remote-User': `nobody-${suffix}` })).status).toBe(403);
    }
  });

  it('accepts bearer tokens by TokenReview when enabled, then authorizes the token user', async () => {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'probe' } } });
    const { status } = await core.createNamespacedServiceAccountToken({ name: 'probe', namespace, body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const token = status?.token ?? '';
    const bogus = await direct(metricPath('s0-queue', 'orders'), undefined, { Authorization: 'Bearer not-a-token' });
    expect(bogus.status).toBe(401);
    const asServiceAccount = await direct(metricPath('s0-queue', 'orders'), undefined, { Authorization: `Bearer ${token}` });
    expect(asServiceAccount.status).toBe(403);
    expect((JSON.parse(asServiceAccount.body) as { message: string }).message).toContain(`User "system:serviceaccount:${namespace}:probe"`);
  });

  it('lets a second replica reuse the serving certificate from the Secret', async () => {
    const replica = await startMetricsApi({
      client: createHttpKubeClient(kubeConfig),
      source,
      log,
      host: '127.0.0.1',
      port: 0,
      certificates: { kind: 'generated', identity: registration },
    });
    try {
      expect(replica.caPem()).toBe(api.caPem());
      const health = await send({
        host: '127.0.0.1',
        port: replica.port,
        path: '/readyz',
        servername: `${registration.serviceName}.${registration.namespace}.svc`,
        ca: api.caPem(),
      });
      expect(health).toEqual({ status: 200, body: 'ok' });
    } finally {
      await replica.stop();
    }
  });

  it('drives the real HPA controller 1 → N → 1 on an External metric', { timeout: 360_000 }, async () => {
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const autoscaling = kubeConfig.makeApiClient(AutoscalingV2Api);
    const labels = { app: 'worker' };
    served.set('worker/s0-queue', 0);
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'worker', labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'worker', image: 'registry.invalid/worker:1' }] } },
        },
      },
    });
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace,
      body: {
        metadata: { name: 'keda-hpa-worker' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' },
          minReplicas: 1,
          maxReplicas: 6,
          metrics: [
            {
              type: 'External',
              external: {
                metric: { name: 's0-queue', selector: { matchLabels: { 'scaledobject.keda.sh/name': 'worker' } } },
                target: { type: 'AverageValue', averageValue: '5' },
              },
            },
          ],
        },
      },
    });
    let last: V2HorizontalPodAutoscaler | undefined;
    let lastDeployment: unknown;
    const hpa = async () => {
      lastDeployment = (await apps.readNamespacedDeployment({ name: 'worker', namespace })).status;
      return (last = await autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'keda-hpa-worker', namespace }));
    };
    const lastStatus = () => `; last HPA status: ${JSON.stringify(last?.status)}; Deployment status: ${JSON.stringify(lastDeployment)}`;
    const observed = (h: V2HorizontalPodAutoscaler) => h.status?.currentMetrics?.[0]?.external?.current.averageValue;

    // Quiet: the HPA reads 0 and keeps the minimum.
    const quiet = await eventually('the HPA to read the metric', async () => ((await hpa()).status?.currentMetrics?.length ? hpa() : undefined), 60_000);
    expect(quantityValue(observed(quiet) ?? 'x')).toBe(0);
    expect(quiet.status?.desiredReplicas).toBe(1);

    // Busy: 24 at 5 per replica → ceil(24 / 5) = 5 replicas, and the status shows 24 / 5 per pod. (24 converges
    // to 5 from any replica count: from 4 it is 20% over target, beyond the HPA's 10% tolerance.)
    served.set('worker/s0-queue', 24);
    const busy = await eventually(
      'scale-up to 5',
      async () => {
        const h = await hpa();
        return h.status?.currentReplicas === 5 && h.status.desiredReplicas === 5 && observed(h) !== undefined && quantityValue(observed(h) ?? '') === 24 / 5
          ? h
          : undefined;
      },
      150_000,
      500,
      lastStatus,
    );
    expect(quantityValue(observed(busy) ?? '') * (busy.status?.currentReplicas ?? 0)).toBeCloseTo(24, 3);
    expect((await apps.readNamespacedDeployment({ name: 'worker', namespace })).spec?.replicas).toBe(5);

    // Quiet again: back to 1 after the sandbox's 10 s downscale stabilization.
    served.set('worker/s0-queue', 1.5);
    const calm = await eventually(
      'scale-down to 1',
      async () => {
        const h = await hpa();
        return h.status?.currentReplicas === 1 && observed(h) !== undefined && quantityValue(observed(h) ?? '') === 1.5 ? h : undefined;
      },
      120_000,
      1_000,
      lastStatus,
    );
    expect(calm.status?.desiredReplicas).toBe(1);
    expect((await apps.readNamespacedDeployment({ name: 'worker', namespace })).spec?.replicas).toBe(1);
  });

  it('deletes its APIService on stop, so discovery stays whole', async () => {
    await api.stop();
    const registrations = kubeConfig.makeApiClient(ApiregistrationV1Api);
    const list = await registrations.listAPIService();
    // Another process sharing the sandbox may have registered its own server since; ours must be gone.
    const ours = list.items.filter((s) => s.spec?.service?.name === registration.serviceName && s.spec.service.namespace === registration.namespace);
    expect(ours).toEqual([]);
  });
});
