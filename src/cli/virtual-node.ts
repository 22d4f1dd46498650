import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { reportUsageError } from './usage.js';
import { createLogger, type Logger } from '../log.js';
import type { Clock } from '../controller/clock.js';
import { fargatePricing, type CostMeter, type PricingRates } from '../virtual-node/cost/metering.js';
import { formatCostTable, parseCostMetrics } from '../virtual-node/cost/report.js';
import { parseDuration } from '../virtual-node/duration.js';
import type { NodeResources, Provider } from '../virtual-node/provider.js';
import { fargateCapacity } from '../virtual-node/providers/fargate/capacity.js';
import type { CapacityProvider, CpuArchitecture } from '../virtual-node/providers/fargate/pricing.js';
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
  --provider NAME           simulated (default), process (runs each container's command as a local process) or
                            fargate (runs each pod as an AWS ECS task on Fargate)
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
  --start-latency DURATION  simulated provider: time from bind to running containers, or a range MIN-MAX picked
                            at random per pod (default 30s-60s, as Fargate and ACI take)
  --run-duration DURATION   simulated provider: how long Job pods (restartPolicy Never/OnFailure) run (default 10s)
  --failure-rate RATIO      simulated provider: share of pods that fail once started, 0..1 (default 0)
  --price-vcpu-hour USD     price per vCPU-hour (default 0.04048, AWS Fargate Linux/x86 us-east-1)
  --price-gib-hour USD      price per GiB-hour (default 0.004445)
  --minimum-billed DURATION minimum billed run time per pod (default 1m)
  --log-level LEVEL         trace, debug, info, warn or error (default info)

fargate options (credentials come from the AWS SDK's default chain: env, shared config, IRSA, EKS Pod Identity):
  --region REGION           AWS Region (default AWS_REGION / AWS_DEFAULT_REGION)
  --cluster NAME            ECS cluster the tasks run in (default "default")
  --subnets LIST            comma-separated subnet IDs for the tasks' network interfaces (pod annotation
                            swell.dev/fargate-subnets overrides)
  --security-groups LIST    comma-separated security group IDs (annotation swell.dev/fargate-security-groups)
  --assign-public-ip        give tasks a public IP (annotation swell.dev/fargate-assign-public-ip: true|false)
  --capacity-provider NAME  FARGATE or FARGATE_SPOT as the capacity provider strategy (default: launch type
                            FARGATE; annotation swell.dev/fargate-capacity-provider)
  --architecture ARCH       X86_64 (default) or ARM64 (annotation swell.dev/fargate-architecture, or the pod's
                            kubernetes.io/arch node selector)
  --execution-role-arn ARN  task execution role (pulls images, writes logs; annotation
                            swell.dev/fargate-execution-role-arn)
  --task-role-arn ARN       role the containers run as (annotation swell.dev/fargate-task-role-arn)
  --log-group NAME          CloudWatch Logs group of the awslogs driver (default /swell/virtual-node)
  --vcpu-quota N            the account's Fargate vCPU quota; the node advertises N vCPU, 8N GiB and 4N pods
                            unless --cpu/--memory/--pods say otherwise (default 1000)
  --status-interval DURATION how often all tasks are described, 100 per call (default 10s)
  --api-rate N              ECS and CloudWatch Logs calls per second, with bursts of 5N (default 20)
  --spot-price-share RATIO  FARGATE_SPOT price as a share of on-demand (default 0.3)
  --aws-endpoint URL        ECS and CloudWatch Logs endpoint (default: the SDK's, or AWS_ENDPOINT_URL_ECS and
                            AWS_ENDPOINT_URL_CLOUDWATCH_LOGS); for emulators

cost options:
  --metrics-url URL         metrics endpoint of a running virtual node (default http://127.0.0.1:10255/metrics)
`;

export interface FargateFlags {
  region?: string;
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  capacityProvider?: CapacityProvider;
  architecture: CpuArchitecture;
  executionRoleArn?: string;
  taskRoleArn?: string;
  logGroup: string;
  vcpuQuota: number;
  statusIntervalMs: number;
  apiRate: number;
  spotPriceShare: number;
  endpoint?: string;
}

export interface VirtualNodeFlags {
  kubeconfig?: string;
  name: string;
  provider: 'simulated' | 'process' | 'fargate';
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
  /** The simulated start latency is startLatencyMs plus a random share of this. */
  startLatencySpreadMs: number;
  runDurationMs: number;
  failureRate: number;
  rates: PricingRates;
  logLevel: string;
  fargate: FargateFlags;
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
      region: { type: 'string' },
      cluster: { type: 'string' },
      subnets: { type: 'string' },
      'security-groups': { type: 'string' },
      'assign-public-ip': { type: 'boolean' },
      'capacity-provider': { type: 'string' },
      architecture: { type: 'string' },
      'execution-role-arn': { type: 'string' },
      'task-role-arn': { type: 'string' },
      'log-group': { type: 'string' },
      'vcpu-quota': { type: 'string' },
      'status-interval': { type: 'string' },
      'api-rate': { type: 'string' },
      'spot-price-share': { type: 'string' },
      'aws-endpoint': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const regular = values.regular ?? false;
  const provider = values.provider ?? 'simulated';
  if (provider !== 'simulated' && provider !== 'process' && provider !== 'fargate')
    throw new Error(`--provider: "${provider}" is not one of simulated, process, fargate`);
  const fargate = fargateFlags(values, env);
  const quotaCapacity = fargateCapacity(fargate.vcpuQuota);
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
      cpu: quantity('--cpu', values.cpu ?? (regular ? '4' : provider === 'fargate' ? quotaCapacity.cpu : '1k')),
      memory: quantity('--memory', values.memory ?? (regular ? '16Gi' : provider === 'fargate' ? quotaCapacity.memory : '4Ti')),
      pods: quantity('--pods', values.pods ?? (regular ? '110' : provider === 'fargate' ? quotaCapacity.pods : '5k')),
    },
    regular,
    count,
    stateDir: values['state-dir'] ?? join('.swell', 'virtual-node'),
    port: port('--port', values.port ?? '10250'),
    metricsPort: port('--metrics-port', values['metrics-port'] ?? '10255'),
    ...addresses(values['node-ip'] ?? (env.POD_IP || '127.0.0.1'), values['listen-address']),
    ...(values['client-ca-file'] ? { clientCaFile: values['client-ca-file'] } : {}),
    ...latencyRange(values['start-latency'] ?? '30s-60s'),
    runDurationMs: parseDuration(values['run-duration'] ?? '10s', '--run-duration'),
    failureRate,
    rates: {
      ...fargatePricing,
      vcpuHour: number('--price-vcpu-hour', values['price-vcpu-hour'] ?? String(fargatePricing.vcpuHour)),
      gibHour: number('--price-gib-hour', values['price-gib-hour'] ?? String(fargatePricing.gibHour)),
      minimumSeconds: parseDuration(values['minimum-billed'] ?? '1m', '--minimum-billed') / 1000,
    },
    logLevel: level,
    fargate,
  };
}

/** "5s" or "30s-60s": a fixed latency, or a range to pick from at random per pod. */
function latencyRange(value: string): { startLatencyMs: number; startLatencySpreadMs: number } {
  const [low = '', high, ...rest] = value.split('-');
  const min = parseDuration(low, '--start-latency');
  if (high === undefined) return { startLatencyMs: min, startLatencySpreadMs: 0 };
  const max = parseDuration(high, '--start-latency');
  if (rest.length > 0 || max < min) throw new Error(`--start-latency: "${value}" is not a duration or a range MIN-MAX with MIN <= MAX`);
  return { startLatencyMs: min, startLatencySpreadMs: max - min };
}

type FlagValues = Record<string, string | boolean | undefined>;

function fargateFlags(values: FlagValues, env: Record<string, string | undefined>): FargateFlags {
  const text = (key: string) => (typeof values[key] === 'string' ? values[key] : undefined);
  const list = (key: string) =>
    (text(key) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const capacityProvider = text('capacity-provider');
  if (capacityProvider !== undefined && capacityProvider !== 'FARGATE' && capacityProvider !== 'FARGATE_SPOT') {
    throw new Error(`--capacity-provider: "${capacityProvider}" is not one of FARGATE, FARGATE_SPOT`);
  }
  const architecture = text('architecture') ?? 'X86_64';
  if (architecture !== 'X86_64' && architecture !== 'ARM64') throw new Error(`--architecture: "${architecture}" is not one of X86_64, ARM64`);
  const vcpuQuota = number('--vcpu-quota', text('vcpu-quota') ?? '1000');
  if (vcpuQuota < 0.25) throw new Error(`--vcpu-quota: ${vcpuQuota} is below the smallest task (0.25 vCPU)`);
  const apiRate = number('--api-rate', text('api-rate') ?? '20');
  if (apiRate <= 0) throw new Error('--api-rate: must be above 0');
  const spotPriceShare = number('--spot-price-share', text('spot-price-share') ?? '0.3');
  if (spotPriceShare > 1) throw new Error(`--spot-price-share: ${spotPriceShare} is not between 0 and 1`);
  const statusIntervalMs = parseDuration(text('status-interval') ?? '10s', '--status-interval');
  if (statusIntervalMs < 1000) throw new Error('--status-interval: must be at least 1s');
  const endpoint = text('aws-endpoint');
  if (endpoint !== undefined) {
    try {
      new URL(endpoint);
    } catch {
      throw new Error(`--aws-endpoint: "${endpoint}" is not a URL`);
    }
  }
  const region = text('region') ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  const optional = <K extends string>(key: K, value: string | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, string>));
  return {
    ...optional('region', region),
    cluster: text('cluster') ?? 'default',
    subnets: list('subnets'),
    securityGroups: list('security-groups'),
    assignPublicIp: values['assign-public-ip'] === true,
    ...(capacityProvider ? { capacityProvider } : {}),
    architecture,
    ...optional('executionRoleArn', text('execution-role-arn')),
    ...optional('taskRoleArn', text('task-role-arn')),
    logGroup: text('log-group') ?? '/swell/virtual-node',
    vcpuQuota,
    statusIntervalMs,
    apiRate,
    spotPriceShare,
    ...optional('endpoint', endpoint),
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
    return reportUsageError('virtual-node', error);
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
  const [
    { Registry },
    { loadKubeConfig },
    { serveMetrics },
    { createSystemClock },
    { registerCostMetrics },
    { clusterClientCa, startVirtualNode },
    { createHttpKubeClient },
  ] = await Promise.all([
    import('prom-client'),
    import('../kube/config.js'),
    import('../operator/http-endpoints.js'),
    import('../controller/clock.js'),
    import('../virtual-node/cost/metrics.js'),
    import('../virtual-node/virtual-node.js'),
    import('../kube/client.js'),
  ]);
  const client = createHttpKubeClient(loadKubeConfig(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}));
  const clock = createSystemClock();
  const clientCaPem = flags.clientCaFile ? readFileSync(flags.clientCaFile, 'utf8') : await clusterClientCa(client, log);
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
        client,
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
        startLatencySpreadMs: flags.startLatencySpreadMs,
        runDurationMs: flags.runDurationMs,
        failureRate: flags.failureRate,
        random: Math.random,
        capacity: flags.capacity,
      });
    }
    case 'process': {
      const { ProcessProvider } = await import('../virtual-node/providers/process/provider.js');
      return ProcessProvider.open({ stateDir: join(flags.stateDir, nodeName), clock, log: log.child({ node: nodeName }), capacity: flags.capacity });
    }
    case 'fargate': {
      const { openFargateProvider } = await import('../virtual-node/providers/fargate/index.js');
      if (!flags.fargate.region) throw new Error('--region: no AWS Region; pass --region or set AWS_REGION');
      return openFargateProvider({ ...flags.fargate, region: flags.fargate.region }, nodeName, clock, log.child({ node: nodeName }));
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
    return reportUsageError('virtual-node cost', error);
  }
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    process.stdout.write(formatCostTable(parseCostMetrics(await response.text())));
    return 0;
  } catch (error) {
    process.stderr.write(
      `swell virtual-node cost: cannot read ${url}: ${error instanceof Error ? error.message : String(error)} (is a virtual node running with --metrics-port?)\n`,
    );
    return 1;
  }
}
