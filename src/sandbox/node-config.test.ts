import { describe, expect, it } from 'vitest';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { serviceClusterIpRange } from './kube-args.js';
import {
  cniBinDir,
  cniConfList,
  containerdConfig,
  kubeletArgs,
  kubeletConfig,
  kubeProxyConfig,
  nodeDirs,
  nodeNetwork,
  pauseImage,
  realNodeName,
  socketPathFits,
} from './node-config.js';

const dirs = nodeDirs('/repo/.swell/dev');
const net = nodeNetwork('/repo/.swell/dev');

describe('nodeNetwork', () => {
  it('gives each state dir its own bridge and /24, the same one every time', () => {
    const again = nodeNetwork('/repo/.swell/dev');
    const other = nodeNetwork('/repo/.swell/test');
    expect(again).toEqual(net);
    expect(other.bridge).not.toBe(net.bridge);
    expect(other.subnet).not.toBe(net.subnet);
  });

  it('keeps interface names within the kernel limit and the gateway inside the subnet', () => {
    for (const dir of ['/a', '/work/wt/x/.swell/test', '/tmp/swell-sandbox-test-123456']) {
      const n = nodeNetwork(dir);
      expect(n.bridge.length).toBeLessThanOrEqual(15);
      expect(n.subnet).toMatch(/^10\.245\.(\d+)\.0\/24$/);
      const octet = Number(/^10\.245\.(\d+)\./.exec(n.subnet)?.[1]);
      expect(octet).toBeGreaterThanOrEqual(1);
      expect(octet).toBeLessThanOrEqual(250);
      expect(n.gateway).toBe(`10.245.${octet}.1`);
    }
  });
});

describe('containerdConfig', () => {
  const config = parseToml(containerdConfig(dirs)) as Record<string, unknown> & { plugins: Record<string, Record<string, unknown>> };
  const cri = config.plugins['io.containerd.grpc.v1.cri'] ?? {};

  it('keeps root, state and socket under the sandbox state dir', () => {
    expect(config.root).toBe(dirs.containerdRoot);
    expect(config.state).toBe(dirs.containerdState);
    expect((config.grpc as { address: string }).address).toBe(dirs.containerdSocket);
    expect(dirs.containerdSocket.startsWith('/repo/.swell/dev/node/')).toBe(true);
  });

  it('runs pods with a local pause image, restricted oom_score_adj and Debian CNI plugins', () => {
    expect(cri.sandbox_image).toBe(pauseImage);
    expect(pauseImage).toMatch(/^docker\.io\//);
    expect(cri.restrict_oom_score_adj).toBe(true);
    expect(cri.netns_mounts_under_state_dir).toBe(true);
    expect(cri.cni).toEqual({ bin_dir: cniBinDir, conf_dir: dirs.cniConfDir, max_conf_num: 1 });
    const runc = (cri.containerd as { runtimes: { runc: { options: { SystemdCgroup: boolean } } } }).runtimes.runc;
    expect(runc.options.SystemdCgroup).toBe(false);
  });
});

describe('cniConfList', () => {
  const list = JSON.parse(cniConfList(net, dirs)) as { name: string; plugins: Record<string, unknown>[] };
  const bridge = list.plugins[0] as {
    type: string;
    bridge: string;
    ipMasq: boolean;
    isGateway: boolean;
    isDefaultGateway?: boolean;
    ipam: { routes: { dst: string }[]; ranges: { subnet: string }[][]; dataDir: string };
  };

  it('puts pods on the sandbox bridge with no masquerade and no default route off the machine', () => {
    expect(bridge.type).toBe('bridge');
    expect(bridge.bridge).toBe(net.bridge);
    expect(bridge.ipMasq).toBe(false);
    expect(bridge.isDefaultGateway).toBeUndefined();
    expect(bridge.ipam.routes).toEqual([{ dst: serviceClusterIpRange }]);
    expect(bridge.ipam.routes.some((r) => r.dst === '0.0.0.0/0')).toBe(false);
    expect(bridge.ipam.ranges[0]?.[0]?.subnet).toBe(net.subnet);
    expect(bridge.ipam.dataDir.startsWith(dirs.root)).toBe(true);
  });
});

describe('kubeletConfig', () => {
  const config = parseYaml(
    kubeletConfig({ dirs, net, port: 41010, healthzPort: 41011, clientCaFile: '/pki/ca.crt', servingCert: { cert: '/pki/k.crt', key: '/pki/k.key' } }),
  ) as Record<string, unknown>;

  it('suits a cgroup v1 VM without systemd', () => {
    expect(config.cgroupDriver).toBe('cgroupfs');
    expect(config.cgroupsPerQOS).toBe(false);
    expect(config.enforceNodeAllocatable).toEqual([]);
    expect(config.failSwapOn).toBe(false);
  });

  it('serves on the node IP with a sandbox-CA certificate, answering only authenticated callers', () => {
    expect(config.address).toBe(net.gateway);
    expect(config.port).toBe(41010);
    expect(config.readOnlyPort).toBe(0);
    expect(config.healthzBindAddress).toBe('127.0.0.1');
    expect(config.tlsCertFile).toBe('/pki/k.crt');
    expect(config.authentication).toEqual({ anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: '/pki/ca.crt' } });
    expect(config.authorization).toEqual({ mode: 'Webhook' });
    expect(config.containerRuntimeEndpoint).toBe(`unix://${dirs.containerdSocket}`);
  });

  it('registers under the node IP, not loopback', () => {
    const args = kubeletArgs({ dirs, net });
    expect(args).toContain(`--node-ip=${net.gateway}`);
    expect(args).toContain(`--hostname-override=${realNodeName}`);
    // Tainted, so pods of other tests keep going to the kwok nodes unless they ask for the real one.
    expect(args).toContain('--register-with-taints=swell.dev/sandbox-node=real:NoSchedule');
    expect(args.find((a) => a.startsWith('--root-dir='))).toBe(`--root-dir=${dirs.kubeletRoot}`);
  });
});

describe('kubeProxyConfig', () => {
  const config = parseYaml(kubeProxyConfig({ kubeconfig: '/k', net, healthzPort: 41012, metricsPort: 41013 })) as Record<string, unknown>;

  it('proxies in iptables mode, tells pods by the bridge, and opens NodePorts on the node IP only', () => {
    expect(config.mode).toBe('iptables');
    expect(config.detectLocalMode).toBe('BridgeInterface');
    expect(config.detectLocal).toEqual({ bridgeInterface: net.bridge });
    expect(config.nodePortAddresses).toEqual([`${net.gateway}/32`]);
    expect(config.healthzBindAddress).toBe('127.0.0.1:41012');
    expect(config.metricsBindAddress).toBe('127.0.0.1:41013');
    expect(config.hostnameOverride).toBe(realNodeName);
  });
});

describe('socketPathFits', () => {
  it('refuses unix socket paths longer than sockaddr_un holds', () => {
    expect(socketPathFits(dirs.containerdSocket)).toBe(true);
    expect(socketPathFits(`/${'x'.repeat(107)}`)).toBe(false);
  });
});
