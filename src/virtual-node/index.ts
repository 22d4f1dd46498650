// swell's virtual node: a kubelet stand-in whose pods run through a pluggable provider.
export { startVirtualNode, clusterClientCa } from './virtual-node.js';
export type { RunningVirtualNode, VirtualNodeOptions } from './virtual-node.js';
export { PodNotFoundError, PodSpecError, podKey } from './provider.js';
export type {
  ContainerState,
  LogOptions,
  NodeResources,
  PodChangeListener,
  PodFailure,
  Provider,
  ProviderContainerStatus,
  ProviderPod,
  TerminatedState,
} from './provider.js';
export { SimulatedProvider, simulationAnnotations } from './providers/simulated.js';
export type { SimulatedProviderOptions } from './providers/simulated.js';
export { ProcessProvider } from './providers/process/provider.js';
export type { ProcessProviderOptions } from './providers/process/provider.js';
export { CostMeter, fargatePricing, podResources, billedSeconds, usageFor } from './cost/metering.js';
export type { CostRow, MeteredPod, PricingRates, PodResources, Usage, Workload } from './cost/metering.js';
export { registerCostMetrics, costMetricNames } from './cost/metrics.js';
export { formatCostTable, parseCostMetrics } from './cost/report.js';
export { providerTaintKey } from './node-object.js';
