import { execFile } from 'node:child_process';
import { access, constants, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';
import { issueClientCertificate, issueServerCertificate, type CertifiedKey } from '../pki/index.js';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent, type StopContext } from './component.js';
import { installNodeBinaries, nodeBuildNeeded, resolveNodeBinaries, type NodeBinaries } from './kube-install.js';
import { nodeSchedulable } from './kube-nodes.js';
import { clusterPkiFiles, renderKubeconfig } from './kube-pki.js';
import { kubePkiEnvVar } from './kube.js';
import type { ToolRunner } from './maven.js';
import { freePort } from './net.js';
import {
  busyboxImage,
  containerdConfig,
  cniConfList,
  kubeletArgs,
  kubeletConfig,
  kubeProxyArgs,
  kubeProxyConfig,
  nodeDirs,
  nodeNetwork,
  pauseImage,
  realNodeName,
  socketPathFits,
  type NodeDirs,
} from './node-config.js';
import { apiserverRelayArgs, publishApiserverEndpoints } from './node-apiserver.js';
import { claimMachine, killContainers, killStrayShims, ownsMachine, recordSysctls, releaseMachine, setUpBridge, tearDownHost } from './node-host.js';
import { buildBusyboxImages, importImage } from './node-image.js';
import { goRequirement, staticRequirements } from './prerequisites.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'node';

/** Env variables the node publishes: where its containerd listens (for importing images) and the node's name. */
export const nodeContainerdEnvVar = 'SWELL_DEV_NODE_CONTAINERD';
export const nodeNameEnvVar = 'SWELL_DEV_NODE_NAME';

/** The images every node start imports: the pause image pods need, and busybox for tests and demos. */
const localImages = [
  // PID 1 of every pod sandbox only has to stay alive; containerd stops sandboxes with SIGKILL.
  { name: pauseImage, cmd: ['/bin/sleep', '2147483647'] },
  { name: busyboxImage, cmd: ['/bin/sh'] },
] as const;

/** Daemons in start order; stopped in reverse. */
const daemonNames = { containerd: 'containerd', kubelet: 'kubelet', kubeProxy: 'kube-proxy', apiserverRelay: 'apiserver-relay' } as const;

/**
 * A real node on this machine: containerd + runc from Debian running pods of locally imported images, a CNI
 * bridge for their addresses, a kubelet and kube-proxy built from the control plane's module, certificates from
 * the sandbox PKI. Needs root (bridge, iptables, mounts) and a running `kube` component. Each start begins clean:
 * whatever a previous node left (mounts, bridge, rules) is undone first.
 */
export function nodeComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: [nodeContainerdEnvVar],
    async requirements(paths) {
      requireRoot();
      return [...staticRequirements.node, ...((await nodeBuildNeeded(paths.cacheDir)) ? [goRequirement] : [])];
    },
    async install(ctx) {
      await installNodeBinaries(ctx);
      ctx.progress('building the local pause and busybox images (umoci)');
      await buildBusyboxImages(ctx.paths.cacheDir, localImages, hostRun);
    },
    async start(ctx) {
      const binaries = await resolveNodeBinaries(ctx.paths.cacheDir);
      await requireExecutables(binaries);
      return startNode(ctx, binaries);
    },
    async healthy(endpoints) {
      return nodeHealthy(endpoints).catch(() => false);
    },
    async stop(ctx) {
      await stopNode(ctx);
    },
  };
}

function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new ComponentStartError(
      COMPONENT,
      'the real node needs root (it makes a bridge, iptables rules and mounts); run as root or leave "node" out of --components',
    );
}

async function requireExecutables(binaries: NodeBinaries): Promise<void> {
  requireRoot();
  for (const path of Object.values<string>({ ...binaries })) {
    try {
      await access(path, constants.X_OK);
    } catch {
      throw new ComponentStartError(COMPONENT, `${path} is missing; run the install step first (swell dev install)`);
    }
  }
}

interface NodePorts {
  readonly kubelet: number;
  readonly kubeletHealthz: number;
  readonly kubeProxyHealthz: number;
  readonly kubeProxyMetrics: number;
}

async function startNode(ctx: ComponentContext, bin: NodeBinaries): Promise<ComponentEndpoints> {
  const kubeconfig = ctx.env.KUBECONFIG;
  const pkiDir = ctx.env[kubePkiEnvVar];
  if (!kubeconfig || !pkiDir)
    throw new ComponentStartError(COMPONENT, 'the real node joins the sandbox cluster; start it together with kube (--components kube,node)');
  const dirs = nodeDirs(ctx.paths.stateDir);
  const net = nodeNetwork(ctx.paths.stateDir);
  if (!socketPathFits(dirs.containerdSocket))
    throw new ComponentStartError(COMPONENT, `the state dir is too deep for a unix socket (${dirs.containerdSocket}); choose a shorter --state-dir`);

  // First, so a refusal touches nothing: not this sandbox's files, and above all not the other node's rules.
  try {
    await claimMachine(ctx.paths.stateDir, (stateDir) => nodeNetwork(stateDir).bridge, hostRun);
  } catch (error) {
    throw new ComponentStartError(COMPONENT, (error as Error).message);
  }
  // Leftovers of an interrupted start (its daemons are already stopped by the sandbox or by spawning anew).
  await stopNode({ paths: ctx.paths, log: ctx.log, stopDaemon: () => Promise.resolve(false) });
  await rm(dirs.root, { recursive: true, force: true });
  // Again: cleaning up the leftovers released the claim.
  await claimMachine(ctx.paths.stateDir, (stateDir) => nodeNetwork(stateDir).bridge, hostRun);
  await Promise.all(
    [dirs.cniConfDir, dirs.cniDataDir, dirs.kubeletRoot, dirs.podLogs, dirs.pki, join(dirs.root, 'containerd')].map((d) => mkdir(d, { recursive: true })),
  );
  await recordSysctls(sysctlFile(dirs));

  ctx.progress(`bridge ${net.bridge} ${net.subnet} (node IP ${net.gateway})`);
  await setUpBridge(net, hostRun).catch((error: unknown) => {
    throw new ComponentStartError(COMPONENT, `cannot set up the pod bridge: ${(error as Error).message}`);
  });
  const ports = await distinctFreePorts();
  const server = new KubeConfig();
  server.loadFromFile(kubeconfig);
  const apiserver = server.getCurrentCluster()?.server ?? '';
  const files = await writeNodeFiles(dirs, net, ports, pkiDir, apiserver);

  ctx.progress('starting containerd');
  const containerd = await ctx.spawn({ name: daemonNames.containerd, command: 'containerd', args: ['--config', dirs.containerdConfig], env: sbinEnv() });
  await waitUntil(() => containerdAnswers(dirs.containerdSocket), {
    component: COMPONENT,
    what: `containerd on ${dirs.containerdSocket}`,
    timeoutMs: 30_000,
    daemon: containerd,
  });
  const images = await buildBusyboxImages(ctx.paths.cacheDir, localImages, hostRun);
  for (const image of localImages) await importImage(dirs.containerdSocket, images.archives[image.name] ?? '', image.name, hostRun);

  ctx.progress(`starting kubelet and kube-proxy (node ${realNodeName})`);
  const kubelet = await ctx.spawn({ name: daemonNames.kubelet, command: bin.kubelet, args: kubeletArgs({ dirs, net }), env: sbinEnv() });
  const kubeProxy = await ctx.spawn({ name: daemonNames.kubeProxy, command: bin.kubeProxy, args: kubeProxyArgs(files.kubeProxyConfig), env: sbinEnv() });
  const endpoints = {
    kubelet: `https://${net.gateway}:${ports.kubelet}`,
    kubeletHealthz: `http://127.0.0.1:${ports.kubeletHealthz}/healthz`,
    kubeProxyHealthz: `http://127.0.0.1:${ports.kubeProxyHealthz}/healthz`,
    containerd: `unix://${dirs.containerdSocket}`,
    bridge: net.bridge,
    podSubnet: net.subnet,
  };
  await waitUntil(() => httpOk(endpoints.kubeletHealthz), {
    component: COMPONENT,
    what: `kubelet ${endpoints.kubeletHealthz}`,
    timeoutMs: 60_000,
    intervalMs: 500,
    daemon: kubelet,
  });
  const core = server.makeApiClient(CoreV1Api);
  await waitUntil(() => nodeReady(core), { component: COMPONENT, what: `node ${realNodeName} Ready`, timeoutMs: 90_000, intervalMs: 500, daemon: kubelet });
  await waitUntil(() => httpOk(endpoints.kubeProxyHealthz), {
    component: COMPONENT,
    what: `kube-proxy ${endpoints.kubeProxyHealthz}`,
    timeoutMs: 60_000,
    intervalMs: 500,
    daemon: kubeProxy,
  });

  const apiserverPort = Number(new URL(apiserver).port);
  await ctx.spawn({ name: daemonNames.apiserverRelay, command: 'socat', args: apiserverRelayArgs(net.gateway, apiserverPort) });
  await publishApiserverEndpoints(core, server.makeApiClient(DiscoveryV1Api), net.gateway, apiserverPort);
  return { env: { [nodeContainerdEnvVar]: dirs.containerdSocket, [nodeNameEnvVar]: realNodeName }, endpoints };
}

/** Stops pods, daemons and the machine-level setup, in an order that leaves nothing running or mounted. */
async function stopNode(ctx: StopContext): Promise<void> {
  const dirs = nodeDirs(ctx.paths.stateDir);
  const net = nodeNetwork(ctx.paths.stateDir);
  const present = await access(dirs.root).then(
    () => true,
    () => false,
  );
  if (!present) return;
  // The kubelet would restart what is killed under it; kube-proxy's rules go with the rest below.
  await ctx.stopDaemon(daemonNames.apiserverRelay);
  await ctx.stopDaemon(daemonNames.kubeProxy);
  await ctx.stopDaemon(daemonNames.kubelet);
  if (await containerdAnswers(dirs.containerdSocket).catch(() => false)) await killContainers(dirs.containerdSocket, hostRun);
  await ctx.stopDaemon(daemonNames.containerd);
  await killStrayShims(dirs.containerdSocket);
  // Machine-wide state (kube-proxy's chains, kernel settings) is only ours to undo while no other node runs.
  await tearDownHost(dirs, net, sysctlFile(dirs), hostRun, await ownsMachine(ctx.paths.stateDir));
  await releaseMachine(ctx.paths.stateDir);
}

function sysctlFile(dirs: NodeDirs): string {
  return join(dirs.root, 'sysctls-before.json');
}

async function writeNodeFiles(dirs: NodeDirs, net: ReturnType<typeof nodeNetwork>, ports: NodePorts, pkiDir: string, server: string) {
  const cluster = clusterPkiFiles(pkiDir);
  const [caPem, caKey] = await Promise.all([readFile(cluster.ca.cert, 'utf8'), readFile(cluster.ca.key, 'utf8')]);
  const ca: CertifiedKey = { certificatePem: caPem, privateKeyPem: caKey };
  const [kubeletClient, kubeletServing, kubeProxyClient] = await Promise.all([
    issueClientCertificate(ca, { commonName: `system:node:${realNodeName}`, organizations: ['system:nodes'] }),
    issueServerCertificate(ca, { commonName: realNodeName, dnsNames: [realNodeName, 'localhost'], ipAddresses: [net.gateway, '127.0.0.1'] }),
    // Bound to the system:node-proxier role by the apiserver's default policy.
    issueClientCertificate(ca, { commonName: 'system:kube-proxy' }),
  ]);
  const serving = { cert: join(dirs.pki, 'kubelet-serving.crt'), key: join(dirs.pki, 'kubelet-serving.key') };
  const kubeconfig = (user: string, pair: CertifiedKey) => renderKubeconfig({ server, caPem, user, certPem: pair.certificatePem, keyPem: pair.privateKeyPem });
  const kubeProxyConfigFile = dirs.kubeProxyConfig;
  await Promise.all([
    writeFile(serving.cert, kubeletServing.certificatePem),
    writeFile(serving.key, kubeletServing.privateKeyPem, { mode: 0o600 }),
    writeFile(dirs.kubeletKubeconfig, kubeconfig(`system:node:${realNodeName}`, kubeletClient), { mode: 0o600 }),
    writeFile(dirs.kubeProxyKubeconfig, kubeconfig('system:kube-proxy', kubeProxyClient), { mode: 0o600 }),
    writeFile(dirs.containerdConfig, containerdConfig(dirs)),
    writeFile(join(dirs.cniConfDir, '10-swell.conflist'), cniConfList(net, dirs)),
    writeFile(
      dirs.kubeletConfig,
      kubeletConfig({ dirs, net, port: ports.kubelet, healthzPort: ports.kubeletHealthz, clientCaFile: cluster.ca.cert, servingCert: serving }),
    ),
    writeFile(
      kubeProxyConfigFile,
      kubeProxyConfig({ kubeconfig: dirs.kubeProxyKubeconfig, net, healthzPort: ports.kubeProxyHealthz, metricsPort: ports.kubeProxyMetrics }),
    ),
  ]);
  return { kubeProxyConfig: kubeProxyConfigFile };
}

async function distinctFreePorts(): Promise<NodePorts> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < 4 && attempt < 40; attempt += 1) ports.add(await freePort());
  const [kubelet, kubeletHealthz, kubeProxyHealthz, kubeProxyMetrics] = [...ports];
  if (!kubelet || !kubeletHealthz || !kubeProxyHealthz || !kubeProxyMetrics) throw new ComponentStartError(COMPONENT, 'could not find four free TCP ports');
  return { kubelet, kubeletHealthz, kubeProxyHealthz, kubeProxyMetrics };
}

/** The kubelet and kube-proxy report healthy and containerd answers. */
async function nodeHealthy(endpoints: ComponentEndpoints): Promise<boolean> {
  const socket = endpoints.env[nodeContainerdEnvVar];
  const urls = [endpoints.endpoints.kubeletHealthz, endpoints.endpoints.kubeProxyHealthz];
  if (!socket || urls.some((u) => !u)) return false;
  const answers = await Promise.all([containerdAnswers(socket), ...urls.map((u) => httpOk(u ?? ''))]);
  return answers.every(Boolean);
}

async function nodeReady(core: CoreV1Api): Promise<boolean> {
  const node = await core.readNode({ name: realNodeName });
  return nodeSchedulable(node);
}

async function containerdAnswers(socket: string): Promise<boolean> {
  return hostRun('ctr', ['--address', socket, 'version'], { timeoutMs: 5000 }).then(
    () => true,
    () => false,
  );
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return response.ok;
}

/** Debian keeps ip, iptables and mount helpers in sbin folders that a user's PATH may lack. */
function sbinEnv(): Record<string, string> {
  return { PATH: ['/usr/local/sbin', '/usr/sbin', '/sbin', process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(':') };
}

const hostRun: ToolRunner = (command, args, options) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, env: { ...process.env, ...sbinEnv() }, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve(`${stdout}${stderr}`);
        reject(
          new Error(
            `\`${command} ${args.join(' ')}\` failed: ${error.message.split('\n')[0] ?? ''}${stderr ? `\n${stderr.trimEnd().split('\n').slice(-10).join('\n')}` : ''}`,
          ),
        );
      },
    );
  });
