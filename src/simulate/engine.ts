import { ScaledObjectDefaults } from '../apis/keda/v1alpha1/scaledobject.js';
import {
  deletionCostFor,
  planPlacement,
  regularFreeSlots,
  tierForNewPod,
  type PlacementPlan,
  type PlacementPolicy,
  type PodFacts,
  type Tier,
} from '../burst/placement.js';
import { hpaMinReplicas } from '../scaling/hpa.js';
import type { MetricHealth, MetricOutcome } from '../scaling/fallback.js';
import { FormulaCache } from '../scaling/formula.js';
import { decideScale } from '../scaling/scaledobject.js';
import { combinedProposal, emptyHpaMemory, hpaSync, resolveHpaRules, type HpaControllerSettings, type HpaMemory, type HpaRules } from './hpa-model.js';
import { NodePool, type AutoscalerSettings, type NodeShape, type Resources } from './node-pool.js';
import { hpaMetrics, pollMetrics, type MetricsModel } from './metrics.js';
import { burstPodCost, type NodePricing, type PodResources, type PricingRates } from './pricing.js';
import { seededRandom, type Random } from './random.js';
import { WorkQueue } from './queue.js';
import type { Trace } from './trace.js';
import type { SimWorkload } from './workload.js';

/*
 * One strategy replayed over one trace, event by event: nothing happens between trace rows, polls, HPA syncs,
 * autoscaler scans, pods and nodes becoming ready, placement rechecks and chart samples, so the cost of a run
 * grows with the number of events, not with its length. The decisions are swell's own (decideScale, fallback,
 * the scalingModifiers formula and activity through metrics.ts, hpaMinReplicas, tierForNewPod, planPlacement,
 * regularFreeSlots); the world around them (HPA
 * controller, ReplicaSet, scheduler, nodes, queue) is modelled here and in the modules beside this one.
 */

export interface EngineSettings {
  /** Items one Running replica finishes per second. */
  ratePerReplica: number;
  sloSeconds: number;
  hpaSyncMs: number;
  hpa: HpaControllerSettings;
  /** From binding to Running on a regular node. */
  regularStartMs: number;
  /** From creation to Running on the virtual node, uniform between the two, drawn from `seed`. */
  burstStartMs: { min: number; max: number };
  seed: number;
  /** What one pod asks for (scheduling on nodes). */
  podRequests: Resources;
  /** What one burst pod is billed at (already rounded to a Fargate size). */
  burstSize: PodResources;
  burstRates: PricingRates;
  node: NodeShape;
  autoscaler: AutoscalerSettings;
  nodePricing: NodePricing;
  /** Seconds between chart samples. */
  sampleEverySeconds: number;
  /** After the trace ends, keep serving until the backlog is gone, for at most this long. */
  drainLimitSeconds: number;
}

export interface Strategy {
  name: string;
  kind: 'nodes' | 'serverless' | 'given' | 'base';
  /** Undefined: no BurstPolicy, every pod waits for a regular node. */
  placement?: PlacementPolicy;
}

export interface Samples {
  t: number[];
  backlog: number[];
  regular: number[];
  burst: number[];
  cost: number[];
}

export interface StrategyResult {
  name: string;
  kind: Strategy['kind'];
  baseReplicas?: number;
  cost: { total: number; nodes: number; burst: number };
  wait: { p50: number; p95: number; p99: number };
  peakBacklog: number;
  secondsOverSlo: number;
  /** Share (0..1) of the work that waited longer than the SLO. */
  shareOverSlo: number;
  /** Work served, and work still waiting when the run stopped. */
  served: number;
  unserved: number;
  /** Seconds simulated (the trace plus the drain). */
  seconds: number;
  peakReplicas: { regular: number; burst: number };
  peakNodes: number;
  /** Polls at which a failing trigger was served its fallback value. */
  fallbackPolls: number;
  events: number;
  samples: Samples;
}

interface SimPod {
  id: number;
  tier: Tier;
  createdAtMs: number;
  billedFromMs: number;
  nodeId?: number;
  runningAtMs?: number;
  unschedulableSinceMs?: number;
  bridge: boolean;
}

export function simulateStrategy(trace: Trace, workload: SimWorkload, strategy: Strategy, settings: EngineSettings): StrategyResult {
  return new Run(trace, workload, strategy, settings).result();
}

class Run {
  private nowMs = 0;
  private readonly queue: WorkQueue;
  private readonly pool: NodePool;
  private readonly random: Random;
  private readonly rules: HpaRules;
  private hpaMemory: HpaMemory = emptyHpaMemory;
  private desired: number;
  private lastActiveMs: number | undefined;
  private pods: SimPod[] = [];
  private nextPodId = 0;
  private runningCache: number | undefined;
  private capacityChanged = false;
  private nextMetricArrivalMs = 0;
  private nextStartMs: number | undefined;
  private burstSettled = 0;
  private placementDirty = true;
  private recheckAtMs: number | undefined;
  private lastRebalanceMs: number | undefined;
  private traceIndex = 0;
  private metricValue = 0;
  private sourceDown = false;
  private readonly metrics: MetricsModel;
  private health: Record<string, MetricHealth> = {};
  private fallbackPolls = 0;
  private events = 0;
  private peaks = { regular: 0, burst: 0, nodes: 0 };
  private readonly samples: Samples = { t: [], backlog: [], regular: [], burst: [], cost: [] };

  constructor(
    private readonly trace: Trace,
    private readonly workload: SimWorkload,
    private readonly strategy: Strategy,
    private readonly settings: EngineSettings,
  ) {
    this.queue = new WorkQueue(settings.sloSeconds);
    this.pool = new NodePool(settings.node, settings.autoscaler, settings.nodePricing);
    this.random = seededRandom(settings.seed);
    const spec = workload.scaledObject.spec;
    this.metrics = { spec, triggers: workload.triggers, ...(workload.modifiers ? { modifiers: workload.modifiers } : {}), formulas: new FormulaCache() };
    this.rules = resolveHpaRules(
      { minReplicas: hpaMinReplicas(spec.minReplicaCount), maxReplicas: spec.maxReplicaCount ?? ScaledObjectDefaults.maxReplicaCount },
      workload.behavior,
      settings.hpa,
    );
    this.desired = spec.idleReplicaCount ?? spec.minReplicaCount ?? ScaledObjectDefaults.minReplicaCount;
  }

  result(): StrategyResult {
    const endMs = this.run();
    const nodes = this.pool.costAt(endMs);
    const burst = this.burstSettled + this.liveBurstCost(endMs);
    const waits = this.queue.waits;
    return {
      name: this.strategy.name,
      kind: this.strategy.kind,
      ...(this.strategy.placement?.baseReplicas !== undefined ? { baseReplicas: this.strategy.placement.baseReplicas } : {}),
      cost: { total: nodes + burst, nodes, burst },
      wait: { p50: waits.percentile(50), p95: waits.percentile(95), p99: waits.percentile(99) },
      peakBacklog: this.queue.peakBacklog,
      secondsOverSlo: this.queue.secondsOverSlo,
      shareOverSlo: waits.shareAbove(this.settings.sloSeconds),
      served: waits.weight,
      unserved: this.queue.backlog,
      seconds: endMs / 1000,
      peakReplicas: { regular: this.peaks.regular, burst: this.peaks.burst },
      peakNodes: this.peaks.nodes,
      fallbackPolls: this.fallbackPolls,
      events: this.events,
      samples: this.samples,
    };
  }

  /** Runs to the end of the trace and the drain after it; returns the time it stopped. */
  private run(): number {
    const s = this.settings;
    const traceEndMs = Math.round(this.trace.duration * 1000);
    const limitMs = traceEndMs + s.drainLimitSeconds * 1000;
    const pollMs = (this.workload.scaledObject.spec.pollingInterval ?? ScaledObjectDefaults.pollingInterval) * 1000;
    const sampleMs = s.sampleEverySeconds * 1000;
    const next = { poll: 0, hpa: 0, scan: 0, sample: 0 };
    this.startSteady();
    this.applyTrace();
    for (;;) {
      const arrivalMs = this.nextArrivalMs();
      const nodeReadyMs = this.pool.nextReadyAtMs(this.nowMs) ?? Infinity;
      let at = Math.min(next.poll, next.hpa, next.scan, next.sample, arrivalMs ?? Infinity, this.nextStart(), nodeReadyMs, this.recheckAtMs ?? Infinity);
      const drained = this.nowMs >= traceEndMs && this.queue.backlog === 0;
      if (drained || at >= limitMs) at = Math.min(Math.max(this.nowMs, drained ? this.nowMs : limitMs), limitMs);
      this.queue.serve(this.nowMs / 1000, at / 1000, this.running() * s.ratePerReplica);
      this.nowMs = at;
      if (drained || at >= limitMs) break;
      this.events += 1;
      this.startPods();
      if (nodeReadyMs === at) this.capacityChanged = true;
      if (this.capacityChanged) this.schedulePending();
      if (arrivalMs === at) this.applyTrace();
      if (next.poll === at) {
        this.poll();
        next.poll += pollMs;
      }
      if (next.hpa === at) {
        this.syncHpa();
        next.hpa += s.hpaSyncMs;
      }
      if (next.scan === at) {
        this.scanNodes();
        next.scan += s.autoscaler.scanIntervalMs;
      }
      if (this.capacityChanged) this.schedulePending();
      if (this.placementDirty || (this.recheckAtMs !== undefined && this.recheckAtMs <= at)) this.place();
      if (next.sample === at) {
        this.sample();
        next.sample += sampleMs;
      }
    }
    this.sample();
    return this.nowMs;
  }

  /** The workload's starting replicas are already Running, on nodes that are already there. */
  private startSteady(): void {
    if (this.desired === 0) return;
    this.reconcileReplicas();
    const waiting = this.pods.filter((p) => p.tier === 'regular' && p.nodeId === undefined);
    this.pool.provision(waiting.length, this.settings.podRequests, this.nowMs);
    for (const pod of waiting) this.bindRegular(pod);
    for (const pod of this.pods) pod.runningAtMs = this.nowMs;
    this.changed();
  }

  // --- the trace -------------------------------------------------------------------------------------------

  private nextArrivalMs(): number | undefined {
    if (this.trace.kind === 'arrivals') {
      const t = this.trace.times[this.traceIndex];
      return t === undefined ? undefined : Math.round(t * 1000);
    }
    // A metric trace delivers its current value as work once a second, until it ends.
    return this.nextMetricArrivalMs < this.trace.duration * 1000 ? this.nextMetricArrivalMs : undefined;
  }

  private applyTrace(): void {
    const { times, values, sourceDown } = this.trace;
    const nowS = this.nowMs / 1000;
    if (this.trace.kind === 'arrivals') {
      while (this.traceIndex < times.length && Math.round((times[this.traceIndex] ?? 0) * 1000) <= this.nowMs) {
        this.queue.arrive(nowS, values[this.traceIndex] ?? 0);
        if (sourceDown) this.sourceDown = sourceDown[this.traceIndex] === 1;
        this.traceIndex += 1;
      }
      return;
    }
    while (this.traceIndex < times.length && (times[this.traceIndex] ?? 0) <= nowS) {
      this.metricValue = values[this.traceIndex] ?? 0;
      if (sourceDown) this.sourceDown = sourceDown[this.traceIndex] === 1;
      this.traceIndex += 1;
    }
    this.queue.arrive(nowS, this.metricValue);
    this.nextMetricArrivalMs += 1000;
  }

  /** Each trigger's read now: the trace's value for a metric trigger on a metric trace, else the backlog; an error while the source is down. */
  private reads(): MetricOutcome[] {
    if (this.sourceDown) return this.workload.triggers.map((t) => ({ error: `${t.type}: the event source is down (trace)` }));
    const backlog = Math.round(this.queue.backlog);
    const metric = this.trace.kind === 'metric';
    return this.workload.triggers.map((t) => ({ value: t.reads === 'metric' && metric ? this.metricValue : backlog }));
  }

  // --- swell's scale loop and the HPA ------------------------------------------------------------------------

  private poll(): void {
    const so = this.workload.scaledObject;
    const polled = pollMetrics(this.metrics, this.reads(), this.health, { current: this.desired, ready: this.running() });
    this.health = polled.health;
    if (polled.fallbackApplied) this.fallbackPolls += 1;
    const decision = decideScale({
      spec: so.spec,
      ...(so.metadata.annotations ? { annotations: so.metadata.annotations } : {}),
      target: { kind: so.spec.scaleTargetRef.kind ?? 'Deployment', namespace: so.metadata.namespace ?? 'default', name: so.spec.scaleTargetRef.name },
      currentReplicas: this.desired,
      activity: polled.activity,
      ...(this.lastActiveMs !== undefined ? { lastActiveTime: this.lastActiveMs } : {}),
      creationTime: 0,
      now: this.nowMs,
    });
    this.lastActiveMs = decision.lastActiveTime;
    if (decision.replicas !== undefined) this.scaleTo(decision.replicas);
  }

  private syncHpa(): void {
    const workloadPods = this.pods.filter((p) => !p.bridge).length;
    const replicas = { current: this.desired, ready: this.running() };
    const proposal =
      this.desired === 0
        ? 0
        : combinedProposal(
            hpaMetrics(this.metrics, this.reads(), this.health, replicas),
            { current: workloadPods, ready: replicas.ready },
            this.rules,
            this.desired,
          );
    const synced = hpaSync({ rules: this.rules, memory: this.hpaMemory, currentReplicas: this.desired, proposal, nowMs: this.nowMs });
    this.hpaMemory = synced.memory;
    if (synced.replicas !== this.desired) this.scaleTo(synced.replicas);
  }

  // --- the ReplicaSet, scheduler and kubelets ----------------------------------------------------------------

  private scaleTo(replicas: number): void {
    this.desired = replicas;
    this.reconcileReplicas();
  }

  private reconcileReplicas(): void {
    const owned = this.pods.filter((p) => !p.bridge);
    if (owned.length < this.desired) {
      for (let i = owned.length; i < this.desired; i += 1) this.createPod(false);
    } else if (owned.length > this.desired) {
      for (const pod of [...owned].sort((a, b) => this.deleteFirst(a, b)).slice(0, owned.length - this.desired)) this.removePod(pod);
    }
  }

  /** The ReplicaSet's order for scale-in: unscheduled, not running, lower deletion cost, newer first. */
  private deleteFirst(a: SimPod, b: SimPod): number {
    const bound = (p: SimPod) => (p.tier === 'burst' || p.nodeId !== undefined ? 1 : 0);
    const up = (p: SimPod) => (this.isRunning(p) ? 1 : 0);
    const cost = (p: SimPod) => Number(deletionCostFor(p.tier, p.createdAtMs));
    return bound(a) - bound(b) || up(a) - up(b) || cost(a) - cost(b) || b.createdAtMs - a.createdAtMs || b.id - a.id;
  }

  private createPod(bridge: boolean): SimPod {
    const policy = this.strategy.placement;
    const tier: Tier = bridge || !policy ? 'regular' : tierForNewPod(policy, this.tierCounts()).tier;
    const pod: SimPod = { id: this.nextPodId, tier, createdAtMs: this.nowMs, billedFromMs: this.nowMs, bridge };
    this.nextPodId += 1;
    this.pods.push(pod);
    if (tier === 'burst') this.startOnVirtualNode(pod);
    else this.bindRegular(pod);
    this.changed();
    this.trackPeaks();
    return pod;
  }

  private startOnVirtualNode(pod: SimPod): void {
    const { min, max } = this.settings.burstStartMs;
    pod.tier = 'burst';
    pod.billedFromMs = this.nowMs;
    pod.runningAtMs = this.nowMs + Math.round(min + (max - min) * this.random());
    delete pod.unschedulableSinceMs;
  }

  private bindRegular(pod: SimPod): void {
    const nodeId = this.pool.bind(this.settings.podRequests, this.nowMs);
    if (nodeId === undefined) {
      pod.unschedulableSinceMs ??= this.nowMs;
      return;
    }
    pod.nodeId = nodeId;
    pod.runningAtMs = this.nowMs + this.settings.regularStartMs;
    delete pod.unschedulableSinceMs;
  }

  private removePod(pod: SimPod): void {
    if (pod.tier === 'burst') this.burstSettled += burstPodCost(this.settings.burstSize, this.nowMs - pod.billedFromMs, this.settings.burstRates);
    if (pod.nodeId !== undefined) {
      this.pool.release(pod.nodeId, this.settings.podRequests);
      this.capacityChanged = true;
    }
    this.pods = this.pods.filter((p) => p !== pod);
    this.changed();
  }

  private isRunning(pod: SimPod): boolean {
    return pod.runningAtMs !== undefined && pod.runningAtMs <= this.nowMs;
  }

  /** Running pods of the workload: the ones that serve the queue. */
  private running(): number {
    this.runningCache ??= this.pods.filter((p) => !p.bridge && this.isRunning(p)).length;
    return this.runningCache;
  }

  private nextStart(): number {
    if (this.nextStartMs === undefined) {
      let next = Infinity;
      for (const p of this.pods) if (p.runningAtMs !== undefined && p.runningAtMs > this.nowMs && p.runningAtMs < next) next = p.runningAtMs;
      this.nextStartMs = next;
    }
    return this.nextStartMs;
  }

  /** Counts the pods whose start latency ended at this instant. */
  private startPods(): void {
    if (this.nextStart() <= this.nowMs) this.changed();
  }

  private schedulePending(): void {
    this.capacityChanged = false;
    const pending = this.pods.filter((p) => p.tier === 'regular' && p.nodeId === undefined);
    for (const pod of pending) this.bindRegular(pod);
    if (pending.length > 0) this.changed();
  }

  private scanNodes(): void {
    const waiting = this.pods.filter((p) => p.tier === 'regular' && p.nodeId === undefined).length;
    const { removed } = this.pool.scan(this.nowMs, waiting, this.settings.podRequests);
    if (removed.length > 0) {
      // Pods of a removed node are evicted; the ReplicaSet's replacements are scheduled like new pods.
      for (const pod of this.pods.filter((p) => p.nodeId !== undefined && removed.includes(p.nodeId))) {
        delete pod.nodeId;
        delete pod.runningAtMs;
        pod.createdAtMs = this.nowMs;
        this.bindRegular(pod);
      }
      this.changed();
    }
    this.peaks.nodes = Math.max(this.peaks.nodes, this.pool.nodes.length);
  }

  // --- burst placement ---------------------------------------------------------------------------------------

  private place(): void {
    this.placementDirty = false;
    const policy = this.strategy.placement;
    if (!policy) {
      this.recheckAtMs = undefined;
      return;
    }
    if (!this.placementCanAct(policy)) {
      this.recheckAtMs = undefined;
      return;
    }
    const plan = this.plan(policy);
    for (const name of plan.burstInPlace) {
      const pod = this.pods.find((p) => String(p.id) === name);
      if (pod) this.startOnVirtualNode(pod);
    }
    if (plan.burstInPlace.length > 0) this.changed();
    this.applyBridge(plan);
    this.recheckAtMs = plan.recheckAtMs;
    this.placementDirty = false;
  }

  /** Placement only acts on unschedulable regular pods, a bridge, or burst pods it may move back. */
  private placementCanAct(policy: PlacementPolicy): boolean {
    return this.pods.some((p) => p.bridge || (p.tier === 'regular' && p.nodeId === undefined) || (policy.rebalance && p.tier === 'burst'));
  }

  private plan(policy: PlacementPolicy): PlacementPlan {
    const owned = this.pods.filter((p) => !p.bridge);
    const bridge = this.pods.find((p) => p.bridge);
    const nodes = this.pool.nodes.map((n) => ({
      name: String(n.id),
      regular: n.readyAtMs <= this.nowMs,
      allocatable: { cpu: this.settings.node.cpu, memory: this.settings.node.memoryGiB, pods: this.settings.node.pods },
      requested: { cpu: n.cpu, memory: n.memoryGiB, pods: n.pods },
    }));
    const waiting = owned.filter((p) => p.tier === 'regular' && p.nodeId === undefined).length;
    return planPlacement({
      policy,
      desiredReplicas: this.desired,
      pods: owned.map((p) => this.facts(p)),
      ...(bridge
        ? {
            bridge: {
              name: String(bridge.id),
              ready: this.isRunning(bridge),
              createdAtMs: bridge.createdAtMs,
              ...(bridge.nodeId !== undefined ? { nodeName: String(bridge.nodeId) } : {}),
              ...(bridge.unschedulableSinceMs !== undefined ? { unschedulableSinceMs: bridge.unschedulableSinceMs } : {}),
            },
          }
        : {}),
      regularFreeSlots: regularFreeSlots(nodes, { cpu: this.settings.podRequests.cpu, memory: this.settings.podRequests.memoryGiB }, waiting),
      ...(this.lastRebalanceMs !== undefined ? { lastRebalanceMs: this.lastRebalanceMs } : {}),
      now: this.nowMs,
    });
  }

  private applyBridge(plan: PlacementPlan): void {
    const action = plan.bridge;
    if (!action) return;
    if (action.kind === 'create') {
      this.lastRebalanceMs = this.nowMs;
      this.createPod(true);
      return;
    }
    const bridge = this.pods.find((p) => String(p.id) === action.name);
    if (!bridge) return;
    if (action.kind === 'abandon') {
      this.removePod(bridge);
      return;
    }
    // Released: the ReplicaSet adopts it, has one pod too many, and removes the cheapest to lose (a burst pod).
    bridge.bridge = false;
    this.reconcileReplicas();
    this.changed();
  }

  private facts(p: SimPod): PodFacts {
    const running = this.isRunning(p);
    const nodeName = p.tier === 'burst' ? 'virtual' : p.nodeId !== undefined ? String(p.nodeId) : undefined;
    return {
      name: String(p.id),
      tier: p.tier,
      phase: running ? 'Running' : 'Pending',
      ...(nodeName !== undefined ? { nodeName } : {}),
      ready: running,
      createdAtMs: p.createdAtMs,
      deleting: false,
      ...(p.unschedulableSinceMs !== undefined ? { unschedulableSinceMs: p.unschedulableSinceMs } : {}),
      toleratesVirtualNode: p.tier === 'burst',
      tierLabel: p.tier,
      deletionCost: deletionCostFor(p.tier, p.createdAtMs),
    };
  }

  private changed(): void {
    this.nextStartMs = undefined;
    this.runningCache = undefined;
    this.placementDirty = true;
  }

  // --- cost and samples --------------------------------------------------------------------------------------

  private liveBurstCost(atMs: number): number {
    let sum = 0;
    for (const p of this.pods) if (p.tier === 'burst') sum += burstPodCost(this.settings.burstSize, atMs - p.billedFromMs, this.settings.burstRates);
    return sum;
  }

  /** Live pods of the workload per tier (what the webhook counts when it places a new pod). */
  private tierCounts(): { regular: number; burst: number } {
    let regular = 0;
    let burst = 0;
    for (const p of this.pods) {
      if (p.bridge) continue;
      if (p.tier === 'burst') burst += 1;
      else regular += 1;
    }
    return { regular, burst };
  }

  private trackPeaks(): void {
    const { regular, burst } = this.tierCounts();
    this.peaks.regular = Math.max(this.peaks.regular, regular);
    this.peaks.burst = Math.max(this.peaks.burst, burst);
  }

  private sample(): void {
    let regular = 0;
    let burst = 0;
    for (const p of this.pods) {
      if (p.bridge || !this.isRunning(p)) continue;
      if (p.tier === 'burst') burst += 1;
      else regular += 1;
    }
    const s = this.samples;
    s.t.push(this.nowMs / 1000);
    s.backlog.push(Math.round(this.queue.backlog * 10) / 10);
    s.regular.push(regular);
    s.burst.push(burst);
    s.cost.push(Number((this.pool.costAt(this.nowMs) + this.burstSettled + this.liveBurstCost(this.nowMs)).toFixed(6)));
  }
}
