import { request, type RequestOptions } from 'node:https';
import { readFile, rm, mkdir, writeFile, access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type Daemon, type SandboxComponent } from './component.js';
import { apiserverArgs, controllerManagerArgs, etcdArgs, kubernetesServiceIp, kwokArgs, schedulerArgs, schedulerConfig } from './kube-args.js';
import { installKubeBinaries, kubeBuildNeeded, resolveKubeBinaries, type KubeBinaries } from './kube-install.js';
import { registerSandboxNodes, sandboxNodesSchedulable } from './kube-nodes.js';
import { adminUser, clusterPkiFiles, renderKubeconfig, writeClusterPki, type CertFiles, type ClusterPkiFiles } from './kube-pki.js';
import { freePort } from './net.js';
import { goRequirement } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'kube';

/** Endpoint keys of the daemons besides the apiserver that `healthy` also asks. */
const healthEndpoints = ['controllerManagerHealthz', 'schedulerHealthz', 'kwokHealthz'] as const;

export interface KubeOptions {
  /** `--horizontal-pod-autoscaler-sync-period` of the controller manager; default 2 (upstream: 15). */
  readonly hpaSyncPeriodSeconds?: number;
  /** `--horizontal-pod-autoscaler-downscale-stabilization`; default 10 (upstream: 300). */
  readonly hpaDownscaleStabilizationSeconds?: number;
  /** Where KUBEBUILDER_ASSETS and PATH are read; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Env variable naming the folder of the sandbox cluster's PKI (CA, front-proxy CA, ...), for the operator's tests. */
export const kubePkiEnvVar = 'SWELL_DEV_KUBE_PKI';

/**
 * A real control plane on loopback: etcd, kube-apiserver (with the aggregation layer), kube-controller-manager,
 * kube-scheduler, and kwok keeping two fake nodes Ready and their pods Running. Every `start` makes a fresh
 * cluster (new PKI, empty etcd) under `<stateDir>/kube`; a daemon that died later is started again by the
 * sandbox from its recorded command line, which keeps etcd's data, the PKI and the ports.
 */
export function kubeComponent(options: KubeOptions = {}): SandboxComponent {
  const env = options.env ?? process.env;
  const hpa = {
    hpaSyncPeriodSeconds: positiveSeconds('hpaSyncPeriodSeconds', options.hpaSyncPeriodSeconds ?? 2),
    hpaDownscaleStabilizationSeconds: positiveSeconds('hpaDownscaleStabilizationSeconds', options.hpaDownscaleStabilizationSeconds ?? 10),
  };
  return {
    name: COMPONENT,
    envVars: ['KUBECONFIG'],
    async requirements(paths) {
      return (await kubeBuildNeeded(paths.cacheDir, env)) ? [goRequirement] : [];
    },
    async install(ctx) {
      await installKubeBinaries(ctx, undefined, env);
    },
    async start(ctx) {
      const binaries = await resolveKubeBinaries(ctx.paths.cacheDir, env);
      await requireBinaries(binaries);
      return startControlPlane(ctx, binaries, hpa);
    },
    async healthy(endpoints) {
      try {
        return await controlPlaneHealthy(endpoints);
      } catch {
        return false;
      }
    },
  };
}

/** The apiserver is ready for the admin, and every other daemon whose health URL was published answers. */
async function controlPlaneHealthy(endpoints: ComponentEndpoints): Promise<boolean> {
  const kubeconfig = endpoints.env.KUBECONFIG;
  if (!kubeconfig || !(await apiserverReady(loadKubeConfig(kubeconfig)))) return false;
  const pkiDir = endpoints.env[kubePkiEnvVar];
  const ca = pkiDir ? await readFile(clusterPkiFiles(pkiDir).ca.cert, 'utf8') : undefined;
  const urls = healthEndpoints.map((key) => endpoints.endpoints[key]).filter((url): url is string => url !== undefined);
  const answers = await Promise.all(urls.map(async (url) => (await httpGet(url, { ca })).status === 200));
  return answers.every(Boolean);
}

function positiveSeconds(field: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`kube component option ${field} must be a positive whole number of seconds, got ${value}`);
  return value;
}

async function requireBinaries(binaries: KubeBinaries): Promise<void> {
  for (const path of Object.values<string>({ ...binaries })) {
    try {
      await access(path, constants.X_OK);
    } catch {
      throw new ComponentStartError(COMPONENT, `${path} is missing; run the install step first (swell dev up installs it)`);
    }
  }
}

interface Ports {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiserver: number;
  readonly controllerManager: number;
  readonly scheduler: number;
  readonly kwok: number;
}

async function startControlPlane(
  ctx: ComponentContext,
  bin: KubeBinaries,
  hpa: { hpaSyncPeriodSeconds: number; hpaDownscaleStabilizationSeconds: number },
): Promise<ComponentEndpoints> {
  const dir = join(ctx.paths.stateDir, 'kube');
  // A fresh cluster each time: a new PKI would not match tokens and certificates stored in an old etcd.
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const ports = await distinctFreePorts();
  const pki = await writeClusterPki(join(dir, 'pki'), kubernetesServiceIp);
  const apiserverUrl = `https://127.0.0.1:${ports.apiserver}`;
  const kubeconfigs = await writeKubeconfigs(dir, apiserverUrl, pki);

  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  ctx.progress('starting etcd and kube-apiserver');
  const etcd = await ctx.spawn({
    name: 'etcd',
    command: bin.etcd,
    args: etcdArgs({ dataDir: join(dir, 'etcd'), clientPort: ports.etcdClient, peerPort: ports.etcdPeer }),
  });
  await waitUntil(() => etcdHealthy(etcdUrl), { component: COMPONENT, what: `etcd /health on ${etcdUrl}`, timeoutMs: 30_000, daemon: etcd });

  const apiserver = await ctx.spawn({ name: 'kube-apiserver', command: bin.kubeApiserver, args: apiserverArgs({ etcdUrl, port: ports.apiserver, pki }) });
  const admin = loadKubeConfig(kubeconfigs.admin);
  await waitUntil(() => apiserverReady(admin), {
    component: COMPONENT,
    what: `kube-apiserver /readyz on ${apiserverUrl}`,
    timeoutMs: 120_000,
    intervalMs: 500,
    daemon: apiserver,
  });

  ctx.progress('starting kube-controller-manager, kube-scheduler and kwok');
  const schedulerConfigFile = join(dir, 'kube-scheduler.yaml');
  await writeFile(schedulerConfigFile, schedulerConfig(kubeconfigs.scheduler));
  const [controllerManager, scheduler, kwok] = await Promise.all([
    ctx.spawn({
      name: 'kube-controller-manager',
      command: bin.kubeControllerManager,
      args: controllerManagerArgs({ kubeconfig: kubeconfigs.controllerManager, port: ports.controllerManager, pki, ...hpa }),
    }),
    ctx.spawn({
      name: 'kube-scheduler',
      command: bin.kubeScheduler,
      args: schedulerArgs({ configFile: schedulerConfigFile, kubeconfig: kubeconfigs.scheduler, port: ports.scheduler, pki }),
    }),
    ctx.spawn({
      name: 'kwok',
      command: bin.kwok,
      args: kwokArgs({ kubeconfig: kubeconfigs.kwok, port: ports.kwok, stagesFile: join(ctx.paths.repoDir, 'tools', 'kwok', 'stages.yaml') }),
    }),
  ]);
  const ca = await readFile(pki.ca.cert, 'utf8');
  const health = {
    controllerManagerHealthz: `https://127.0.0.1:${ports.controllerManager}/healthz`,
    schedulerHealthz: `https://127.0.0.1:${ports.scheduler}/healthz`,
    kwokHealthz: `http://127.0.0.1:${ports.kwok}/healthz`,
  } satisfies Record<(typeof healthEndpoints)[number], string>;
  await Promise.all([
    waitForHealthz(controllerManager, health.controllerManagerHealthz, ca),
    waitForHealthz(scheduler, health.schedulerHealthz, ca),
    waitForHealthz(kwok, health.kwokHealthz, ca),
  ]);

  ctx.progress('registering nodes sandbox-node-1 and sandbox-node-2');
  const core = admin.makeApiClient(CoreV1Api);
  await registerSandboxNodes(core);
  await waitUntil(() => sandboxNodesSchedulable(core), {
    component: COMPONENT,
    what: 'sandbox nodes Ready and untainted (kwok)',
    timeoutMs: 60_000,
    intervalMs: 500,
    daemon: kwok,
  });
  await waitUntil(() => serviceAccountExists(core, 'default', 'default'), {
    component: COMPONENT,
    what: 'ServiceAccount default/default (serviceaccount controller)',
    timeoutMs: 60_000,
    intervalMs: 500,
    daemon: controllerManager,
  });

  return {
    env: { KUBECONFIG: kubeconfigs.admin, [kubePkiEnvVar]: pki.dir },
    endpoints: { apiserver: apiserverUrl, etcd: etcdUrl, ...health },
  };
}

/** Six loopback ports, distinct even if the kernel hands the same free port out twice in a row. */
async function distinctFreePorts(): Promise<Ports> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < 6 && attempt < 50; attempt += 1) ports.add(await freePort());
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok] = [...ports];
  if (kwok === undefined || !etcdClient || !etcdPeer || !apiserver || !controllerManager || !scheduler) {
    throw new ComponentStartError(COMPONENT, 'could not find six free TCP ports on 127.0.0.1');
  }
  return { etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok };
}

async function writeKubeconfigs(dir: string, server: string, pki: ClusterPkiFiles) {
  const caPem = await readFile(pki.ca.cert, 'utf8');
  const write = async (name: string, user: string, files: CertFiles) => {
    const path = join(dir, `${name}.kubeconfig`);
    const [certPem, keyPem] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
    await writeFile(path, renderKubeconfig({ server, caPem, user, certPem, keyPem }), { mode: 0o600 });
    return path;
  };
  const [admin, controllerManager, scheduler, kwok] = await Promise.all([
    write('admin', adminUser, pki.admin),
    write('kube-controller-manager', 'system:kube-controller-manager', pki.controllerManager),
    write('kube-scheduler', 'system:kube-scheduler', pki.scheduler),
    write('kwok', 'kwok', pki.kwok),
  ]);
  return { admin, controllerManager, scheduler, kwok };
}

async function waitForHealthz(daemon: Daemon, url: string, ca: string): Promise<void> {
  await waitUntil(async () => (await httpGet(url, { ca })).status === 200, {
    component: COMPONENT,
    what: `${daemon.name} ${url}`,
    timeoutMs: 60_000,
    intervalMs: 500,
    daemon,
  });
}

function loadKubeConfig(path: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

/** kube-apiserver's /readyz answers "ok" to the kubeconfig's user. */
async function apiserverReady(config: KubeConfig): Promise<boolean> {
  const server = config.getCurrentCluster()?.server;
  if (!server) return false;
  const tls: RequestOptions = {};
  await config.applyToHTTPSOptions(tls);
  const response = await httpGet(`${server}/readyz`, tls);
  return response.status === 200 && response.body.trim() === 'ok';
}

async function etcdHealthy(url: string): Promise<boolean> {
  const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
  return response.ok && ((await response.json()) as { health?: string }).health === 'true';
}

async function serviceAccountExists(core: CoreV1Api, namespace: string, name: string): Promise<boolean> {
  try {
    await core.readNamespacedServiceAccount({ namespace, name });
    return true;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return false;
    throw error;
  }
}

/** One GET with a short timeout; over https with the given CA and optional client certificate. */
function httpGet(url: string, tls: RequestOptions): Promise<{ status: number; body: string }> {
  if (url.startsWith('http://')) {
    return fetch(url, { signal: AbortSignal.timeout(2000) }).then(async (r) => ({ status: r.status, body: await r.text() }));
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, method: 'GET', timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
