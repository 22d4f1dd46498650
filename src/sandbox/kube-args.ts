import { stringify } from 'yaml';
import { frontProxyClientName, type ClusterPkiFiles } from './kube-pki.js';

/** Address ranges of the sandbox cluster; nothing routes them, they only have to be valid and disjoint. */
export const serviceClusterIpRange = '10.96.0.0/16';
/** The `kubernetes` Service's ClusterIP: the first address of the service range, named in the apiserver cert. */
export const kubernetesServiceIp = '10.96.0.1';
export const podCidr = '10.244.0.0/16';

/** Nodes kwok manages carry this annotation; the swell virtual node does not, so kwok leaves it alone. */
export const kwokNodeAnnotation = { key: 'kwok.x-k8s.io/node', value: 'fake' } as const;

export interface EtcdArgs {
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

/**
 * Single-member etcd on loopback. `--unsafe-no-fsync` because the data is thrown away with the sandbox and
 * fsync latency dominates apiserver writes on small disks.
 */
export function etcdArgs(a: EtcdArgs): string[] {
  const client = `http://127.0.0.1:${a.clientPort}`;
  const peer = `http://127.0.0.1:${a.peerPort}`;
  return [
    '--name=sandbox',
    `--data-dir=${a.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=sandbox=${peer}`,
    '--unsafe-no-fsync=true',
    '--logger=zap',
    '--log-level=warn',
  ];
}

export interface ApiserverArgs {
  readonly etcdUrl: string;
  readonly port: number;
  readonly pki: ClusterPkiFiles;
}

export function apiserverArgs(a: ApiserverArgs): string[] {
  const { pki } = a;
  return [
    `--etcd-servers=${a.etcdUrl}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${a.port}`,
    // The default would be the default-route interface's address, and there may be none.
    '--advertise-address=127.0.0.1',
    // Endpoints may not hold loopback addresses, so the `kubernetes` Endpoints reconciler would only log errors;
    // the real node publishes them itself, pointing at a relay on its node IP.
    '--endpoint-reconciler-type=none',
    `--tls-cert-file=${pki.apiserver.cert}`,
    `--tls-private-key-file=${pki.apiserver.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
    // Node: the real node's kubelet (system:node:<name>) may read what its own pods need, and no more.
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // The aggregation layer: the apiserver proxies to APIService backends with the front-proxy client cert.
    // No --enable-aggregator-routing: it resolves backends through Endpoints, which cannot hold 127.0.0.1,
    // whereas the default resolves an ExternalName Service straight to its host name, and a ClusterIP Service to
    // its ClusterIP, which the real node's kube-proxy forwards from this machine to the pods.
    `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
    `--requestheader-allowed-names=${frontProxyClientName}`,
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
    `--proxy-client-key-file=${pki.frontProxyClient.key}`,
    // Logs and exec go through the node's kubelet API, which only answers callers it can authenticate.
    `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
    `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
    // Nothing resolves node host names here; dial kubelets at the address they publish.
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    '--profiling=false',
    '--v=1',
  ];
}

export interface ControllerManagerArgs {
  readonly kubeconfig: string;
  readonly port: number;
  readonly pki: ClusterPkiFiles;
  readonly hpaSyncPeriodSeconds: number;
  readonly hpaDownscaleStabilizationSeconds: number;
}

export function controllerManagerArgs(a: ControllerManagerArgs): string[] {
  const { pki } = a;
  return [
    `--kubeconfig=${a.kubeconfig}`,
    `--authentication-kubeconfig=${a.kubeconfig}`,
    `--authorization-kubeconfig=${a.kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${a.port}`,
    `--tls-cert-file=${pki.controllerManagerServing.cert}`,
    `--tls-private-key-file=${pki.controllerManagerServing.key}`,
    '--leader-elect=false',
    // Each controller acts as its own service account, so RBAC is exercised as in a real cluster.
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
    `--root-ca-file=${pki.ca.cert}`,
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    '--controllers=*',
    `--horizontal-pod-autoscaler-sync-period=${a.hpaSyncPeriodSeconds}s`,
    `--horizontal-pod-autoscaler-downscale-stabilization=${a.hpaDownscaleStabilizationSeconds}s`,
    // A stopped virtual node turns NotReady in ~20 s instead of the default ~45 s.
    '--node-monitor-grace-period=20s',
    '--profiling=false',
    '--v=1',
  ];
}

export interface SchedulerArgs {
  readonly configFile: string;
  readonly kubeconfig: string;
  readonly port: number;
  readonly pki: ClusterPkiFiles;
}

export function schedulerArgs(a: SchedulerArgs): string[] {
  return [
    `--config=${a.configFile}`,
    `--authentication-kubeconfig=${a.kubeconfig}`,
    `--authorization-kubeconfig=${a.kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${a.port}`,
    `--tls-cert-file=${a.pki.schedulerServing.cert}`,
    `--tls-private-key-file=${a.pki.schedulerServing.key}`,
    '--v=1',
  ];
}

/** The scheduler takes its client connection and leader election only from a config file. */
export function schedulerConfig(kubeconfig: string): string {
  return stringify({
    apiVersion: 'kubescheduler.config.k8s.io/v1',
    kind: 'KubeSchedulerConfiguration',
    clientConnection: { kubeconfig },
    leaderElection: { leaderElect: false },
  });
}

export interface KwokArgs {
  readonly kubeconfig: string;
  readonly port: number;
  /** tools/kwok/stages.yaml: how nodes and pods move through their lifecycle. */
  readonly stagesFile: string;
}

/**
 * kwok playing the sandbox stages on annotated nodes only; it renews each node's Lease so the node lifecycle
 * controller sees it alive. Its own server (healthz) listens on loopback only.
 */
export function kwokArgs(a: KwokArgs): string[] {
  return [
    `--config=${a.stagesFile}`,
    `--kubeconfig=${a.kubeconfig}`,
    '--node-lease-duration-seconds=40',
    `--manage-nodes-with-annotation-selector=${kwokNodeAnnotation.key}=${kwokNodeAnnotation.value}`,
    `--server-address=127.0.0.1:${a.port}`,
    `--cidr=${podCidr}`,
    '--node-ip=127.0.0.1',
  ];
}
