import { nodeCost, type NodePricing } from './pricing.js';

/*
 * Regular nodes under a cluster-autoscaler-like controller. Pods are bound first-fit by their requests, oldest
 * node first. Every scan, unschedulable pods make the autoscaler ask for as many nodes as they need (less what is
 * already booting); a node whose requests stay below the utilization threshold, and whose pods fit on the other
 * nodes, for the unneeded time is removed (its pods are evicted and scheduled again). Nodes cost from the moment
 * they are requested until they are removed.
 */

export interface Resources {
  cpu: number;
  memoryGiB: number;
}

export interface NodeShape extends Resources {
  pods: number;
}

export interface AutoscalerSettings {
  /** From the autoscaler's request until the node takes pods. */
  bootMs: number;
  scanIntervalMs: number;
  /** `--scale-down-unneeded-time`. */
  unneededMs: number;
  /** `--scale-down-delay-after-add`. */
  delayAfterAddMs: number;
  /** `--scale-down-utilization-threshold`: requests over allocatable below which a node may go. */
  utilizationThreshold: number;
  minNodes: number;
  maxNodes: number;
}

export interface PoolNode {
  readonly id: number;
  readonly requestedAtMs: number;
  readonly readyAtMs: number;
  cpu: number;
  memoryGiB: number;
  pods: number;
  unneededSinceMs?: number;
}

export interface ScanResult {
  added: number;
  /** Nodes removed; the caller evicts the pods that were bound to them. */
  removed: number[];
}

export class NodePool {
  private readonly live: PoolNode[] = [];
  private nextId = 0;
  private settled = 0;
  private lastAddMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly shape: NodeShape,
    private readonly settings: AutoscalerSettings,
    private readonly pricing: NodePricing,
  ) {
    for (let i = 0; i < settings.minNodes; i += 1) this.add(0, 0);
  }

  get nodes(): readonly PoolNode[] {
    return this.live;
  }

  /** Pods of this size one empty node takes. */
  slotsPerNode(request: Resources): number {
    return slotsOn({ ...this.shape, pods: this.shape.pods }, request);
  }

  /** The first ready node with room for `request` (now bound to it), or undefined. */
  bind(request: Resources, nowMs: number): number | undefined {
    const node = this.live.find((n) => n.readyAtMs <= nowMs && slotsOn(free(this.shape, n), request) >= 1);
    if (!node) return undefined;
    node.cpu += request.cpu;
    node.memoryGiB += request.memoryGiB;
    node.pods += 1;
    return node.id;
  }

  release(nodeId: number, request: Resources): void {
    const node = this.live.find((n) => n.id === nodeId);
    if (!node) return;
    node.cpu = Math.max(0, node.cpu - request.cpu);
    node.memoryGiB = Math.max(0, node.memoryGiB - request.memoryGiB);
    node.pods = Math.max(0, node.pods - 1);
  }

  /** Pods of this size the ready nodes can still take. */
  freeSlots(request: Resources, nowMs: number, except?: number): number {
    return this.live.filter((n) => n.readyAtMs <= nowMs && n.id !== except).reduce((sum, n) => sum + slotsOn(free(this.shape, n), request), 0);
  }

  /** When the next booting node becomes ready, if any. */
  nextReadyAtMs(nowMs: number): number | undefined {
    let next: number | undefined;
    for (const n of this.live) if (n.readyAtMs > nowMs && (next === undefined || n.readyAtMs < next)) next = n.readyAtMs;
    return next;
  }

  /** Nodes already running at the start for `pods` pods of size `request` (the state the run starts from). */
  provision(pods: number, request: Resources, nowMs: number): void {
    const perNode = this.slotsPerNode(request);
    const room = this.freeSlots(request, nowMs);
    const count = perNode === 0 ? 0 : Math.ceil(Math.max(0, pods - room) / perNode);
    for (let i = 0; i < count; i += 1) this.add(nowMs, nowMs);
  }

  /** One autoscaler pass: scale up for `unschedulable` pods of size `request`, then scale down unneeded nodes. */
  scan(nowMs: number, unschedulable: number, request: Resources): ScanResult {
    const added = this.scaleUp(nowMs, unschedulable, request);
    const removed = added > 0 || nowMs - this.lastAddMs < this.settings.delayAfterAddMs ? [] : this.scaleDown(nowMs, request);
    return { added, removed };
  }

  /** Dollars for every node so far, the live ones billed up to `nowMs`. */
  costAt(nowMs: number): number {
    return this.settled + this.live.reduce((sum, n) => sum + nodeCost(nowMs - n.requestedAtMs, this.pricing), 0);
  }

  private scaleUp(nowMs: number, unschedulable: number, request: Resources): number {
    const perNode = this.slotsPerNode(request);
    if (unschedulable <= 0 || perNode === 0) return 0;
    const booting = this.live.filter((n) => n.readyAtMs > nowMs).reduce((sum, n) => sum + slotsOn(free(this.shape, n), request), 0);
    const wanted = Math.ceil(Math.max(0, unschedulable - booting) / perNode);
    const count = Math.min(wanted, this.settings.maxNodes - this.live.length);
    for (let i = 0; i < count; i += 1) this.add(nowMs, nowMs + this.settings.bootMs);
    if (count > 0) this.lastAddMs = nowMs;
    return Math.max(0, count);
  }

  private scaleDown(nowMs: number, request: Resources): number[] {
    const removed: number[] = [];
    for (const node of [...this.live].reverse()) {
      if (node.readyAtMs > nowMs) continue;
      const utilization = Math.max(node.cpu / this.shape.cpu, node.memoryGiB / this.shape.memoryGiB);
      const movable = node.pods === 0 || (removed.length === 0 && this.freeSlots(request, nowMs, node.id) >= node.pods);
      if (utilization >= this.settings.utilizationThreshold || !movable) {
        delete node.unneededSinceMs;
        continue;
      }
      node.unneededSinceMs ??= nowMs;
      if (nowMs - node.unneededSinceMs < this.settings.unneededMs || this.live.length - removed.length <= this.settings.minNodes) continue;
      // Empty nodes go together; a node with pods goes alone, as the autoscaler drains one at a time.
      if (node.pods > 0 && removed.length > 0) continue;
      removed.push(node.id);
      if (node.pods > 0) break;
    }
    for (const id of removed) this.remove(id, nowMs);
    return removed;
  }

  private add(requestedAtMs: number, readyAtMs: number): void {
    this.live.push({ id: this.nextId, requestedAtMs, readyAtMs, cpu: 0, memoryGiB: 0, pods: 0 });
    this.nextId += 1;
  }

  private remove(id: number, nowMs: number): void {
    const index = this.live.findIndex((n) => n.id === id);
    const node = this.live[index];
    if (!node) return;
    this.settled += nodeCost(nowMs - node.requestedAtMs, this.pricing);
    this.live.splice(index, 1);
  }
}

function free(shape: NodeShape, node: PoolNode): NodeShape {
  return { cpu: shape.cpu - node.cpu, memoryGiB: shape.memoryGiB - node.memoryGiB, pods: shape.pods - node.pods };
}

function slotsOn(room: NodeShape, request: Resources): number {
  const limits = [room.pods];
  if (request.cpu > 0) limits.push(Math.floor(room.cpu / request.cpu + 1e-9));
  if (request.memoryGiB > 0) limits.push(Math.floor(room.memoryGiB / request.memoryGiB + 1e-9));
  return Math.max(0, Math.min(...limits));
}
