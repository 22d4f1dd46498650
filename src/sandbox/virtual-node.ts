import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { ComponentStartError, type ComponentContext, type ComponentEndpoints, type SandboxComponent } from './component.js';
import { freePort } from './net.js';
import { waitUntil } from './wait.js';

const COMPONENT = 'virtual-node';

/** The sandbox's virtual node; named apart from the default `swell-virtual-node` a user or the demo may run. */
export const sandboxVirtualNodeName = 'sandbox-virtual-node';
export const virtualNodeEnvVar = 'SWELL_DEV_VIRTUAL_NODE';

/**
 * swell's own virtual node (`swell virtual-node --provider process`) as a sandbox server: its pods run as local
 * processes, its kubelet API and cost metrics listen on loopback. Runs the CLI from the same build as this code
 * (the compiled one from dist/, the TypeScript sources under tsx).
 */
export function virtualNodeComponent(): SandboxComponent {
  return {
    name: COMPONENT,
    envVars: [virtualNodeEnvVar],
    requirements: () => Promise.resolve([]),
    install: () => Promise.resolve(),
    start: startVirtualNode,
    async healthy(endpoints) {
      const metrics = endpoints.endpoints.metrics;
      if (!metrics) return false;
      return fetch(metrics, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
    },
  };
}

async function startVirtualNode(ctx: ComponentContext): Promise<ComponentEndpoints> {
  const kubeconfig = ctx.env.KUBECONFIG;
  if (!kubeconfig)
    throw new ComponentStartError(COMPONENT, 'the virtual node joins the sandbox cluster; start it together with kube (--components kube,virtual-node)');
  const [kubeletPort, metricsPort] = [await freePort(), await freePort()];
  const flags = [
    'virtual-node',
    `--kubeconfig=${kubeconfig}`,
    `--name=${sandboxVirtualNodeName}`,
    '--provider=process',
    `--state-dir=${join(ctx.paths.stateDir, 'virtual-node')}`,
    `--port=${kubeletPort}`,
    `--metrics-port=${metricsPort}`,
    '--log-level=info',
  ];
  const daemon = await ctx.spawn({
    name: 'swell-virtual-node',
    command: process.execPath,
    args: [...cliEntry(ctx.paths.repoDir), ...flags],
    cwd: ctx.paths.repoDir,
  });
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  const core = config.makeApiClient(CoreV1Api);
  await waitUntil(async () => nodeReady(await core.readNode({ name: sandboxVirtualNodeName })), {
    component: COMPONENT,
    what: `node ${sandboxVirtualNodeName} Ready`,
    timeoutMs: 60_000,
    intervalMs: 500,
    daemon,
  });
  const metrics = `http://127.0.0.1:${metricsPort}/metrics`;
  return { env: { [virtualNodeEnvVar]: sandboxVirtualNodeName }, endpoints: { kubelet: `https://127.0.0.1:${kubeletPort}`, metrics } };
}

/** A virtual node is tainted on purpose, so Ready is what counts, not schedulable. */
function nodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** node's arguments to run swell's CLI from the build this module belongs to. */
export function cliEntry(repoDir: string, moduleUrl: string = import.meta.url): string[] {
  return fileURLToPath(moduleUrl).endsWith('.ts') ? ['--import', 'tsx', join(repoDir, 'src', 'cli', 'main.ts')] : [join(repoDir, 'bin', 'swell.js')];
}
