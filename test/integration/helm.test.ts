// @sandbox kube
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { burstPodWebhookName, burstPodWebhookPath } from '../../src/burst/webhook.js';
import { parseOperatorFlags } from '../../src/cli/operator.js';
import { parseVirtualNodeFlags } from '../../src/cli/virtual-node.js';
import { isNotFound } from '../../src/kube/errors.js';
import { createHttpKubeClient, resourcePath, type KubeClient } from '../../src/kube/client.js';
import { defaultCacheDir } from '../../src/sandbox/paths.js';
import { ensureHelm } from '../../src/sandbox/helm.js';
import { kedaWebhookPaths } from '../../src/webhooks/keda-validation.js';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  replicasOf,
  sandboxClient,
  setHelmOwnershipOfCrds,
  soPath,
  hpaPath,
  waitFor,
} from './operator-support.js';

const repoDir = join(import.meta.dirname, '..', '..');
const chartDir = join(repoDir, 'charts', 'swell');
const suffix = randomBytes(3).toString('hex');
// Not "swell": other suites register swell-admission and swell-system objects in the same sandbox.
const release = 'swell-it';
const releaseNamespace = `swell-helm-${suffix}`;
const appNamespace = `swell-helm-apps-${suffix}`;
const kubeVersion = '1.34.0';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [field: string]: unknown;
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }[];
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
}

let helm: string;
let kubeConfig: KubeConfig;
let admin: KubeClient;

function run(command: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: repoDir, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: process.env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

async function ciValueFiles(): Promise<string[]> {
  return (await readdir(join(chartDir, 'ci'))).filter((f) => f.endsWith('-values.yaml')).sort();
}

async function template(valueFiles: string[] = [], sets: string[] = []): Promise<KubeObject[]> {
  const args = ['template', release, chartDir, '--namespace', releaseNamespace, '--kube-version', kubeVersion];
  for (const file of valueFiles) args.push('-f', join(chartDir, 'ci', file));
  for (const set of sets) args.push('--set', set);
  return parseAllDocuments(await run(helm, args))
    .map((d) => d.toJSON() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

function find(objects: KubeObject[], kind: string, name?: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function one(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as KubeObject;
}

function podSpec(deployment: KubeObject): PodSpec {
  return (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}

function rulesOf(objects: KubeObject[], kind: 'ClusterRole' | 'Role', name: string, namespace?: string): PolicyRule[] {
  const role = find(objects, kind, name).find((r) => namespace === undefined || r.metadata.namespace === namespace);
  if (!role) throw new Error(`no ${kind} ${name}${namespace ? ` in ${namespace}` : ''}`);
  return (role as unknown as { rules: PolicyRule[] }).rules;
}

/** Whether a rule list grants `verb` on `group/resource` (optionally a named object), as RBAC evaluates it. */
function grants(rules: PolicyRule[], group: string, resource: string, verb: string, name?: string): boolean {
  return rules.some(
    (r) =>
      (r.apiGroups ?? []).some((g) => g === group || g === '*') &&
      (r.resources ?? []).some((x) => x === resource || x === '*') &&
      r.verbs.some((v) => v === verb || v === '*') &&
      (!r.resourceNames?.length || (name !== undefined && r.resourceNames.includes(name))),
  );
}

beforeAll(async () => {
  helm = await ensureHelm(defaultCacheDir(), (message) => process.stderr.write(`[helm] ${message}\n`));
  ({ kubeConfig, client: admin } = sandboxClient());
}, 30 * 60_000);

describe('helm lint', () => {
  it('passes --strict with the default values and every ci values file', async () => {
    await run(helm, ['lint', chartDir, '--strict', '--kube-version', kubeVersion]);
    for (const file of await ciValueFiles()) await run(helm, ['lint', chartDir, '--strict', '--kube-version', kubeVersion, '-f', join(chartDir, 'ci', file)]);
  });

  it('rejects values the schema forbids, naming the field', async () => {
    await expect(run(helm, ['template', release, chartDir, '--set', 'webhooks.failurePolicy=Sometimes'])).rejects.toThrow(/failurePolicy/);
    await expect(run(helm, ['template', release, chartDir, '--set', 'operator.replicas=3'])).rejects.toThrow(/replicas/);
    await expect(run(helm, ['template', release, chartDir, '--set', 'operator.shards=0'])).rejects.toThrow(/shards/);
  });

  it.each([
    ['operator.leaderElect=false', /leaderElect=false needs operator.replicaCount=1/],
    ['operator.leaderElect=false,operator.replicaCount=1,operator.shards=3', /shards > 1 needs operator.leaderElect=true/],
    ['operator.podDisruptionBudget.maxUnavailable=1', /minAvailable or maxUnavailable, not both/],
    ['certificates.certManager.enabled=true,certificates.certManager.issuer.create=false', /issuer.name is required/],
    ['serviceAccount.create=false', /serviceAccount.name is required/],
  ])('refuses the contradictory settings %s, saying why', async (set, message) => {
    await expect(run(helm, ['template', release, chartDir, '--set', set])).rejects.toThrow(message);
  });
});

describe('helm template with the default values', () => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await template();
  });
  const operator = `${release}-operator`;

  it('renders the CRDs, the operator, its Services, the APIService, the webhooks and the dashboard', () => {
    expect(
      find(objects, 'CustomResourceDefinition')
        .map((c) => c.metadata.name)
        .sort(),
    ).toEqual([
      'burstpolicies.swell.dev',
      'clustertriggerauthentications.keda.sh',
      'scaledjobs.keda.sh',
      'scaledobjects.keda.sh',
      'triggerauthentications.keda.sh',
    ]);
    for (const crd of find(objects, 'CustomResourceDefinition')) expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(
      find(objects, 'Service')
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual([`${release}-metrics-apiserver`, `${release}-operator`, `${release}-webhooks`]);
    expect(one(objects, 'ServiceAccount').metadata.name).toBe(release);
    expect(one(objects, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1 });
    expect(one(objects, 'ConfigMap', `${release}-dashboard`).metadata.labels?.grafana_dashboard).toBe('1');
    expect(find(objects, 'Deployment').map((d) => d.metadata.name)).toEqual([operator]);
  });

  it('points the APIService at the metrics Service on its https port', () => {
    const apiService = one(objects, 'APIService', 'v1beta1.external.metrics.k8s.io');
    expect(apiService.spec).toEqual({
      group: 'external.metrics.k8s.io',
      version: 'v1beta1',
      groupPriorityMinimum: 100,
      versionPriority: 100,
      service: { name: `${release}-metrics-apiserver`, namespace: releaseNamespace, port: 443 },
    });
    const service = one(objects, 'Service', `${release}-metrics-apiserver`) as unknown as { spec: { ports: { port: number; targetPort: string }[] } };
    const container = podSpec(one(objects, 'Deployment', operator)).containers[0];
    const target = container?.ports?.find((p) => p.name === service.spec.ports[0]?.targetPort);
    expect(target?.containerPort).toBe(6443);
  });

  it('registers the webhooks at the paths and names the webhook server serves', () => {
    const validating = one(objects, 'ValidatingWebhookConfiguration', `${release}-admission`) as unknown as {
      webhooks: { name: string; failurePolicy: string; clientConfig: { service: { name: string; path: string } }; rules: { resources: string[] }[] }[];
    };
    const byResource: Record<string, string> = {};
    for (const w of validating.webhooks) byResource[w.rules[0]?.resources[0] ?? ''] = w.clientConfig.service.path;
    expect(byResource).toEqual({
      scaledobjects: kedaWebhookPaths.scaledObject,
      scaledjobs: kedaWebhookPaths.scaledJob,
      triggerauthentications: kedaWebhookPaths.triggerAuthentication,
      clustertriggerauthentications: kedaWebhookPaths.clusterTriggerAuthentication,
    });
    for (const w of validating.webhooks) expect(w).toMatchObject({ failurePolicy: 'Ignore', clientConfig: { service: { name: `${release}-webhooks` } } });
    const mutating = one(objects, 'MutatingWebhookConfiguration', `${release}-admission`) as unknown as {
      webhooks: { name: string; failurePolicy: string; clientConfig: { service: { path: string } } }[];
    };
    expect(mutating.webhooks).toHaveLength(1);
    expect(mutating.webhooks[0]).toMatchObject({
      name: burstPodWebhookName,
      failurePolicy: 'Ignore',
      clientConfig: { service: { path: burstPodWebhookPath } },
    });
  });

  it('runs two non-root, read-only replicas with probes and resources, with flags the operator accepts', () => {
    const deployment = one(objects, 'Deployment', operator) as unknown as { spec: { replicas: number } } & KubeObject;
    expect(deployment.spec.replicas).toBe(2);
    const pod = podSpec(deployment);
    const container = pod.containers[0] as Container;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.resources?.limits).toEqual({ cpu: '1', memory: '512Mi' });
    expect(container.livenessProbe).toBeDefined();
    expect(container.readinessProbe).toBeDefined();
    const [command, ...flags] = container.args ?? [];
    expect(command).toBe('operator');
    const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    const parsed = parseOperatorFlags(flags, { ...env, POD_NAMESPACE: releaseNamespace });
    expect(parsed).toMatchObject({
      local: false,
      leaderElect: true,
      shards: 1,
      metricsPort: 8080,
      healthPort: 8081,
      leaseNamespace: releaseNamespace,
      clusterAuthNamespace: releaseNamespace,
      certSecret: `${release}-certs`,
      burst: true,
      metricsApi: { enabled: true, port: 6443, serviceName: `${release}-metrics-apiserver`, publishCaBundle: true },
      webhooks: { enabled: true, port: 9443, serviceName: `${release}-webhooks`, configurationName: `${release}-admission`, validateKeda: true },
    });
  });

  it('grants the operator what it calls and scopes the writes it does not need everywhere', () => {
    const rules = rulesOf(objects, 'ClusterRole', operator);
    expect(grants(rules, 'keda.sh', 'scaledobjects/status', 'patch')).toBe(true);
    expect(grants(rules, 'autoscaling', 'horizontalpodautoscalers', 'create')).toBe(true);
    expect(grants(rules, 'apps', 'deployments/scale', 'patch')).toBe(true);
    expect(grants(rules, 'batch', 'jobs', 'create')).toBe(true);
    expect(grants(rules, 'apiregistration.k8s.io', 'apiservices', 'patch', 'v1beta1.external.metrics.k8s.io')).toBe(true);
    expect(grants(rules, 'apiregistration.k8s.io', 'apiservices', 'patch', 'v1.apps')).toBe(false);
    // The chart's webhook configurations: read and patched (caBundle only), never replaced or deleted.
    for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
      expect(grants(rules, 'admissionregistration.k8s.io', kind, 'get', `${release}-admission`)).toBe(true);
      expect(grants(rules, 'admissionregistration.k8s.io', kind, 'patch', `${release}-admission`)).toBe(true);
      expect(grants(rules, 'admissionregistration.k8s.io', kind, 'update', `${release}-admission`)).toBe(false);
      expect(grants(rules, 'admissionregistration.k8s.io', kind, 'delete', `${release}-admission`)).toBe(false);
      expect(grants(rules, 'admissionregistration.k8s.io', kind, 'patch', 'another')).toBe(false);
    }
    expect(grants(rules, 'apiregistration.k8s.io', 'apiservices', 'update', 'v1beta1.external.metrics.k8s.io')).toBe(false);
    expect(grants(rules, 'apps', 'deployments', 'update')).toBe(false);
    expect(grants(rules, '', 'secrets', 'create')).toBe(false);
    expect(grants(rules, '', 'nodes', 'delete')).toBe(false);
    const ownNamespace = rulesOf(objects, 'Role', operator, releaseNamespace);
    expect(grants(ownNamespace, 'coordination.k8s.io', 'leases', 'update')).toBe(true);
    // Only sharded replicas list Leases (shard and membership ones together) and delete dead replicas' ones.
    expect(grants(ownNamespace, 'coordination.k8s.io', 'leases', 'list')).toBe(false);
    expect(grants(ownNamespace, 'coordination.k8s.io', 'leases', 'delete')).toBe(false);
    expect(grants(ownNamespace, '', 'secrets', 'update', `${release}-certs`)).toBe(true);
    expect(grants(ownNamespace, '', 'secrets', 'create')).toBe(true);
    expect(grants(ownNamespace, '', 'secrets', 'patch', `${release}-certs`)).toBe(false);
    expect(grants(ownNamespace, '', 'secrets', 'update', 'someone-elses')).toBe(false);
  });

  it('lets the metrics server delegate auth and the HPA controller read external metrics', () => {
    const bindings = find(objects, 'ClusterRoleBinding') as unknown as (KubeObject & {
      roleRef: { name: string };
      subjects: { name: string; namespace: string }[];
    })[];
    expect(bindings.find((b) => b.roleRef.name === 'system:auth-delegator')?.subjects).toEqual([
      { kind: 'ServiceAccount', name: release, namespace: releaseNamespace },
    ]);
    const reader = bindings.find((b) => b.roleRef.name === `${release}-external-metrics-reader`);
    expect(reader?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'horizontal-pod-autoscaler', namespace: 'kube-system' }]);
    expect(grants(rulesOf(objects, 'ClusterRole', `${release}-external-metrics-reader`), 'external.metrics.k8s.io', 'externalmetrics', 'get')).toBe(true);
    const authReader = one(objects, 'RoleBinding', `${release}-auth-reader`) as unknown as KubeObject & { roleRef: { kind: string; name: string } };
    expect(authReader.metadata.namespace).toBe('kube-system');
    expect(authReader.roleRef).toMatchObject({ kind: 'Role', name: 'extension-apiserver-authentication-reader' });
  });
});

describe('helm template with the ci values', () => {
  it('scoped: secrets readable only in the watched and release namespaces, no CRDs, no pod webhook', async () => {
    const objects = await template(['scoped-values.yaml']);
    const operator = `${release}-operator`;
    expect(find(objects, 'CustomResourceDefinition')).toEqual([]);
    expect(find(objects, 'MutatingWebhookConfiguration')).toEqual([]);
    const cluster = rulesOf(objects, 'ClusterRole', operator);
    expect(grants(cluster, '', 'secrets', 'list')).toBe(false);
    expect(grants(cluster, '', 'pods', 'create')).toBe(false);
    expect(grants(cluster, 'argoproj.io', 'rollouts/scale', 'update')).toBe(true);
    expect(grants(rulesOf(objects, 'Role', operator, 'apps'), '', 'secrets', 'list')).toBe(true);
    expect(grants(rulesOf(objects, 'Role', operator, releaseNamespace), '', 'secrets', 'list')).toBe(true);
    const validating = one(objects, 'ValidatingWebhookConfiguration') as unknown as { webhooks: { failurePolicy: string }[] };
    expect(new Set(validating.webhooks.map((w) => w.failurePolicy))).toEqual(new Set(['Fail']));
    expect(one(objects, 'PodDisruptionBudget').spec).toEqual(expect.objectContaining({ maxUnavailable: 1 }));
    const container = podSpec(one(objects, 'Deployment', operator)).containers[0] as Container;
    expect(parseOperatorFlags((container.args ?? []).slice(1))).toMatchObject({ namespace: 'apps' });
  });

  it('cert-manager: a Certificate for both Services, CA injection, and no caBundle rights', async () => {
    const objects = await template(['cert-manager-values.yaml']);
    const certificate = one(objects, 'Certificate', `${release}-serving`) as unknown as { spec: { dnsNames: string[]; secretName: string } };
    expect(certificate.spec.dnsNames).toEqual(
      expect.arrayContaining([`${release}-metrics-apiserver.${releaseNamespace}.svc`, `${release}-webhooks.${releaseNamespace}.svc`]),
    );
    const injection = `${releaseNamespace}/${release}-serving`;
    for (const kind of ['APIService', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(one(objects, kind).metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(injection);
    }
    const rules = rulesOf(objects, 'ClusterRole', `${release}-operator`);
    expect(grants(rules, 'apiregistration.k8s.io', 'apiservices', 'patch', 'v1beta1.external.metrics.k8s.io')).toBe(false);
    const pod = podSpec(one(objects, 'Deployment', `${release}-operator`));
    expect(pod.containers[0]?.volumeMounts).toContainEqual({ name: 'certificates', mountPath: '/certs', readOnly: true });
    expect(find(objects, 'Issuer').length).toBe(2);
  });

  it('sharded: passes --shards and may list and delete Leases in the release namespace', async () => {
    const objects = await template([], ['operator.shards=4']);
    const rules = rulesOf(objects, 'Role', `${release}-operator`, releaseNamespace);
    expect(grants(rules, 'coordination.k8s.io', 'leases', 'list')).toBe(true);
    expect(grants(rules, 'coordination.k8s.io', 'leases', 'delete')).toBe(true);
    const container = podSpec(one(objects, 'Deployment', `${release}-operator`)).containers[0] as Container;
    expect(parseOperatorFlags((container.args ?? []).slice(1), { POD_NAMESPACE: releaseNamespace })).toMatchObject({ shards: 4, leaderElect: true });
  });

  it('minimal: no APIService, webhooks, certificates or auth delegation', async () => {
    const objects = await template(['minimal-values.yaml']);
    for (const kind of ['APIService', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'ConfigMap'])
      expect(find(objects, kind)).toEqual([]);
    expect(find(objects, 'ClusterRoleBinding').map((b) => b.metadata.name)).not.toContain(`${release}:system:auth-delegator`);
    const rules = rulesOf(objects, 'Role', `${release}-operator`, releaseNamespace);
    expect(grants(rules, '', 'secrets', 'create')).toBe(false);
    const container = podSpec(one(objects, 'Deployment', `${release}-operator`)).containers[0] as Container;
    expect(parseOperatorFlags((container.args ?? []).slice(1))).toMatchObject({
      leaderElect: false,
      burst: true,
      metricsApi: { enabled: false },
      webhooks: { enabled: false },
    });
  });

  it('full: a virtual node with flags it accepts, a ServiceMonitor, the dashboard elsewhere', async () => {
    const objects = await template(['full-values.yaml']);
    const node = one(objects, 'Deployment', `${release}-virtual-node`);
    const [command, ...flags] = podSpec(node).containers[0]?.args ?? [];
    expect(command).toBe('virtual-node');
    expect(podSpec(node).containers[0]?.env?.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    // In the pod: the Node advertises the pod IP and its metrics listen on every interface for the probes.
    expect(parseVirtualNodeFlags(flags, { POD_IP: '10.244.3.4' })).toMatchObject({
      name: 'swell-virtual-node',
      provider: 'process',
      nodeIP: '10.244.3.4',
      listenAddress: '0.0.0.0',
    });
    expect(podSpec(node).serviceAccountName).toBe(`${release}-virtual-node`);
    const nodeRules = rulesOf(objects, 'ClusterRole', `${release}-virtual-node`);
    expect(grants(nodeRules, '', 'nodes/status', 'patch')).toBe(true);
    expect(grants(nodeRules, '', 'pods', 'create')).toBe(false);
    expect(
      grants(rulesOf(objects, 'Role', `${release}-virtual-node`, 'kube-node-lease'), 'coordination.k8s.io', 'leases', 'update', 'swell-virtual-node'),
    ).toBe(true);
    expect(one(objects, 'ServiceMonitor').metadata.labels?.release).toBe('prometheus');
    expect(one(objects, 'ConfigMap', `${release}-dashboard`).metadata.namespace).toBe('monitoring');
    const operatorArgs = podSpec(one(objects, 'Deployment', `${release}-operator`)).containers[0]?.args ?? [];
    expect(parseOperatorFlags(operatorArgs.slice(1))).toMatchObject({ clusterAuthNamespace: 'platform', logLevel: 'debug' });
  });
});

/** What the SA may do, asked with its own token (SelfSubjectAccessReview). */
async function saCan(client: KubeClient, attributes: Record<string, string>): Promise<boolean> {
  const review = await client.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attributes } },
  });
  return review.status?.allowed === true;
}

/** A kubeconfig for the sandbox cluster that authenticates as the chart's ServiceAccount with a bound token. */
async function serviceAccountKubeconfig(dir: string, serviceAccount: string): Promise<string> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the sandbox kubeconfig has no current cluster');
  const requested = await admin.request<{ status: { token: string } }>(
    'POST',
    resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace: releaseNamespace, name: serviceAccount, subresource: 'token' }),
    {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    },
  );
  const caData = cluster.caData ?? (cluster.caFile ? (await readFile(cluster.caFile)).toString('base64') : undefined);
  const file = join(dir, 'serviceaccount.kubeconfig');
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'sandbox', cluster: { server: cluster.server, ...(caData ? { 'certificate-authority-data': caData } : {}) } }],
      users: [{ name: serviceAccount, user: { token: requested.status.token } }],
      contexts: [{ name: 'sa', context: { cluster: 'sandbox', user: serviceAccount } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return file;
}

const webhookConfigurationPaths = ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'].map((resource) =>
  resourcePath({ group: 'admissionregistration.k8s.io', version: 'v1', resource, name: `${release}-admission` }),
);

interface WebhookConfiguration {
  metadata: { uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  webhooks: { name: string; clientConfig: { caBundle?: string } & Record<string, unknown> }[];
}

/** The chart's webhook configurations as the apiserver holds them. */
function readWebhookConfigurations(): Promise<WebhookConfiguration[]> {
  return Promise.all(webhookConfigurationPaths.map((path) => admin.request<WebhookConfiguration>('GET', path)));
}

/** What the chart owns of a webhook configuration: everything but the caBundles and the server's bookkeeping. */
function chartOwnedPart(configuration: WebhookConfiguration): unknown {
  const { uid, labels, annotations } = configuration.metadata;
  const webhooks = configuration.webhooks.map(({ clientConfig: { caBundle: _, ...clientConfig }, ...webhook }) => ({ ...webhook, clientConfig }));
  return { metadata: { uid, labels, annotations }, webhooks };
}

/** Set through crds.annotations by the upgrade test, to see the upgrade reach the CRDs. */
const upgradeMark = 'swell.dev/upgraded';

/*
 * Installed watching one namespace: the sandbox is shared with other suites' ScaledObjects, which an operator
 * watching everything would reconcile too. It is also the stricter RBAC: Secrets readable in two namespaces only.
 */
describe('helm install into the sandbox, then the operator with the chart ServiceAccount', () => {
  const scoped = `watchNamespace=${appNamespace}`;
  let workDir: string;
  let operatorProcess: ChildProcess | undefined;
  let operatorLog = '';
  let installed = false;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'swell-helm-'));
    await waitFor('no other release owning APIService v1beta1.external.metrics.k8s.io', 120_000, async () => {
      try {
        await admin.request('GET', '/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io');
        return undefined;
      } catch (error) {
        if (isNotFound(error)) return true;
        throw error;
      }
    });
    await setHelmOwnershipOfCrds(admin, { release, namespace: releaseNamespace }, [upgradeMark]);
  }, 180_000);

  afterAll(async () => {
    // The ScaledObject goes first, while the operator can still remove its finalizer; else the namespace hangs.
    await admin.request('DELETE', soPath(appNamespace, 'shop')).catch(() => undefined);
    await waitFor('ScaledObject shop deleted', 30_000, async () => {
      try {
        await admin.request('GET', soPath(appNamespace, 'shop'));
        return undefined;
      } catch (error) {
        if (isNotFound(error)) return true;
        throw error;
      }
    }).catch(() =>
      admin
        .request('PATCH', soPath(appNamespace, 'shop'), { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' })
        .catch(() => undefined),
    );
    if (operatorProcess && operatorProcess.exitCode === null) {
      const exited = new Promise((resolve) => operatorProcess?.once('exit', resolve));
      operatorProcess.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (operatorProcess.exitCode === null) operatorProcess.kill('SIGKILL');
    }
    if (installed)
      await run(helm, ['uninstall', release, '--namespace', releaseNamespace, '--wait', '--timeout', '60s']).catch((error: unknown) =>
        process.stderr.write(`${String(error)}\n`),
      );
    await setHelmOwnershipOfCrds(admin, undefined, [upgradeMark]);
    await deleteNamespace(admin, appNamespace);
    await deleteNamespace(admin, releaseNamespace);
    await rm(workDir, { recursive: true, force: true });
  }, 120_000);

  it('creates every object the chart renders', async () => {
    await createNamespace(admin, appNamespace);
    await run(
      helm,
      ['install', release, chartDir, '--namespace', releaseNamespace, '--create-namespace', '--set', scoped, '--wait=false', '--timeout', '90s'],
      150_000,
    );
    installed = true;
    const rendered = await template([], [scoped]);
    const missing: string[] = [];
    for (const object of rendered) {
      const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
      const plural = `${object.kind.toLowerCase()}s`;
      const path = resourcePath({
        group: group ?? '',
        version: version ?? 'v1',
        resource: plural,
        name: object.metadata.name,
        ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      });
      await admin.request('GET', path).catch(() => missing.push(`${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`));
    }
    expect(missing).toEqual([]);
    expect(rendered.length).toBeGreaterThan(20);
  }, 180_000);

  it('upgrades in place, CRDs included', async () => {
    await run(
      helm,
      [
        'upgrade',
        release,
        chartDir,
        '--namespace',
        releaseNamespace,
        '--set',
        scoped,
        '--set',
        `crds.annotations.${upgradeMark.replace('.', '\\.')}=yes`,
        '--wait=false',
      ],
      150_000,
    );
    const crd = await admin.request<KubeObject>(
      'GET',
      resourcePath({ group: 'apiextensions.k8s.io', version: 'v1', resource: 'customresourcedefinitions', name: 'scaledobjects.keda.sh' }),
    );
    expect(crd.metadata.annotations?.[upgradeMark]).toBe('yes');
    const status = JSON.parse(await run(helm, ['status', release, '--namespace', releaseNamespace, '--output', 'json'])) as {
      version: number;
      info: { status: string };
    };
    expect(status).toMatchObject({ version: 2, info: { status: 'deployed' } });
  }, 180_000);

  it('reconciles a cron ScaledObject to Ready with its HPA, with no request refused', async () => {
    const rendered = await template([], [scoped]);
    const container = podSpec(one(rendered, 'Deployment', `${release}-operator`)).containers[0] as Container;
    expect(container.args).toContain(`--namespace=${appNamespace}`);
    const kubeconfigFile = await serviceAccountKubeconfig(workDir, release);
    const env: NodeJS.ProcessEnv = { ...process.env, POD_NAME: `${release}-operator-local`, POD_NAMESPACE: releaseNamespace, SWELL_LOG_LEVEL: 'debug' };
    delete env.KUBECONFIG;
    for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
    const beforeOperator = await readWebhookConfigurations();
    for (const configuration of beforeOperator)
      expect(configuration.webhooks.map((w) => w.clientConfig.caBundle)).toEqual(configuration.webhooks.map(() => undefined));
    // The chart's flags (so it runs as in a pod, --local=false), then free ports: the fixed ones may be taken here.
    const freePorts = ['--metrics-port=0', '--health-port=0', '--metrics-api-port=0', '--webhooks-port=0'];
    const args = ['--import', 'tsx', 'src/cli/main.ts', ...(container.args ?? []), `--kubeconfig=${kubeconfigFile}`, ...freePorts];
    operatorProcess = spawn(process.execPath, args, { cwd: repoDir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    operatorProcess.stderr?.on('data', (chunk: Buffer) => {
      operatorLog += chunk.toString('utf8');
    });

    await createDeployment(admin, appNamespace, 'shop', 0);
    const minute = new Date().getUTCMinutes();
    const at = (offset: number) => `${(minute + offset + 60) % 60} * * * *`;
    await admin.request('POST', soPath(appNamespace), {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'shop', namespace: appNamespace },
        spec: {
          scaleTargetRef: { name: 'shop' },
          pollingInterval: 1,
          minReplicaCount: 0,
          maxReplicaCount: 4,
          triggers: [{ type: 'cron', metadata: { timezone: 'Etc/UTC', start: at(-1), end: at(5), desiredReplicas: '2' } }],
        },
      },
    });
    // A refused request ends the wait at once and fails below, naming it; so does the operator exiting.
    const refusedRequests = () => operatorLog.split('\n').filter((line) => /forbidden|"code":403/i.test(line));
    const outcome = await waitFor('ScaledObject shop Ready=True', 90_000, async () => {
      if (operatorProcess?.exitCode !== null) return { exited: `the operator exited (${operatorProcess?.exitCode}):\n${operatorLog.slice(-3000)}` };
      if (refusedRequests().length > 0) return { refused: refusedRequests() };
      const so = await admin.request<{ status?: { conditions?: { type: string; status: string }[]; hpaName?: string } }>('GET', soPath(appNamespace, 'shop'));
      return so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? { ready: so } : undefined;
    });
    expect(outcome.exited).toBeUndefined();
    expect(outcome.refused ?? []).toEqual([]);
    const ready = outcome.ready;
    expect(ready?.status?.hpaName).toBe('keda-hpa-shop');
    await admin.request('GET', hpaPath(appNamespace, 'keda-hpa-shop'));
    // Activation scales 0 → 1 through deployments/scale with the ServiceAccount's rights.
    await waitFor('the Deployment scaled up from zero', 60_000, async () => ((await replicasOf(admin, appNamespace, 'shop')) >= 1 ? true : undefined));
    // The generated serving CA kept in the chart's Secret and published where the apiserver reads it.
    const caBundleOf = async (path: string): Promise<string | undefined> => {
      const object = await admin.request<{ spec?: { caBundle?: string }; webhooks?: { clientConfig: { caBundle?: string } }[] }>('GET', path);
      return object.spec?.caBundle ?? object.webhooks?.[0]?.clientConfig.caBundle;
    };
    await waitFor('the APIService caBundle', 30_000, () => caBundleOf('/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io'));
    await waitFor('the validating webhooks caBundle', 30_000, () =>
      caBundleOf(`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${release}-admission`),
    );
    const secret = await admin.request<{ data?: Record<string, string> }>(
      'GET',
      resourcePath({ group: '', version: 'v1', resource: 'secrets', namespace: releaseNamespace, name: `${release}-certs` }),
    );
    expect(Object.keys(secret.data ?? {})).toEqual(expect.arrayContaining(['ca.crt', 'tls.crt', 'tls.key']));
    // The one CA of the Secret, in every webhook of both chart configurations, which are otherwise as Helm made them.
    const published = await waitFor('every webhook caBundle', 30_000, async () => {
      const configurations = await readWebhookConfigurations();
      return configurations.every((c) => c.webhooks.every((w) => w.clientConfig.caBundle === secret.data?.['ca.crt'])) ? configurations : undefined;
    });
    expect(published.map(chartOwnedPart)).toEqual(beforeOperator.map(chartOwnedPart));
    expect(published.map((c) => c.metadata.labels?.['app.kubernetes.io/managed-by'])).toEqual(['Helm', 'Helm']);
    const lease = await admin.request<{ spec?: { holderIdentity?: string } }>(
      'GET',
      resourcePath({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace: releaseNamespace, name: 'swell-operator' }),
    );
    expect(lease.spec?.holderIdentity).toContain(`${release}-operator-local`);
    expect(refusedRequests()).toEqual([]);
  }, 240_000);

  it('cannot do what the operator never does', async () => {
    const sa = createHttpKubeClient(loadKubeconfigFrom(join(workDir, 'serviceaccount.kubeconfig')));
    const can = (attributes: Record<string, string>) => saCan(sa, attributes);
    // Controls: what the chart grants is granted.
    expect(await can({ group: 'apps', resource: 'deployments', subresource: 'scale', verb: 'patch', namespace: appNamespace })).toBe(true);
    expect(await can({ group: 'apiregistration.k8s.io', resource: 'apiservices', verb: 'patch', name: 'v1beta1.external.metrics.k8s.io' })).toBe(true);
    expect(await can({ resource: 'secrets', verb: 'update', namespace: releaseNamespace, name: `${release}-certs` })).toBe(true);
    expect(await can({ group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verb: 'patch', name: `${release}-admission` })).toBe(
      true,
    );
    expect(await can({ resource: 'secrets', verb: 'list', namespace: appNamespace })).toBe(true);
    // And what it does not need is refused.
    const refused: Record<string, string>[] = [
      { resource: 'nodes', verb: 'delete' },
      { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', verb: 'create' },
      { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verb: 'delete' },
      { group: 'apiregistration.k8s.io', resource: 'apiservices', verb: 'patch', name: 'v1.apps' },
      { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verb: 'update', name: 'someone-elses' },
      { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verb: 'update', name: `${release}-admission` },
      { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verb: 'delete', name: `${release}-admission` },
      { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verb: 'create' },
      { group: 'apiregistration.k8s.io', resource: 'apiservices', verb: 'update', name: 'v1beta1.external.metrics.k8s.io' },
      { group: 'apps', resource: 'deployments', verb: 'delete', namespace: appNamespace },
      { resource: 'secrets', verb: 'create', namespace: appNamespace },
      { resource: 'secrets', verb: 'list' },
      { resource: 'secrets', verb: 'get', namespace: 'kube-system', name: 'any' },
      { resource: 'secrets', verb: 'update', namespace: releaseNamespace, name: 'someone-elses' },
      { resource: 'pods', subresource: 'exec', verb: 'create', namespace: appNamespace },
      { resource: 'namespaces', verb: 'delete' },
    ];
    const allowed: string[] = [];
    for (const attributes of refused) if (await can(attributes)) allowed.push(JSON.stringify(attributes));
    expect(allowed).toEqual([]);
  });

  it('keeps the published caBundles through a helm upgrade, which never renders them', async () => {
    const before = await readWebhookConfigurations();
    expect(before.flatMap((c) => c.webhooks.map((w) => w.clientConfig.caBundle)).every((b) => b !== undefined)).toBe(true);
    await run(
      helm,
      ['upgrade', release, chartDir, '--namespace', releaseNamespace, '--set', scoped, '--set', 'webhooks.timeoutSeconds=7', '--wait=false'],
      150_000,
    );
    const after = await readWebhookConfigurations();
    expect(after.flatMap((c) => c.webhooks.map((w) => (w as { timeoutSeconds?: number }).timeoutSeconds))).toEqual(
      after.flatMap((c) => c.webhooks.map(() => 7)),
    );
    expect(after.map((c) => c.webhooks.map((w) => w.clientConfig.caBundle))).toEqual(before.map((c) => c.webhooks.map((w) => w.clientConfig.caBundle)));
  }, 180_000);
});

function loadKubeconfigFrom(file: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(file);
  return config;
}
