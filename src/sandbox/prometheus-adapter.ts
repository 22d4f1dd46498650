import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createCertificateAuthority, issueServerCertificate } from '../pki/index.js';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent } from './component.js';
import { findOnPath } from './prerequisites.js';
import { freePort } from './net.js';
import { goRequirement } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'prometheus-adapter';
export const prometheusAdapterVersion = 'v0.12.0';

/** The names the adapter's serving certificate carries: loopback, and the Service a registration points at. */
export const prometheusAdapterService = { namespace: 'monitoring', name: 'prometheus-adapter' } as const;

/** Sandbox series whose names start with this are served as external metrics of the same name. */
export const sandboxExternalMetricPrefix = 'sandbox_';

/** Where the adapter binary is kept for a version. */
export function prometheusAdapterBinary(cacheDir: string, version = prometheusAdapterVersion): string {
  return join(cacheDir, `prometheus-adapter-${version}`, 'bin', 'adapter');
}

/**
 * prometheus-adapter, a second external metrics server built on Kubernetes' apiserver library: it
 * authenticates callers by the cluster's front proxy or by TokenReview and authorises them by
 * SubjectAccessReview, as a real one in a cluster does. It serves every Prometheus series named `sandbox_*` as
 * an external metric (the sum over all its series) and registers nothing: whoever tests sharing the API
 * registers it.
 */
export function prometheusAdapterComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: ['PROMETHEUS_ADAPTER_URL', 'PROMETHEUS_ADAPTER_CA_FILE'],
    async requirements(paths) {
      return (await isExecutable(prometheusAdapterBinary(paths.cacheDir))) ? [] : [goRequirement];
    },
    install: (ctx) => buildAdapter(ctx),
    start: startAdapter,
    async healthy(endpoints) {
      const url = endpoints.env.PROMETHEUS_ADAPTER_URL;
      const caFile = endpoints.env.PROMETHEUS_ADAPTER_CA_FILE;
      return url !== undefined && caFile !== undefined && (await adapterHealthy(url, caFile));
    },
  };
}

/** The adapter's rules: one external metric per `sandbox_*` series name, summed over its series. */
export function prometheusAdapterRules(): string {
  return stringify({
    externalRules: [
      {
        seriesQuery: `{__name__=~"^${sandboxExternalMetricPrefix}.*"}`,
        resources: { namespaced: false },
        name: { matches: '^(.*)$', as: '$1' },
        metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})',
      },
    ],
  });
}

export function prometheusAdapterArgs(a: {
  port: number;
  certFile: string;
  keyFile: string;
  kubeconfig: string;
  prometheusUrl: string;
  configFile: string;
}): string[] {
  return [
    '--bind-address=127.0.0.1',
    `--secure-port=${a.port}`,
    `--tls-cert-file=${a.certFile}`,
    `--tls-private-key-file=${a.keyFile}`,
    `--lister-kubeconfig=${a.kubeconfig}`,
    `--authentication-kubeconfig=${a.kubeconfig}`,
    `--authorization-kubeconfig=${a.kubeconfig}`,
    `--prometheus-url=${a.prometheusUrl}`,
    `--config=${a.configFile}`,
    // Series appear within seconds, as tests need; the default is ten minutes.
    '--metrics-relist-interval=2s',
    '--v=1',
  ];
}

async function startAdapter(ctx: ComponentContext): Promise<ComponentEndpoints> {
  const kubeconfig = ctx.env.KUBECONFIG;
  const prometheusUrl = ctx.env.PROMETHEUS_URL;
  if (!kubeconfig || !prometheusUrl)
    throw new ComponentStartError(
      COMPONENT,
      'prometheus-adapter reads the sandbox Prometheus and delegates to the sandbox cluster; start it with kube and prometheus (--components kube,prometheus,prometheus-adapter)',
    );
  const binary = prometheusAdapterBinary(ctx.paths.cacheDir);
  if (!(await isExecutable(binary)))
    throw new ComponentStartError(COMPONENT, `${binary} is missing; run \`swell dev install --components prometheus-adapter\``);
  const dir = join(ctx.paths.stateDir, COMPONENT);
  await mkdir(dir, { recursive: true });
  const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), configFile: join(dir, 'config.yaml') };
  const ca = await createCertificateAuthority({ commonName: 'sandbox-prometheus-adapter-ca' });
  const { namespace, name } = prometheusAdapterService;
  const serving = await issueServerCertificate(ca, { commonName: name, dnsNames: ['localhost', `${name}.${namespace}.svc`], ipAddresses: ['127.0.0.1'] });
  await writeFile(files.caFile, ca.certificatePem);
  await writeFile(files.certFile, serving.certificatePem);
  await writeFile(files.keyFile, serving.privateKeyPem, { mode: 0o600 });
  await writeFile(files.configFile, prometheusAdapterRules());
  const port = await freePort();
  const daemon = await ctx.spawn({ name: COMPONENT, command: binary, args: prometheusAdapterArgs({ port, kubeconfig, prometheusUrl, ...files }), cwd: dir });
  const url = `https://127.0.0.1:${port}`;
  await waitUntil(() => adapterHealthy(url, files.caFile), { component: COMPONENT, what: `${url}/healthz`, timeoutMs: 60_000, daemon });
  return { env: { PROMETHEUS_ADAPTER_URL: url, PROMETHEUS_ADAPTER_CA_FILE: files.caFile }, endpoints: { 'prometheus-adapter': url } };
}

async function adapterHealthy(url: string, caFile: string): Promise<boolean> {
  const ca = await readFile(caFile, 'utf8').catch(() => undefined);
  if (!ca) return false;
  return new Promise((resolve) => {
    const request = get(`${url}/healthz`, { ca, agent: new Agent({ keepAlive: false }), timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

/**
 * Builds the adapter through the wrapper module tools/prometheus-adapter into a temp folder and renames it into
 * place, so a killed build leaves no half binary; a no-op when the binary is there.
 */
async function buildAdapter(ctx: ComponentContext): Promise<void> {
  const binary = prometheusAdapterBinary(ctx.paths.cacheDir);
  if (await isExecutable(binary)) return;
  const go = await findOnPath('go', process.env.PATH);
  if (!go)
    throw new ComponentStartError(
      COMPONENT,
      `"go" is not on PATH; install Go >= 1.26 to build prometheus-adapter ${prometheusAdapterVersion} (tools/prometheus-adapter)`,
    );
  const tmpDir = join(ctx.paths.cacheDir, `.build-prometheus-adapter-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir, { recursive: true });
  ctx.progress(`building prometheus-adapter ${prometheusAdapterVersion} from the Go module proxy (first run: ~5-10 min)`);
  try {
    await goBuild(
      go,
      ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(tmpDir, 'adapter'), 'sigs.k8s.io/prometheus-adapter/cmd/adapter'],
      join(ctx.paths.repoDir, 'tools', COMPONENT),
    );
    await mkdir(join(binary, '..'), { recursive: true });
    await rename(join(tmpDir, 'adapter'), binary);
  } catch (error) {
    throw new ComponentStartError(
      COMPONENT,
      `building prometheus-adapter in tools/${COMPONENT} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

function goBuild(go: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(go, args, { cwd, env: { ...process.env, CGO_ENABLED: '0' }, timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${`${stdout}${stderr}`.trimEnd().split('\n').slice(-30).join('\n')}`));
      else resolve();
    });
  });
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}
