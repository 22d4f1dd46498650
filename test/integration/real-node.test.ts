// @sandbox kube,node
// The sandbox's real node runs pods: containerd and runc start containers of images imported from a local
// archive (no registry), pods get addresses on the sandbox bridge, their logs come back through the apiserver
// and the kubelet, and a Service's ClusterIP answers from this machine and from another pod. swell's virtual node
// joins the same sandbox beside it.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubernetesServiceIp } from '../../src/sandbox/kube-args.js';
import { nodeContainerdEnvVar } from '../../src/sandbox/node.js';
import { sandboxVirtualNodeName } from '../../src/sandbox/virtual-node.js';
import { busyboxImage, realNodeLabel, realNodeName, realNodeTaint } from '../../src/sandbox/node-config.js';
import { archiveFileName, importImage, listImages } from '../../src/sandbox/node-image.js';
import { defaultCacheDir, sandboxPaths } from '../../src/sandbox/paths.js';
import { sandboxComponents } from '../../src/sandbox/components.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { createLogger } from '../../src/log.js';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';

const kubeconfig = new KubeConfig();
kubeconfig.loadFromDefault();
const core = kubeconfig.makeApiClient(CoreV1Api);
const containerdSocket = process.env[nodeContainerdEnvVar] ?? '';

/** Polls until `probe` returns a value other than undefined; fails naming what was awaited and the last error. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
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

/** A pod asking for the real node (selector and toleration), running `script` in the given image, never pulled. */
function realNodePod(name: string, image: string, script: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      nodeSelector: { [realNodeLabel.key]: realNodeLabel.value },
      tolerations: [{ ...realNodeTaint, operator: 'Equal' }],
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', script] }],
    },
  };
}

async function podPhase(namespace: string, name: string, phases: readonly string[]): Promise<V1Pod | undefined> {
  const pod = await core.readNamespacedPod({ namespace, name });
  return phases.includes(pod.status?.phase ?? '') ? pod : undefined;
}

async function podLog(namespace: string, name: string): Promise<string> {
  return core.readNamespacedPodLog({ namespace, name, container: 'main' });
}

describe('the real node', () => {
  const namespace = `real-node-${randomBytes(3).toString('hex')}`;
  /** A second name for the busybox archive, imported by the test itself as a user imports their image. */
  const importedImage = `docker.io/swell/real-node-test:${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    if (!containerdSocket) throw new Error(`${nodeContainerdEnvVar} is not set: the real node did not start (it needs root; see the test setup's output)`);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await eventually(`ServiceAccount ${namespace}/default`, () => core.readNamespacedServiceAccount({ namespace, name: 'default' }));
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: namespace }).catch((error: unknown) => {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    });
  });

  it('is a Ready node that runs on containerd, with its bridge address as InternalIP', async () => {
    const node = await core.readNode({ name: realNodeName });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.34\./);
    const internalIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    expect(internalIp).toMatch(/^10\.245\.\d+\.1$/);
  });

  // Started here and stopped again, not by the header: other suites' burst pods would land on it and start slowly.
  it("gets swell's virtual node beside it from `swell dev up`, Ready and tainted so only burst pods go there", { timeout: 120_000 }, async () => {
    const sandbox = new Sandbox({
      paths: sandboxPaths({ stateDir: join(import.meta.dirname, '..', '..', '.swell', 'test') }),
      components: sandboxComponents(),
      log: createLogger({ level: 'warn' }),
    });
    await sandbox.up(['virtual-node']);
    try {
      const node = await eventually('the virtual node Ready', async () => {
        const found = await core.readNode({ name: sandboxVirtualNodeName });
        return found.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? found : undefined;
      });
      expect(node.spec?.taints?.map((t) => t.key)).toContain('virtual-kubelet.io/provider');
    } finally {
      await sandbox.down(['virtual-node']);
      await core.deleteNode({ name: sandboxVirtualNodeName }).catch(() => undefined);
    }
  });

  it("runs a pod of a locally imported image, whose log the API returns through the node's kubelet", async () => {
    const archives = join(defaultCacheDir(), 'images');
    const folder = (await readdir(archives)).find((d) => d.startsWith('busybox-'));
    expect(folder, `a busybox image folder in ${archives}`).toBeDefined();
    await importImage(containerdSocket, join(archives, folder ?? '', `${archiveFileName(busyboxImage)}.tar`), importedImage);
    expect(await listImages(containerdSocket)).toContain(importedImage);

    const created = Date.now();
    await core.createNamespacedPod({ namespace, body: realNodePod('writer', importedImage, 'echo "written inside pod $(hostname) as uid $(id -u)"; sleep 2') });
    const running = await eventually('pod writer Running or Succeeded', () => podPhase(namespace, 'writer', ['Running', 'Succeeded']));
    console.log(`pod start on the real node (create → Running): ${Date.now() - created} ms`);
    expect(running.spec?.nodeName).toBe(realNodeName);
    expect(running.status?.podIP).toMatch(/^10\.245\.\d+\.\d+$/);

    const log = await eventually('the log line of pod writer', async () => {
      const text = await podLog(namespace, 'writer');
      return text.includes('written inside') ? text : undefined;
    });
    expect(log.trim()).toBe('written inside pod writer as uid 0');

    const done = await eventually('pod writer Succeeded', () => podPhase(namespace, 'writer', ['Succeeded']), 30_000);
    expect(done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
  });

  it("answers on a Service's ClusterIP from this machine and from another pod", async () => {
    const script = 'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www';
    await core.createNamespacedPod({ namespace, body: realNodePod('web', busyboxImage, script, { app: 'web' }) });
    const service = await core.createNamespacedService({
      namespace,
      body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    const clusterIp = service.spec?.clusterIP ?? '';
    expect(clusterIp).toMatch(/^10\.96\./);
    await eventually('pod web Running', () => podPhase(namespace, 'web', ['Running']));

    // From this machine, as the apiserver dials APIService and webhook Services: kube-proxy's rules take the
    // ClusterIP to the pod once they have synced the new endpoint. Each request is bounded; so is the loop.
    const fromHost = await eventually(
      `http://${clusterIp}/ from this machine`,
      async () => {
        const response = await fetch(`http://${clusterIp}/`, { signal: AbortSignal.timeout(2000) });
        return response.ok ? response.text() : undefined;
      },
      30_000,
    );
    expect(fromHost.trim()).toBe('served by web');
    // The apiserver itself reaches the pod network (the services/proxy subresource dials the Service's pod).
    const proxied = await core.connectGetNamespacedServiceProxyWithPath({ namespace, name: 'web:80', path: 'index.html' });
    expect(String(proxied).trim()).toBe('served by web');

    // Debian's static busybox wget crashes resolving even an IP address; nc speaks the one request needed.
    const request = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${clusterIp} 80`;
    const client = `for i in 1 2 3 4 5 6 7 8 9 10; do ${request} | grep 'served by' && exit 0; sleep 1; done; exit 1`;
    await core.createNamespacedPod({ namespace, body: realNodePod('client', busyboxImage, client) });
    const finished = await eventually('pod client finished', () => podPhase(namespace, 'client', ['Succeeded', 'Failed']), 60_000);
    expect(await podLog(namespace, 'client')).toContain('served by web');
    expect(finished.status?.phase).toBe('Succeeded');
  });

  it('reaches the apiserver from a pod through the kubernetes Service', async () => {
    // Plain HTTP to the HTTPS port: the answer can only come from the apiserver itself, and needs no TLS client.
    const script = `for i in 1 2 3 4 5; do printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${kubernetesServiceIp} 443 | grep 'HTTPS server' && exit 0; sleep 1; done; exit 1`;
    await core.createNamespacedPod({ namespace, body: realNodePod('in-cluster', busyboxImage, script) });
    const finished = await eventually('pod in-cluster finished', () => podPhase(namespace, 'in-cluster', ['Succeeded', 'Failed']), 60_000);
    expect(await podLog(namespace, 'in-cluster')).toContain('Client sent an HTTP request to an HTTPS server');
    expect(finished.status?.phase).toBe('Succeeded');
  });
});
