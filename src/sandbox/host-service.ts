import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, type CoreV1Api, type V1Endpoints, type V1Service } from '@kubernetes/client-node';
import { apiserverRelayArgs } from './node-apiserver.js';

/**
 * The sandbox's servers (Redis, Kafka, ...) listen on loopback, where pods cannot reach them. A relay on the
 * node IP forwards to the server, and a selector-less Service whose Endpoints name that relay gives pods and
 * in-cluster operators a ClusterIP for it, as a Service in front of a managed database would in a real cluster.
 * The relay binds the bridge's own address, so nothing outside this machine can reach it.
 */
export interface HostService {
  /** `clusterIP:port` to hand to pods (there is no cluster DNS in the sandbox). */
  address: string;
  stop(): Promise<void>;
}

export interface HostServiceOptions {
  core: CoreV1Api;
  namespace: string;
  name: string;
  /** The real node's IP on the sandbox bridge (its InternalIP). */
  nodeIp: string;
  /** The server's port on 127.0.0.1; the relay listens on the same port on the node IP. */
  port: number;
  /** The Service's port (what pods dial on the ClusterIP). */
  servicePort: number;
}

export function hostServiceObjects(name: string, nodeIp: string, port: number, servicePort: number): { service: V1Service; endpoints: V1Endpoints } {
  return {
    service: { metadata: { name }, spec: { ports: [{ name: 'tcp', port: servicePort, targetPort: port, protocol: 'TCP' }] } },
    endpoints: { metadata: { name }, subsets: [{ addresses: [{ ip: nodeIp }], ports: [{ name: 'tcp', port, protocol: 'TCP' }] }] },
  };
}

/** Starts the relay and publishes the Service; `stop` ends the relay and deletes the Service (its Endpoints go with it). */
export async function exposeHostService(options: HostServiceOptions): Promise<HostService> {
  const { core, namespace, name, nodeIp, port, servicePort } = options;
  // A process group of its own: socat forks a child per connection, and stopping ends those too.
  const relay = spawn('socat', apiserverRelayArgs(nodeIp, port), { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  relay.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(relay, 'exit').catch(() => undefined);
  const stopRelay = async () => {
    if (relay.pid !== undefined && relay.exitCode === null && relay.signalCode === null) {
      process.kill(-relay.pid, 'SIGTERM');
      await exited;
    }
  };
  try {
    await listening(nodeIp, port, () => (relay.exitCode === null ? undefined : `socat relaying ${nodeIp}:${port} exited: ${stderr.trim()}`));
    const { service, endpoints } = hostServiceObjects(name, nodeIp, port, servicePort);
    const created = await core.createNamespacedService({ namespace, body: service });
    await core.createNamespacedEndpoints({ namespace, body: endpoints });
    return {
      address: `${created.spec?.clusterIP ?? ''}:${servicePort}`,
      async stop() {
        await stopRelay();
        await core.deleteNamespacedService({ namespace, name }).catch((error: unknown) => {
          if (!(error instanceof ApiException && error.code === 404)) throw error;
        });
      },
    };
  } catch (error) {
    await stopRelay();
    throw error;
  }
}

/** Waits (at most 5 s) until something accepts on host:port; `failure` says why to stop early. */
async function listening(host: string, port: number, failure: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const why = failure();
    if (why) throw new Error(why);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port, timeout: 500 }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
      socket.on('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (accepted) return;
    if (Date.now() > deadline) throw new Error(`nothing accepts on ${host}:${port} after 5 s`);
    await sleep(100);
  }
}
