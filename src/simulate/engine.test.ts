import { describe, expect, it } from 'vitest';
import { simulateStrategy, type EngineSettings, type Strategy } from './engine.js';
import { fargatePricing } from './pricing.js';
import { parseTraceCsv } from './trace.js';
import { loadWorkload } from './workload.js';

/*
 * Hand-computed runs: 50 items arrive at once at t=0; the ScaledObject polls every 5 s, wants one replica per
 * 10 items; each replica does one item a second; nodes boot in 60 s, pods start 5 s after binding, burst pods
 * 40 s after creation.
 */

const manifests = `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: worker
spec:
  scaleTargetRef:
    name: worker
  pollingInterval: 5
  cooldownPeriod: 30
  minReplicaCount: 0
  maxReplicaCount: 10
  triggers:
    - type: redis
      metadata:
        address: redis:6379
        listName: jobs
        listLength: "10"
`;

const settings: EngineSettings = {
  ratePerReplica: 1,
  sloSeconds: 60,
  hpaSyncMs: 15_000,
  hpa: { tolerance: 0.1, downscaleStabilizationSeconds: 300 },
  regularStartMs: 5_000,
  burstStartMs: { min: 40_000, max: 40_000 },
  seed: 1,
  podRequests: { cpu: 0.25, memoryGiB: 0.5 },
  burstSize: { vcpu: 0.25, memoryGiB: 1 },
  burstRates: fargatePricing,
  node: { cpu: 2, memoryGiB: 8, pods: 110 },
  autoscaler: { bootMs: 60_000, scanIntervalMs: 10_000, unneededMs: 600_000, delayAfterAddMs: 600_000, utilizationThreshold: 0.5, minNodes: 0, maxNodes: 10 },
  nodePricing: { pricePerHour: 0.096, billing: 'second', minimumSeconds: 60 },
  sampleEverySeconds: 1,
  drainLimitSeconds: 3600,
};

const workload = loadWorkload(manifests);
const oneBatch = parseTraceCsv('seconds,arrivals\n0,50\n');
const placement = { pendingTimeoutMs: 60_000, rebalance: false, rebalanceIntervalMs: 30_000 };
const burstPodSecond = (0.25 * fargatePricing.vcpuHour + 1 * fargatePricing.gibHour) / 3600;

describe('simulateStrategy', () => {
  it('nodes only: swell activates 1 replica, the HPA adds 4 (its default limit), one node boots, all 50 are done at 75 s', () => {
    const strategy: Strategy = { name: 'nodes only', kind: 'nodes' };
    const result = simulateStrategy(oneBatch, workload, strategy, settings);
    expect(result.peakReplicas).toEqual({ regular: 5, burst: 0 });
    expect(result.peakNodes).toBe(1);
    expect(result.seconds).toBe(75);
    // Served evenly from 65 s to 75 s.
    expect(result.wait.p50).toBeCloseTo(70, 0);
    expect(result.wait.p99).toBeGreaterThan(74);
    expect(result.wait.p99).toBeLessThanOrEqual(75);
    expect(result.secondsOverSlo).toBeCloseTo(15);
    expect(result.cost).toEqual({ total: expect.closeTo((75 * 0.096) / 3600, 9) as number, nodes: expect.closeTo((75 * 0.096) / 3600, 9) as number, burst: 0 });
  });

  it('serverless only: 5 burst pods run from 40 s, done at 50 s, each billed the one-minute minimum', () => {
    const strategy: Strategy = { name: 'serverless only', kind: 'serverless', placement: { ...placement, baseReplicas: 0 } };
    const result = simulateStrategy(oneBatch, workload, strategy, settings);
    expect(result.peakReplicas).toEqual({ regular: 0, burst: 5 });
    expect(result.peakNodes).toBe(0);
    expect(result.seconds).toBe(50);
    expect(result.wait.p50).toBeCloseTo(45, 0);
    expect(result.cost.nodes).toBe(0);
    expect(result.cost.burst).toBeCloseTo(5 * 60 * burstPodSecond, 9);
  });

  it('base 2 + burst: 2 regular pods wait for the node, 3 burst pods start at 40 s and take the work first', () => {
    const strategy: Strategy = { name: 'base 2 + burst', kind: 'base', placement: { ...placement, baseReplicas: 2 } };
    const result = simulateStrategy(oneBatch, workload, strategy, settings);
    expect(result.peakReplicas).toEqual({ regular: 2, burst: 3 });
    // 3 items a second from 40 s: the last of the 50 is done at 56.7 s.
    expect(result.wait.p50).toBeCloseTo(48.3, 0);
    expect(result.wait.p99).toBeLessThanOrEqual(57);
    expect(result.secondsOverSlo).toBe(0);
  });

  it("scales back to zero through swell's cooldown once the queue is empty", () => {
    const trace = parseTraceCsv('seconds,arrivals\n0,50\n200,0\n');
    const result = simulateStrategy(trace, workload, { name: 'nodes only', kind: 'nodes' }, settings);
    const at = (t: number) => result.samples.regular[result.samples.t.indexOf(t)];
    expect(at(100)).toBe(5);
    // Last active poll at 70 s (the queue still held work), cooldown 30 s: the first poll after 100 s deactivates.
    expect(at(105)).toBe(0);
  });

  it('feeds a metric trace to a Prometheus trigger and serves its value as work each second', () => {
    const prometheus = loadWorkload(
      manifests.replace(
        /type: redis[\s\S]*$/,
        'type: prometheus\n      metadata:\n        serverAddress: http://prometheus:9090\n        query: sum(rate(x[1m]))\n        threshold: "2"\n',
      ),
    );
    const trace = parseTraceCsv('seconds,value\n0,4\n60,4\n');
    const result = simulateStrategy(trace, prometheus, { name: 'serverless only', kind: 'serverless', placement: { ...placement, baseReplicas: 0 } }, settings);
    expect(result.peakReplicas.burst).toBe(2);
    expect(result.served).toBeCloseTo(480);
  });

  describe("source failures in the trace and scalingModifiers, through the operator's own functions", () => {
    const serverless: Strategy = { name: 'serverless only', kind: 'serverless', placement: { ...placement, baseReplicas: 0 } };
    const withFallback = loadWorkload(manifests.replace('  triggers:', '  fallback:\n    failureThreshold: 1\n    replicas: 3\n  triggers:'));
    const sourceDown = parseTraceCsv('seconds,arrivals,source\n0,50,down\n');

    it('fallback: the poll at 0 s counts the first failure (threshold 1) and holds; at 5 s fallback activates 1, at 15 s the HPA reads 3 × 10 and goes to 3, not 5', () => {
      const result = simulateStrategy(sourceDown, withFallback, serverless, settings);
      expect(result.peakReplicas).toEqual({ regular: 0, burst: 3 });
      // Pod 1 (created at 5 s) runs from 45 s, pods 2 and 3 (15 s) from 55 s: 10 items by 55 s, the other 40 at 3 a second.
      expect(result.wait.p99).toBeGreaterThan(67.5);
      expect(result.wait.p99).toBeLessThanOrEqual(68.4);
      expect(result.served).toBeCloseTo(50);
      expect(result.fallbackPolls).toBeGreaterThan(10);
      expect(simulateStrategy(oneBatch, withFallback, serverless, settings).peakReplicas.burst).toBe(5);
    });

    it('no fallback: the scale loop holds on the error and nothing scales, so the work is never served', () => {
      const result = simulateStrategy(sourceDown, workload, serverless, settings);
      expect(result.peakReplicas).toEqual({ regular: 0, burst: 0 });
      expect(result.unserved).toBeCloseTo(50);
      expect(result.fallbackPolls).toBe(0);
    });

    it('the source coming back ends fallback: the HPA reads the backlog again', () => {
      const result = simulateStrategy(parseTraceCsv('seconds,arrivals,source\n0,50,down\n20,0,up\n'), withFallback, serverless, settings);
      // Up from 20 s: the HPA sync at 30 s reads 50 items / 10 = 5.
      expect(result.peakReplicas.burst).toBe(5);
      expect(result.fallbackPolls).toBe(3);
    });

    it('scalingModifiers: the formula a / 2 halves what the HPA reads, so 25 / 10 gives 3 burst pods, done at 56.7 s', () => {
      const halved = loadWorkload(
        manifests
          .replace('    - type: redis', '    - name: a\n      type: redis')
          .replace('  triggers:', '  advanced:\n    scalingModifiers:\n      formula: a / 2\n      target: "10"\n  triggers:'),
      );
      const result = simulateStrategy(oneBatch, halved, serverless, settings);
      expect(result.peakReplicas).toEqual({ regular: 0, burst: 3 });
      expect(result.seconds).toBeCloseTo(56.7, 0);
    });
  });
});
