import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface LoadKubeConfigOptions {
  /** An explicit kubeconfig file (`--kubeconfig`); it must exist. */
  kubeconfig?: string;
  /** Environment to read KUBECONFIG and KUBERNETES_SERVICE_HOST/PORT from; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Home directory holding `.kube/config`; defaults to the user's. */
  homeDir?: string;
  /** Where a pod's service-account token and CA are mounted. */
  serviceAccountDir?: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Where the configuration comes from, in the order controller-runtime looks. */
export type KubeConfigSource =
  { kind: 'file'; paths: string[]; origin: 'flag' | 'KUBECONFIG' | 'home' } | { kind: 'in-cluster'; server: string; tokenFile: string; caFile: string };

/**
 * Finds the configuration: an explicit path, else the files listed in KUBECONFIG (missing ones skipped,
 * as kubectl does), else the pod's service account, else `~/.kube/config`. Throws when there is none.
 */
export function resolveKubeConfigSource(options: LoadKubeConfigOptions = {}): KubeConfigSource {
  const env = options.env ?? process.env;
  if (options.kubeconfig) {
    if (!existsSync(options.kubeconfig)) throw new Error(`kubeconfig ${options.kubeconfig} (from --kubeconfig) does not exist`);
    return { kind: 'file', paths: [options.kubeconfig], origin: 'flag' };
  }
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((path) => path !== '');
  if (listed.length > 0) {
    const paths = listed.filter((path) => existsSync(path));
    if (paths.length === 0) throw new Error(`none of the files in KUBECONFIG exist: ${listed.join(delimiter)}`);
    return { kind: 'file', paths, origin: 'KUBECONFIG' };
  }
  const inCluster = inClusterSource(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  if (inCluster) return inCluster;
  const home = join(options.homeDir ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return { kind: 'file', paths: [home], origin: 'home' };
  throw new Error('no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, run in a pod with a service account, or create ~/.kube/config');
}

function inClusterSource(env: Record<string, string | undefined>, dir: string): KubeConfigSource | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(dir, 'token');
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { kind: 'in-cluster', server: `https://${hostPart}:${port}`, tokenFile, caFile: join(dir, 'ca.crt') };
}

/** Loads the Kubernetes client configuration (see {@link resolveKubeConfigSource}) and checks it is usable. */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const source = resolveKubeConfigSource(options);
  const config = new KubeConfig();
  if (source.kind === 'in-cluster') {
    config.loadFromClusterAndUser(
      { name: 'in-cluster', server: source.server, caFile: source.caFile, skipTLSVerify: false },
      // The token file is re-read as it rotates (bound service-account tokens expire).
      { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: source.tokenFile } } },
    );
    return config;
  }
  const [first, ...rest] = source.paths;
  loadFile(config, first!);
  for (const path of rest) {
    const more = new KubeConfig();
    loadFile(more, path);
    // As with kubectl, the first file that sets current-context wins.
    config.mergeConfig(more, config.currentContext !== undefined && config.currentContext !== '');
  }
  checkUsable(config, source.paths);
  return config;
}

function loadFile(config: KubeConfig, path: string): void {
  try {
    config.loadFromFile(path);
  } catch (error) {
    throw new Error(`cannot read kubeconfig ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function checkUsable(config: KubeConfig, paths: string[]): void {
  const where = paths.join(delimiter);
  const contextName = config.getCurrentContext();
  if (!contextName) throw new Error(`kubeconfig ${where} sets no current-context`);
  const context = config.getContextObject(contextName);
  if (!context) throw new Error(`kubeconfig ${where}: current-context "${contextName}" is not defined`);
  const cluster = config.getCluster(context.cluster);
  if (!cluster) throw new Error(`kubeconfig ${where}: context "${contextName}" refers to unknown cluster "${context.cluster}"`);
  if (!cluster.server) throw new Error(`kubeconfig ${where}: cluster "${cluster.name}" has no server`);
}
