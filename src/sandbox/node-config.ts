import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { stringify as toToml } from 'smol-toml';
import { stringify as toYaml } from 'yaml';
import { serviceClusterIpRange } from './kube-args.js';

/** The real node's name, and the label that tells it from the kwok nodes and the virtual node. */
export const realNodeName = 'sandbox-real-node';
export const realNodeLabel = { key: 'swell.dev/sandbox-node', value: 'real' } as const;
/**
 * Only pods that tolerate this taint run on the real node: the rest of the suite's pods keep landing on the kwok
 * nodes, where any image name turns Running, whereas the real node can only run images imported into it.
 */
export const realNodeTaint = { key: 'swell.dev/sandbox-node', value: 'real', effect: 'NoSchedule' } as const;

/** Where Debian's containernetworking-plugins installs the CNI plugins. */
export const cniBinDir = '/usr/lib/cni';

/** The pause image every pod sandbox starts from; imported locally under a full name so the CRI never pulls it. */
export const pauseImage = 'docker.io/swell/pause:local';
/** A busybox image for tests and demos (sh, httpd, nc, wget), imported beside the pause image. */
export const busyboxImage = 'docker.io/swell/busybox:local';

/**
 * The pod network of one sandbox: a bridge on this machine and a /24 for its pods. Derived from the state
 * directory so two sandboxes get different bridges and subnets (10.245.1.0/24 .. 10.245.250.0/24), and the same
 * sandbox always gets the same ones, which lets `down` clean up even when the recorded state is lost.
 */
export interface NodeNetwork {
  /** Linux interface name, at most 15 characters. */
  readonly bridge: string;
  /** CNI network name; also names the host-local IPAM folder. */
  readonly name: string;
  readonly subnet: string;
  /** The bridge's own address: the node IP the kubelet publishes and serves on. */
  readonly gateway: string;
}

export function nodeNetwork(stateDir: string): NodeNetwork {
  const digest = createHash('sha256').update(stateDir).digest();
  const octet = (digest.readUInt16BE(0) % 250) + 1;
  const tag = digest.subarray(2, 6).toString('hex');
  return { bridge: `swl-${tag}`, name: `swell-${tag}`, subnet: `10.245.${octet}.0/24`, gateway: `10.245.${octet}.1` };
}

/** Every file and folder of the node, all under `<stateDir>/node`. */
export interface NodeDirs {
  readonly root: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdConfig: string;
  readonly containerdSocket: string;
  readonly cniConfDir: string;
  readonly cniDataDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletKubeconfig: string;
  readonly podLogs: string;
  readonly kubeProxyConfig: string;
  readonly kubeProxyKubeconfig: string;
  readonly pki: string;
  readonly images: string;
}

export function nodeDirs(stateDir: string): NodeDirs {
  const root = join(stateDir, 'node');
  return {
    root,
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    containerdConfig: join(root, 'containerd', 'config.toml'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniDataDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    kubeletKubeconfig: join(root, 'kubelet.kubeconfig'),
    podLogs: join(root, 'pod-logs'),
    kubeProxyConfig: join(root, 'kube-proxy.yaml'),
    kubeProxyKubeconfig: join(root, 'kube-proxy.kubeconfig'),
    pki: join(root, 'pki'),
    images: join(root, 'images'),
  };
}

/** A unix socket path must fit sockaddr_un (108 bytes with the terminating NUL). */
export function socketPathFits(path: string): boolean {
  return Buffer.byteLength(path) < 108;
}

/**
 * containerd with a root, state and socket of its own (so it coexists with a system containerd), the CRI
 * plugin running pods with runc on cgroupfs and networking them with the sandbox's CNI bridge.
 */
export function containerdConfig(dirs: NodeDirs): string {
  return toToml({
    version: 2,
    root: dirs.containerdRoot,
    state: dirs.containerdState,
    grpc: { address: dirs.containerdSocket },
    // No ttrpc, debug or metrics listeners: nothing but the kubelet and `ctr` talk to this containerd.
    ttrpc: { address: '' },
    // Snapshotters this machine lacks would only log errors at every start.
    disabled_plugins: [
      'io.containerd.snapshotter.v1.aufs',
      'io.containerd.snapshotter.v1.btrfs',
      'io.containerd.snapshotter.v1.devmapper',
      'io.containerd.snapshotter.v1.zfs',
    ],
    plugins: {
      'io.containerd.internal.v1.opt': { path: join(dirs.root, 'containerd', 'opt') },
      'io.containerd.grpc.v1.cri': {
        sandbox_image: pauseImage,
        // Root here may lack CAP_SYS_RESOURCE; without this every pod sandbox fails when runc lowers oom_score_adj.
        restrict_oom_score_adj: true,
        disable_apparmor: true,
        disable_hugetlb_controller: true,
        // Network namespaces pinned under the state dir, so `down` finds and unmounts exactly ours.
        netns_mounts_under_state_dir: true,
        stream_server_address: '127.0.0.1',
        stream_server_port: '0',
        containerd: {
          snapshotter: 'overlayfs',
          default_runtime_name: 'runc',
          runtimes: { runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: false } } },
        },
        cni: { bin_dir: cniBinDir, conf_dir: dirs.cniConfDir, max_conf_num: 1 },
      },
    },
  });
}

/**
 * The pod network: a bridge with the gateway on this machine. No masquerade and no default route in pods:
 * pods reach each other, this machine, and Service IPs (through the gateway, where kube-proxy rewrites them),
 * and nothing beyond.
 */
export function cniConfList(net: NodeNetwork, dirs: NodeDirs): string {
  const config = {
    cniVersion: '0.4.0',
    name: net.name,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: dirs.cniDataDir,
          ranges: [[{ subnet: net.subnet, gateway: net.gateway }]],
          routes: [{ dst: serviceClusterIpRange }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export interface KubeletConfigSpec {
  readonly dirs: NodeDirs;
  readonly net: NodeNetwork;
  readonly port: number;
  readonly healthzPort: number;
  readonly clientCaFile: string;
  readonly servingCert: { readonly cert: string; readonly key: string };
}

/**
 * A kubelet for a VM with cgroup v1 and no systemd in charge: cgroupfs, no QoS cgroup hierarchy (root may not
 * create it here), swap tolerated, eviction only on a nearly full disk, image GC off (local images cannot be
 * pulled back). Its API serves on the node IP with a certificate from the sandbox CA and answers callers the
 * sandbox CA vouches for, so `kubectl logs/exec` work.
 */
export function kubeletConfig(spec: KubeletConfigSpec): string {
  return toYaml({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: spec.net.gateway,
    port: spec.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: spec.healthzPort,
    tlsCertFile: spec.servingCert.cert,
    tlsPrivateKeyFile: spec.servingCert.key,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: spec.clientCaFile } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${spec.dirs.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    podLogsDir: spec.dirs.podLogs,
    // No cluster DNS in the sandbox; pods use Service IPs. No resolv.conf: the host's resolvers stay out of pods.
    resolvConf: '',
    clusterDomain: 'cluster.local',
    serializeImagePulls: false,
    maxPods: 110,
    nodeStatusReportFrequency: '10s',
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    shutdownGracePeriod: '0s',
    logging: { format: 'text' },
  });
}

export interface KubeletArgsSpec {
  readonly dirs: NodeDirs;
  readonly net: NodeNetwork;
}

export function kubeletArgs(spec: KubeletArgsSpec): string[] {
  return [
    `--config=${spec.dirs.kubeletConfig}`,
    `--kubeconfig=${spec.dirs.kubeletKubeconfig}`,
    `--root-dir=${spec.dirs.kubeletRoot}`,
    `--cert-dir=${spec.dirs.pki}`,
    `--hostname-override=${realNodeName}`,
    // Not loopback: a node whose only address is 127.0.0.1 publishes no InternalIP for the apiserver to dial.
    `--node-ip=${spec.net.gateway}`,
    `--node-labels=${realNodeLabel.key}=${realNodeLabel.value}`,
    `--register-with-taints=${realNodeTaint.key}=${realNodeTaint.value}:${realNodeTaint.effect}`,
    '--v=1',
  ];
}

export interface KubeProxyConfigSpec {
  readonly kubeconfig: string;
  readonly net: NodeNetwork;
  readonly healthzPort: number;
  readonly metricsPort: number;
}

/**
 * kube-proxy in iptables mode, for ClusterIPs from this machine (the apiserver dials APIService and webhook
 * Services there) and from pods. Pods are told apart by the bridge they come in on; NodePorts listen on the node
 * IP only; conntrack sysctls are left as they are.
 */
export function kubeProxyConfig(spec: KubeProxyConfigSpec): string {
  return toYaml({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: spec.kubeconfig },
    mode: 'iptables',
    hostnameOverride: realNodeName,
    bindAddress: spec.net.gateway,
    clusterCIDR: spec.net.subnet,
    detectLocalMode: 'BridgeInterface',
    detectLocal: { bridgeInterface: spec.net.bridge },
    nodePortAddresses: [`${spec.net.gateway}/32`],
    healthzBindAddress: `127.0.0.1:${spec.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${spec.metricsPort}`,
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { syncPeriod: '30s', minSyncPeriod: '0s' },
  });
}

export function kubeProxyArgs(configFile: string): string[] {
  return [`--config=${configFile}`, '--v=1'];
}
