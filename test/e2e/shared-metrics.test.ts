// @sandbox kube,prometheus,prometheus-adapter
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound } from '../../src/kube/errors.js';
import { resourcePath, type KubeClient } from '../../src/kube/client.js';
import { clusterPkiFiles } from '../../src/sandbox/kube-pki.js';
import { kubePkiEnvVar } from '../../src/sandbox/kube.js';
import { addScrapeTarget, removeScrapeTarget } from '../../src/sandbox/prometheus.js';
import { createNamespace, deleteNamespace, hpaPath, replicasOf, sandboxClient, soPath, waitFor } from '../integration/operator-support.js';
import { createConsumer, createScaledObject, repoDir, startOperator, waitForReplicas, type RunningProcess } from './support.js';

/*
 * A cluster where prometheus-adapter already serves external.metrics.k8s.io for an HPA of its own, and swell
 * joins: swell takes the one APIService over, forwards every metric no ScaledObject names to the adapter, and
 * hands the APIService back when it goes. Both HPAs scale their Deployments through the one APIService.
 */

const run = promisify(execFile);
const suffix = randomBytes(3).toString('hex');
const namespace = `e2e-shared-${suffix}`;
const adapterMetric = 'sandbox_shared_backlog';
const metricsPath = `/apis/external.metrics.k8s.io/v1beta1`;
const apiServicePath = '/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io';
const adapterService = { namespace: 'monitoring', name: 'prometheus-adapter' };
const work = join(repoDir, '.swell', 'e2e', namespace);

let client: KubeClient;
let kubeConfig: KubeConfig;
let operator: RunningProcess | undefined;
let exporter: Server;
let target: string;
let swellMetric = '';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the sandbox setup should have started prometheus-adapter`);
  return value;
}

/** GET through the aggregation layer as `user` (impersonated by the admin), status and body as they come. */
async function getAs(user: string | undefined, path: string): Promise<{ status: number; body: string }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster');
  const url = new URL(path, cluster.server);
  const options: RequestOptions = {
    method: 'GET',
    hostname: url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
    headers: { accept: 'application/json', ...(user ? { 'impersonate-user': user } : {}) },
  };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

const adapterMetricPath = () => `${metricsPath}/namespaces/${namespace}/${adapterMetric}?labelSelector=${encodeURIComponent(`story=${namespace}`)}`;
const swellMetricPath = () => `${metricsPath}/namespaces/${namespace}/${swellMetric}?labelSelector=${encodeURIComponent('scaledobject.keda.sh/name=worker')}`;

/** The APIService as prometheus-adapter's own install registers it: its Service, its CA. */
async function registerAdapter(): Promise<void> {
  const port = Number(new URL(env('PROMETHEUS_ADAPTER_URL')).port);
  await client
    .request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: adapterService.namespace } } })
    .catch(() => undefined);
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { ...adapterService },
    spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ name: 'https', port, protocol: 'TCP' }] },
  };
  await client
    .request('DELETE', resourcePath({ group: '', version: 'v1', resource: 'services', namespace: adapterService.namespace, name: adapterService.name }))
    .catch(() => undefined);
  await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'services', namespace: adapterService.namespace }), { body: service });
  await client.request('DELETE', apiServicePath).catch(() => undefined);
  const caBundle = Buffer.from(await readFile(env('PROMETHEUS_ADAPTER_CA_FILE'))).toString('base64');
  await client.request('POST', '/apis/apiregistration.k8s.io/v1/apiservices', {
    body: {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1beta1.external.metrics.k8s.io', labels: { 'app.kubernetes.io/name': 'prometheus-adapter' } },
      spec: {
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        groupPriorityMinimum: 100,
        versionPriority: 100,
        caBundle,
        service: { ...adapterService, port },
      },
    },
  });
}

/** swell's identity towards the adapter, as its pod has it: a ServiceAccount token, allowed to read external metrics. */
async function serviceAccountToken(): Promise<string> {
  await client.request('POST', resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace }), {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'swell' } },
  });
  const rule = { apiGroups: ['external.metrics.k8s.io'], resources: ['*'], verbs: ['get', 'list'] };
  await client.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${namespace}-external-metrics` }, rules: [rule] },
  });
  await client.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${namespace}-external-metrics` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${namespace}-external-metrics` },
      subjects: [{ kind: 'ServiceAccount', name: 'swell', namespace }],
    },
  });
  const review = await client.request<{ status: { token: string } }>(
    'POST',
    `${resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace, name: 'swell' })}/token`,
    {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    },
  );
  const file = join(work, 'token');
  await writeFile(file, review.status.token, { mode: 0o600 });
  return file;
}

/** An HPA of the cluster's own on the adapter's metric: 10 per replica. */
async function createAdapterHpa(): Promise<void> {
  await client.request('POST', hpaPath(namespace), {
    body: {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'reporter' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'reporter' },
        minReplicas: 1,
        maxReplicas: 10,
        metrics: [
          {
            type: 'External',
            external: {
              metric: { name: adapterMetric, selector: { matchLabels: { story: namespace } } },
              target: { type: 'AverageValue', averageValue: '10' },
            },
          },
        ],
      },
    },
  });
}

async function startExporter(): Promise<void> {
  const registry = new Registry();
  new Gauge({ name: adapterMetric, help: 'work the reporter HPA scales on', labelNames: ['story'], registers: [registry] }).set({ story: namespace }, 40);
  new Gauge({ name: 'e2e_shared_swell_backlog', help: 'work the swell ScaledObject scales on', labelNames: ['story'], registers: [registry] }).set(
    { story: namespace },
    30,
  );
  exporter = createServer((_req, res) => {
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  target = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  await addScrapeTarget(env('PROMETHEUS_TARGETS_FILE'), target);
}

describe('swell beside prometheus-adapter, through one APIService', () => {
  beforeAll(async () => {
    ({ client, kubeConfig } = sandboxClient());
    await mkdir(work, { recursive: true });
    await startExporter();
    await createNamespace(client, namespace);
    await registerAdapter();
    // The adapter serves its metric through the aggregator before swell arrives.
    await waitFor('prometheus-adapter to serve its metric through the APIService', 90_000, async () =>
      (await getAs(undefined, adapterMetricPath())).status === 200 ? true : undefined,
    );
    const tokenFile = await serviceAccountToken();
    await run(process.execPath, ['bin/swell.js', 'apiservice', 'hand-over', '--namespace', namespace], { cwd: repoDir });
    operator = await startOperator(namespace, [
      '--burst',
      'false',
      '--upstream-metrics-url',
      env('PROMETHEUS_ADAPTER_URL'),
      '--upstream-metrics-ca-file',
      env('PROMETHEUS_ADAPTER_CA_FILE'),
      '--upstream-metrics-token-file',
      tokenFile,
    ]);
    await createConsumer(client, namespace, 'worker');
    await createConsumer(client, namespace, 'reporter');
    await client.request('PATCH', `${resourcePath({ group: 'apps', version: 'v1', resource: 'deployments', namespace, name: 'reporter' })}`, {
      body: { spec: { replicas: 1 } },
      contentType: 'application/merge-patch+json',
    });
    await createAdapterHpa();
    await createScaledObject(client, namespace, 'worker', {
      type: 'prometheus',
      metadata: { serverAddress: env('PROMETHEUS_URL'), query: `sum(e2e_shared_swell_backlog{story="${namespace}"})`, threshold: '5' },
    });
  }, 240_000);

  afterAll(async () => {
    await client.request('DELETE', soPath(namespace, 'worker')).catch(() => undefined);
    await waitFor('the ScaledObject to be deleted', 30_000, () =>
      client.request('GET', soPath(namespace, 'worker')).then(
        () => undefined,
        (e: unknown) => (isNotFound(e) ? true : undefined),
      ),
    ).catch(() => undefined);
    const code = await operator?.stop();
    const handedBack = await run(process.execPath, ['bin/swell.js', 'apiservice', 'hand-back', '--namespace', namespace], { cwd: repoDir });
    const restored = await client.request<{ spec: { service?: { name: string; namespace: string } } }>('GET', apiServicePath);
    await removeScrapeTarget(env('PROMETHEUS_TARGETS_FILE'), target);
    await new Promise((resolve) => exporter.close(resolve));
    for (const kind of ['clusterrolebindings', 'clusterroles'])
      await client.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/${kind}/${namespace}-external-metrics`).catch(() => undefined);
    await deleteNamespace(client, namespace);
    await rm(work, { recursive: true, force: true });
    expect(code).toBe(0);
    expect(handedBack.stdout).toContain('restored APIService v1beta1.external.metrics.k8s.io (Service monitoring/prometheus-adapter');
    expect(restored.spec.service).toMatchObject(adapterService);
  }, 120_000);

  it('scales both Deployments: the HPA on the adapter metric and the HPA from the ScaledObject', async () => {
    await waitForReplicas(client, namespace, 'worker', 'scaled out by swell to 30/5', (n) => n === 6, 120_000);
    await waitForReplicas(client, namespace, 'reporter', 'scaled out by its HPA on the adapter metric to 40/10', (n) => n === 4, 120_000);
    const hpa = await client.request<{ spec: { metrics: { external: { metric: { name: string } } }[] } }>('GET', hpaPath(namespace, 'keda-hpa-worker'));
    swellMetric = hpa.spec.metrics[0]?.external.metric.name ?? '';
    expect(swellMetric).toBe('s0-prometheus');
    expect(await replicasOf(client, namespace, 'reporter')).toBe(4);
  });

  it('lists both in discovery', async () => {
    const discovery = await getAs(undefined, metricsPath);
    expect(discovery.status).toBe(200);
    const names = (JSON.parse(discovery.body) as { resources: { name: string }[] }).resources.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['s0-prometheus', adapterMetric]));
  });

  it('refuses a user without RBAC for both, and serves both to one with it', async () => {
    for (const path of [adapterMetricPath(), swellMetricPath()]) {
      const refused = await getAs('nobody-without-rbac', path);
      expect(refused.status, path).toBe(403);
      expect(refused.body).toContain('User \\"nobody-without-rbac\\" cannot');
      expect((await getAs(undefined, path)).status, path).toBe(200);
    }
  });

  it("refuses, by swell's own access check, a user the front proxy vouches for but RBAC does not allow", async () => {
    // As the aggregator calls swell: its front-proxy client certificate and the user in headers.
    const pki = clusterPkiFiles(env(kubePkiEnvVar));
    const [cert, key] = await Promise.all([readFile(pki.frontProxyClient.cert, 'utf8'), readFile(pki.frontProxyClient.key, 'utf8')]);
    const registered = await client.request<{ spec: { service: { port: number } } }>('GET', apiServicePath);
    const direct = (user: string, groups: string[], path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: registered.spec.service.port,
            path,
            cert,
            key,
            rejectUnauthorized: false,
            headers: { 'x-remote-user': user, 'x-remote-group': groups },
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    for (const path of [adapterMetricPath(), swellMetricPath()]) {
      const refused = await direct('nobody-without-rbac', ['system:authenticated'], path);
      expect(refused.status, path).toBe(403);
      expect(refused.body).toMatch(
        /externalmetrics\.external\.metrics\.k8s\.io \\"[^"\\]+\\" is forbidden: User \\"nobody-without-rbac\\" cannot get resource/,
      );
      expect((await direct('swell-sandbox-admin', ['system:masters', 'system:authenticated'], path)).status, path).toBe(200);
    }
  });

  it('when the adapter stops, fails only its metrics with a 503 and keeps serving swell’s', async () => {
    const pidFile = join(repoDir, '.swell', 'test', 'pids', 'prometheus-adapter.pid');
    const { pid } = JSON.parse(await readFile(pidFile, 'utf8')) as { pid: number };
    process.kill(pid, 'SIGTERM');
    const failed = await waitFor('the adapter metric to fail', 30_000, async () => {
      const reply = await getAs(undefined, adapterMetricPath());
      return reply.status === 503 ? reply : undefined;
    });
    expect(failed.body).toMatch(/is served by the upstream metrics server https:\/\/127\.0\.0\.1:\d+, which is unavailable/);
    const own = await getAs(undefined, swellMetricPath());
    expect(own.status).toBe(200);
    const discovery = await getAs(undefined, metricsPath);
    expect(discovery.status).toBe(200);
    // swell's HPA keeps scaling on swell's metric while the other fails.
    expect(await replicasOf(client, namespace, 'worker')).toBe(6);
  });
});
