import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../log.js';
import type { Clock } from '../controller/clock.js';
import { fargatePricing, type CostMeter, type PricingRates } from '../virtual-node/cost/metering.js';
import { formatCostTable, parseCostMetrics } from '../virtual-node/cost/report.js';
import { parseDuration } from '../virtual-node/duration.js';
import type { NodeResources, Provider } from '../virtual-node/provider.js';
import { parseNonNegativeQuantity } from '../kube/quantity.js';
import type { RunningVirtualNode } from '../virtual-node/virtual-node.js';

const help = `usage: swell virtual-node [options]
       swell virtual-node cost [--metrics-url URL]

Runs a virtual node (a kubelet stand-in): registers a Node tainted virtual-kubelet.io/provider=<provider>:NoSchedule,
keeps its Lease and status fresh, runs the pods bound to it through a provider, serves their logs on the kubelet
API, and meters their cost at serverless prices. With --regular it registers untainted nodes of finite size
instead, to stand in for ordinary workers in a sandbox.

options:
  --kubeconfig FILE         kubeconfig to use (default: KUBECONFIG, in-cluster, ~/.kube/config)
  --name NAME               node name (default swell-virtual-node; with --regular: swell-node, numbered from 1)
  --provider NAME           simulated (default) or process (runs each container's command as a local process)
  --cpu QUANTITY            advertised CPU (default 1k; with --regular 4)
  --memory QUANTITY         advertised memory (default 4Ti; with --regular 16Gi)
  --pods N                  advertised pod capacity (default 5k; with --regular 110)
  --regular                 register untainted nodes with finite capacity
  --count N                 with --regular: how many nodes (default 1)
  --state-dir DIR           where the process provider keeps pod state and logs (default .swell/virtual-node)
  --port PORT               kubelet API port (default 10250; 0 picks a free port; with --count each node takes the next)
  --node-ip IP              address the Node advertises for its kubelet API (env POD_IP, as the chart sets it from
                            status.podIP; default 127.0.0.1)
  --listen-address IP       where /metrics listens (default 127.0.0.1 for a loopback node IP, else 0.0.0.0: in a
                            pod, every interface, for the probes and the cost Service); the kubelet API listens on
                            the node IP
  --metrics-port PORT       serve /metrics (cost by namespace and workload) on this port (default 10255; 0: free)
  --client-ca-file FILE     CA of kube-apiserver's kubelet client certificate (default: the cluster client CA
                            published in kube-system/extension-apiserver-authentication)
  --start-latency DURATION  simulated provider: time from bind to running containers (default 1s)
  --run-duration DURATION   simulated provider: how long Job pods (restartPolicy Never/OnFailure) run (default 10s)
  --failure-rate RATIO      simulated provider: share of pods that fail once started, 0..1 (default 0)
  --price-vcpu-hour USD     price per vCPU-hour (default 0.04048, AWS Fargate Linux/x86 us-east-1)
  --price-gib-hour USD      price per GiB-hour (default 0.004445)
  --minimum-billed DURATION minimum billed run time per pod (default 1m)
  --log-level LEVEL         trace, debug, info, warn or error (default info)

cost options:
  --metrics-url URL         metrics endpoint of a running virtual node (default http://127.0.0.1:10255/metrics)
`;

export interface VirtualNodeFlags {
  kubeconfig?: string;
  name: string;
  provider: 'simulated' | 'process';
  capacity: NodeResources;
  regular: boolean;
  count: number;
  stateDir: string;
  port: number;
  metricsPort: number;
  nodeIP: string;
  listenAddress: string;
  clientCaFile?: string;
  startLatencyMs: number;
  runDurationMs: number;
  failureRate: number;
  rates: PricingRates;
  logLevel: string;
}

/** Parses the flags (POD_IP from the environment, a flag winning); throws with a message naming the bad flag. */
export function parseVirtualNodeFlags(argv: string[], env: Record<string, string | undefined> = process.env): VirtualNodeFlags | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      name: { type: 'string' },
      provider: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      pods: { type: 'string' },
      regular: { type: 'boolean' },
      count: { type: 'string' },
      'state-dir': { type: 'string' },
      port: { type: 'string' },
      'metrics-port': { type: 'string' },
      'node-ip': { type: 'string' },
      'listen-address': { type: 'string' },
      'client-ca-file': { type: 'string' },
      'start-latency': { type: 'string' },
      'run-duration': { type: 'string' },
      'failure-rate': { type: 'string' },
      'price-vcpu-hour': { type: 'string' },
      'price-gib-hour': { type: 'string' },
      'minimum-billed': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const regular = values.regular ?? false;
  const provider = values.provider ?? 'simulated';
  if (provider !== 'simulated' && provider !== 'process') throw new Error(`--provider: "${provider}" is not one of simulated, process`);
  const count = positiveInt('--count', values.count ?? '1');
  if (count > 1 && !regular) throw new Error('--count: only --regular nodes come in numbers; run one virtual node per process');
  const quantity = (flag: string, value: string) => {
    parseNonNegativeQuantity(value, flag);
    return value;
  };
  const failureRate = number('--failure-rate', values['failure-rate'] ?? '0');
  if (failureRate > 1) throw new Error(`--failure-rate: ${failureRate} is not between 0 and 1`);
  const level = values['log-level'] ?? env.SWELL_LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new Error(`--log-level: unknown level "${level}"`);
  return {
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    name: values.name ?? (regular ? 'swell-node' : 'swell-virtual-node'),
    provider,
    capacity: {
      cpu: quantity('--cpu', values.cpu ?? (regular ? '4' : '1k')),
      memory: quantity('--memory', values.memory ?? (regular ? '16Gi' : '4Ti')),
      pods: quantity('--pods', values.pods ?? (regular ? '110' : '5k')),
    },
    regular,
    count,
    stateDir: values['state-dir'] ?? join('.swell', 'virtual-node'),
    port: port('--port', values.port ?? '10250'),
    metricsPort: port('--metrics-port', values['metrics-port'] ?? '10255'),
    ...addresses(values['node-ip'] ?? (env.POD_IP || '127.0.0.1'), values['listen-address']),
    ...(values['client-ca-file'] ? { clientCaFile: values['client-ca-file'] } : {}),
    startLatencyMs: parseDuration(values['start-latency'] ?? '1s', '--start-latency'),
    runDurationMs: parseDuration(values['run-duration'] ?? '10s', '--run-duration'),
    failureRate,
    rates: {
      ...fargatePricing,
      vcpuHour: number('--price-vcpu-hour', values['price-vcpu-hour'] ?? String(fargatePricing.vcpuHour)),
      gibHour: number('--price-gib-hour', values['price-gib-hour'] ?? String(fargatePricing.gibHour)),
      minimumSeconds: parseDuration(values['minimum-billed'] ?? '1m', '--minimum-billed') / 1000,
    },
    logLevel: level,
  };
}

/**
 * The node IP is the one address the apiserver dials for logs and exec. Other servers listen on every interface
 * in a pod (probes and Services reach it by the pod IP, port-forward by loopback), and on loopback alone when
 * the node itself is local.
 */
function addresses(nodeIP: string, listenAddress: string | undefined): { nodeIP: string; listenAddress: string } {
  if (isIP(nodeIP) === 0) throw new Error(`--node-ip: "${nodeIP}" is not an IP address`);
  if (listenAddress !== undefined && isIP(listenAddress) === 0) throw new Error(`--listen-address: "${listenAddress}" is not an IP address`);
  return { nodeIP, listenAddress: listenAddress ?? (isLoopback(nodeIP) ? nodeIP : isIP(nodeIP) === 6 ? '::' : '0.0.0.0') };
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

function positiveInt(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${flag}: "${value}" is not a positive integer`);
  return Number(value);
}

function port(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new Error(`${flag}: "${value}" is not a port number (0-65535)`);
  return Number(value);
}

function number(flag: string, value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) throw new Error(`${flag}: "${value}" is not a non-negative number`);
  return parsed;
}

export async function virtualNodeCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'cost') return costCommand(argv.slice(1));
  let flags: VirtualNodeFlags | 'help';
  try {
    flags = parseVirtualNodeFlags(argv);
  } catch (error) {
    process.stderr.write(`swell virtual-node: ${error instanceof Error ? error.message : String(error)}\n\n${help}`);
    return 2;
  }
  if (flags === 'help') {
    process.stdout.write(help);
    return 0;
  }
  const log = createLogger({ level: flags.logLevel, name: 'virtual-node' });
  try {
    return await run(flags, log);
  } catch (error) {
    log.error({ err: error }, 'virtual node failed');
    return 1;
  }
}

async function run(flags: VirtualNodeFlags, log: Logger): Promise<number> {
  // Loaded here so that `swell virtual-node cost` starts without the Kubernetes client.
  const [{ Registry }, { loadKubeConfig }, { serveMetrics }, { createSystemClock }, { registerCostMetrics }, { clusterClientCa, startVirtualNode }] = await Promise.all([
    import('prom-client'),
    import('../kube/config.js'),
    import('../operator/http-endpoints.js'),
    import('../controller/clock.js'),
    import('../virtual-node/cost/metrics.js'),
    import('../virtual-node/virtual-node.js'),
  ]);
  const kubeConfig = loadKubeConfig(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {});
  const clock = createSystemClock();
  const clientCaPem = flags.clientCaFile ? readFileSync(flags.clientCaFile, 'utf8') : await clusterClientCa(kubeConfig, log);
  const names = flags.regular ? Array.from({ length: flags.count }, (_, i) => `${flags.name}-${i + 1}`) : [flags.name];
  const nodes: RunningVirtualNode[] = [];
  const meters = new Map<string, CostMeter>();
  const registry = new Registry();
  registerCostMetrics(registry, meters);
  const stopAll = async () => {
    for (const node of nodes.splice(0)) await node.stop();
  };
  try {
    for (const [index, name] of names.entries()) {
      const node = await startVirtualNode({
        kubeConfig,
        name,
        provider: await createProvider(flags, name, clock, log),
        regular: flags.regular,
        capacity: flags.capacity,
        nodeIP: flags.nodeIP,
        listenAddress: flags.listenAddress,
        kubeletPort: flags.port === 0 ? 0 : flags.port + index,
        ...(clientCaPem ? { clientCaPem } : {}),
        rates: flags.rates,
        clock,
        log,
      });
      nodes.push(node);
      meters.set(name, node.meter);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const metrics = await serveMetrics(registry, flags.metricsPort, flags.listenAddress);
  log.info({ nodes: names, metricsPort: metrics.port }, 'serving cost metrics');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await stopAll();
  await metrics.close();
  return 0;
}

async function createProvider(flags: VirtualNodeFlags, nodeName: string, clock: Clock, log: Logger): Promise<Provider> {
  switch (flags.provider) {
    case 'simulated': {
      const { SimulatedProvider } = await import('../virtual-node/providers/simulated.js');
      return new SimulatedProvider({
        clock,
        startLatencyMs: flags.startLatencyMs,
        runDurationMs: flags.runDurationMs,
        failureRate: flags.failureRate,
        random: Math.random,
        capacity: flags.capacity,
      });
    }
    case 'process': {
      const { ProcessProvider } = await import('../virtual-node/providers/process.js');
      return ProcessProvider.open({ stateDir: join(flags.stateDir, nodeName), clock, log: log.child({ node: nodeName }), capacity: flags.capacity });
    }
  }
}

async function costCommand(argv: string[]): Promise<number> {
  let url: string;
  try {
    const { values } = parseArgs({ args: argv, options: { 'metrics-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(help);
      return 0;
    }
    url = values['metrics-url'] ?? 'http://127.0.0.1:10255/metrics';
    new URL(url);
  } catch (error) {
    process.stderr.write(`swell virtual-node cost: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    process.stdout.write(formatCostTable(parseCostMetrics(await response.text())));
    return 0;
  } catch (error) {
    process.stderr.write(`swell virtual-node cost: cannot read ${url}: ${error instanceof Error ? error.message : String(error)} (is a virtual node running with --metrics-port?)\n`);
    return 1;
  }
}
