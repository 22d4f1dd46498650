import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1Node } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiserverArgs, controllerManagerArgs, etcdArgs, kubernetesServiceIp, kwokArgs, schedulerConfig, serviceClusterIpRange } from './kube-args.js';
import { nodeSchedulable, sandboxNodeManifest } from './kube-nodes.js';
import { kubeComponent } from './kube.js';
import { clusterPkiFiles, renderKubeconfig, writeClusterPki, type ClusterPkiFiles } from './kube-pki.js';

/** Flag values by name from a `--name=value` argument list. */
function flags(args: readonly string[]): Map<string, string> {
  return new Map(args.map((a) => a.replace(/^--/, '').split(/=(.*)/s) as [string, string]));
}

describe('sandbox cluster PKI', () => {
  let dir: string;
  let pki: ClusterPkiFiles;
  const cert = async (path: string) => new X509Certificate(await readFile(path, 'utf8'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kube-pki-'));
    pki = await writeClusterPki(join(dir, 'pki'), kubernetesServiceIp);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('signs every cluster certificate with the cluster CA, and only the front-proxy client with its own CA', async () => {
    const ca = await cert(pki.ca.cert);
    const frontProxyCa = await cert(pki.frontProxyCa.cert);
    for (const files of [pki.apiserver, pki.admin, pki.controllerManager, pki.scheduler, pki.controllerManagerServing, pki.schedulerServing, pki.kwok]) {
      expect((await cert(files.cert)).checkIssued(ca), files.cert).toBe(true);
    }
    const frontProxyClient = await cert(pki.frontProxyClient.cert);
    expect(frontProxyClient.checkIssued(frontProxyCa)).toBe(true);
    expect(frontProxyClient.checkIssued(ca)).toBe(false);
    expect(frontProxyClient.subject).toBe('CN=front-proxy-client');
  });

  it('names the apiserver by loopback and by its in-cluster Service', async () => {
    const apiserver = await cert(pki.apiserver.cert);
    expect(apiserver.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(apiserver.checkIP(kubernetesServiceIp)).toBe(kubernetesServiceIp);
    expect(apiserver.checkHost('kubernetes.default.svc')).toBe('kubernetes.default.svc');
  });

  it('gives the admin system:masters and the components their RBAC user names', async () => {
    expect((await cert(pki.admin.cert)).subject).toContain('O=system:masters');
    expect((await cert(pki.controllerManager.cert)).subject).toBe('CN=system:kube-controller-manager');
    expect((await cert(pki.scheduler.cert)).subject).toBe('CN=system:kube-scheduler');
  });

  it('keeps private keys owner-only', async () => {
    for (const key of [pki.ca.key, pki.admin.key, pki.serviceAccount.privateKey]) expect((await stat(key)).mode & 0o077).toBe(0);
  });

  it('writes a kubeconfig that client-node loads with the embedded credentials', async () => {
    const [caPem, certPem, keyPem] = await Promise.all([readFile(pki.ca.cert, 'utf8'), readFile(pki.admin.cert, 'utf8'), readFile(pki.admin.key, 'utf8')]);
    const path = join(dir, 'admin.kubeconfig');
    await writeFile(path, renderKubeconfig({ server: 'https://127.0.0.1:40001', caPem, user: 'admin', certPem, keyPem }));
    const config = new KubeConfig();
    config.loadFromFile(path);
    expect(config.getCurrentCluster()?.server).toBe('https://127.0.0.1:40001');
    const tls: { ca?: unknown; cert?: unknown; key?: unknown } = {};
    await config.applyToHTTPSOptions(tls);
    expect(String(tls.ca)).toBe(caPem);
    expect(String(tls.cert)).toBe(certPem);
    expect(String(tls.key)).toBe(keyPem);
  });
});

describe('control-plane command lines', () => {
  const pki = clusterPkiFiles('/state/kube/pki');

  it('runs etcd as a single loopback member whose initial cluster matches its name and peer URL', () => {
    const f = flags(etcdArgs({ dataDir: '/d', clientPort: 41001, peerPort: 41002 }));
    expect(f.get('initial-cluster')).toBe(`${f.get('name')}=${f.get('initial-advertise-peer-urls')}`);
    expect(f.get('listen-client-urls')).toBe('http://127.0.0.1:41001');
    expect(f.get('listen-peer-urls')).toBe('http://127.0.0.1:41002');
    expect(f.get('unsafe-no-fsync')).toBe('true');
  });

  it('turns on the aggregation layer with the front-proxy CA and client, without aggregator routing', () => {
    const f = flags(apiserverArgs({ etcdUrl: 'http://127.0.0.1:41001', port: 41003, pki }));
    expect(f.get('requestheader-client-ca-file')).toBe(pki.frontProxyCa.cert);
    expect(f.get('requestheader-allowed-names')).toBe('front-proxy-client');
    expect(f.get('proxy-client-cert-file')).toBe(pki.frontProxyClient.cert);
    expect(f.get('client-ca-file')).toBe(pki.ca.cert);
    expect(f.has('enable-aggregator-routing')).toBe(false);
    expect(f.get('advertise-address')).toBe('127.0.0.1');
    expect(f.get('bind-address')).toBe('127.0.0.1');
    expect(f.get('endpoint-reconciler-type')).toBe('none');
    expect(f.get('authorization-mode')).toBe('Node,RBAC');
    expect(f.get('service-cluster-ip-range')).toBe(serviceClusterIpRange);
  });

  it('dials kubelets at their InternalIP first, since nothing resolves node host names', () => {
    const f = flags(apiserverArgs({ etcdUrl: 'http://127.0.0.1:41001', port: 41003, pki }));
    expect(f.get('kubelet-preferred-address-types')?.split(',')[0]).toBe('InternalIP');
  });

  it('passes the HPA timings to the controller manager', () => {
    const f = flags(controllerManagerArgs({ kubeconfig: '/k', port: 41004, pki, hpaSyncPeriodSeconds: 3, hpaDownscaleStabilizationSeconds: 7 }));
    expect(f.get('horizontal-pod-autoscaler-sync-period')).toBe('3s');
    expect(f.get('horizontal-pod-autoscaler-downscale-stabilization')).toBe('7s');
    expect(f.get('controllers')).toBe('*');
    expect(f.get('use-service-account-credentials')).toBe('true');
    expect(f.get('root-ca-file')).toBe(pki.ca.cert);
    expect(f.get('bind-address')).toBe('127.0.0.1');
  });

  it('gives the scheduler its kubeconfig through the config file', () => {
    expect(parse(schedulerConfig('/state/kube/kube-scheduler.kubeconfig'))).toEqual({
      apiVersion: 'kubescheduler.config.k8s.io/v1',
      kind: 'KubeSchedulerConfiguration',
      clientConnection: { kubeconfig: '/state/kube/kube-scheduler.kubeconfig' },
      leaderElection: { leaderElect: false },
    });
  });

  it('lets kwok manage only annotated nodes, serving on loopback', () => {
    const f = flags(kwokArgs({ kubeconfig: '/k', port: 41005, stagesFile: '/repo/tools/kwok/stages.yaml' }));
    expect(f.get('manage-nodes-with-annotation-selector')).toBe('kwok.x-k8s.io/node=fake');
    expect(f.get('server-address')).toBe('127.0.0.1:41005');
    expect(f.has('manage-all-nodes')).toBe(false);
    expect(f.get('config')).toBe('/repo/tools/kwok/stages.yaml');
    expect(Number(f.get('node-lease-duration-seconds'))).toBeGreaterThan(0);
  });

  it('puts every listener on a port it was given, so no fixed port is used', () => {
    const all = [
      ...etcdArgs({ dataDir: '/d', clientPort: 41001, peerPort: 41002 }),
      ...apiserverArgs({ etcdUrl: 'http://127.0.0.1:41001', port: 41003, pki }),
      ...controllerManagerArgs({ kubeconfig: '/k', port: 41004, pki, hpaSyncPeriodSeconds: 2, hpaDownscaleStabilizationSeconds: 10 }),
      ...kwokArgs({ kubeconfig: '/k', port: 41005, stagesFile: '/repo/tools/kwok/stages.yaml' }),
    ].join(' ');
    for (const fixed of ['6443', '2379', '2380', '10257', '10259', '10247']) expect(all).not.toContain(`:${fixed}`);
  });
});

describe('sandbox nodes', () => {
  it('registers a regular node for kwok with 4 CPU, 16Gi and 110 pods', () => {
    const node = sandboxNodeManifest('sandbox-node-1');
    expect(node.metadata?.labels?.['swell.dev/sandbox-node']).toBe('regular');
    expect(node.metadata?.annotations?.['kwok.x-k8s.io/node']).toBe('fake');
    expect(node.status?.allocatable).toEqual({ cpu: '4', memory: '16Gi', pods: '110' });
    expect(node.status?.capacity).toEqual({ cpu: '4', memory: '16Gi', pods: '110' });
  });

  const ready = { type: 'Ready', status: 'True' };
  const cases: { name: string; node: V1Node; schedulable: boolean }[] = [
    { name: 'ready, no taints', node: { status: { conditions: [ready] } }, schedulable: true },
    { name: 'no conditions yet', node: {}, schedulable: false },
    { name: 'ready is False', node: { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, schedulable: false },
    {
      name: 'ready but still tainted not-ready',
      node: { spec: { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }, status: { conditions: [ready] } },
      schedulable: false,
    },
    {
      name: 'ready but unreachable',
      node: { spec: { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }, status: { conditions: [ready] } },
      schedulable: false,
    },
    {
      name: 'ready with an unrelated taint',
      node: { spec: { taints: [{ key: 'example.com/gpu', effect: 'NoSchedule' }] }, status: { conditions: [ready] } },
      schedulable: true,
    },
    { name: 'cordoned', node: { spec: { unschedulable: true }, status: { conditions: [ready] } }, schedulable: false },
  ];
  it.each(cases)('$name → schedulable=$schedulable', ({ node, schedulable }) => {
    expect(nodeSchedulable(node)).toBe(schedulable);
  });
});

describe('kube component options', () => {
  it.each([
    [{ hpaSyncPeriodSeconds: 0 }, /hpaSyncPeriodSeconds must be a positive whole number of seconds, got 0/],
    [{ hpaDownscaleStabilizationSeconds: 1.5 }, /hpaDownscaleStabilizationSeconds must be a positive whole number of seconds, got 1.5/],
  ])('rejects %o naming the field', (options, error) => {
    expect(() => kubeComponent(options)).toThrow(error);
  });

  it('is unhealthy, not crashing, when its kubeconfig is gone', async () => {
    expect(await kubeComponent().healthy({ env: { KUBECONFIG: '/nonexistent/admin.kubeconfig' }, endpoints: {} })).toBe(false);
    expect(await kubeComponent().healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});
