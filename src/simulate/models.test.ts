import { describe, expect, it } from 'vitest';
import { emptyHpaMemory, hpaSync, metricProposal, resolveHpaRules } from './hpa-model.js';
import { NodePool } from './node-pool.js';
import { burstPodCost, fargateBilledSize, fargatePricing, nodeCost } from './pricing.js';
import { WorkQueue } from './queue.js';
import { formatTraceCsv, generateTrace, parseTraceCsv, sourceDownSeconds, TraceError } from './trace.js';

describe('WorkQueue', () => {
  it('serves the head first at the Running replicas rate and records each item its wait', () => {
    const queue = new WorkQueue(60);
    queue.arrive(0, 10);
    queue.serve(0, 4, 0); // nobody running for 4 s
    queue.serve(4, 9, 2); // two items a second: done at 9 s
    expect(queue.backlog).toBe(0);
    expect(queue.peakBacklog).toBe(10);
    // Waits run evenly from 4 s to 9 s: the median is 6.5 s, p99 under 9 s.
    expect(queue.waits.percentile(50)).toBeCloseTo(6.5, 0);
    expect(queue.waits.percentile(99)).toBeLessThanOrEqual(9);
    expect(queue.waits.percentile(99)).toBeGreaterThan(8.5);
    expect(queue.waits.weight).toBeCloseTo(10);
  });

  it('counts the time the oldest waiting item is past the SLO', () => {
    const queue = new WorkQueue(10);
    queue.arrive(0, 5);
    queue.serve(0, 30, 0); // late from 10 s to 30 s
    queue.serve(30, 35, 1); // the head is served at 31, 32, ...: late until 35
    expect(queue.secondsOverSlo).toBeCloseTo(25);
    expect(queue.waits.shareAbove(10)).toBe(1);
  });

  it('leaves work that no replica serves waiting', () => {
    const queue = new WorkQueue(60);
    queue.arrive(0, 3);
    queue.serve(0, 100, 0);
    expect(queue.backlog).toBe(3);
    expect(queue.waits.weight).toBe(0);
  });
});

describe('HPA model', () => {
  const rules = resolveHpaRules({ minReplicas: 1, maxReplicas: 100 }, undefined);

  it.each([
    ['AverageValue above tolerance', { targetType: 'AverageValue' as const, target: 10, value: 95 }, { current: 5, ready: 5 }, 10],
    ['AverageValue within tolerance keeps the count', { targetType: 'AverageValue' as const, target: 10, value: 54 }, { current: 5, ready: 5 }, 5],
    ['AverageValue just outside tolerance', { targetType: 'AverageValue' as const, target: 10, value: 56 }, { current: 5, ready: 5 }, 6],
    ['AverageValue down', { targetType: 'AverageValue' as const, target: 10, value: 12 }, { current: 5, ready: 5 }, 2],
    ['Value scales the ready pods', { targetType: 'Value' as const, target: 10, value: 30 }, { current: 4, ready: 2 }, 6],
  ])('metricProposal: %s', (_name, metric, pods, want) => {
    expect(metricProposal(metric, pods, rules)).toBe(want);
  });

  it('applies the default scale-up limit: the larger of +4 pods and +100% per 15 s', () => {
    const first = hpaSync({ rules, memory: emptyHpaMemory, currentReplicas: 1, proposal: 40, nowMs: 0 });
    expect(first.replicas).toBe(5); // max(1 + 4, 1 × 2)
    const second = hpaSync({ rules, memory: first.memory, currentReplicas: 5, proposal: 40, nowMs: 5_000 });
    expect(second.replicas).toBe(5); // the period started at 1 replica: still max(5, 2)
    const third = hpaSync({ rules, memory: second.memory, currentReplicas: 5, proposal: 40, nowMs: 15_001 });
    expect(third.replicas).toBe(10); // a new period from 5: max(9, 10)
  });

  it('holds scale-down for the 5-minute stabilization window, then drops at once', () => {
    let memory = hpaSync({ rules, memory: emptyHpaMemory, currentReplicas: 10, proposal: 10, nowMs: 0 }).memory;
    const early = hpaSync({ rules, memory, currentReplicas: 10, proposal: 2, nowMs: 60_000 });
    expect(early.replicas).toBe(10);
    memory = early.memory;
    const late = hpaSync({ rules, memory, currentReplicas: 10, proposal: 2, nowMs: 300_001 });
    expect(late.replicas).toBe(2);
  });

  it('takes behavior from the ScaledObject: a Pods policy, a window and selectPolicy', () => {
    const custom = resolveHpaRules(
      { minReplicas: 1, maxReplicas: 20 },
      { scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] }, scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Disabled' } },
    );
    expect(hpaSync({ rules: custom, memory: emptyHpaMemory, currentReplicas: 3, proposal: 50, nowMs: 0 }).replicas).toBe(5);
    expect(hpaSync({ rules: custom, memory: emptyHpaMemory, currentReplicas: 8, proposal: 1, nowMs: 0 }).replicas).toBe(8);
    expect(custom.scaleDown.tolerance).toBe(0.1);
  });

  it('leaves a target at zero alone (swell scales from zero) and clamps to the bounds', () => {
    expect(hpaSync({ rules, memory: emptyHpaMemory, currentReplicas: 0, proposal: 7, nowMs: 0 }).replicas).toBe(0);
    expect(hpaSync({ rules, memory: emptyHpaMemory, currentReplicas: 150, proposal: 150, nowMs: 0 }).replicas).toBe(100);
  });
});

describe('NodePool', () => {
  const settings = { bootMs: 60_000, scanIntervalMs: 10_000, unneededMs: 600_000, delayAfterAddMs: 0, utilizationThreshold: 0.5, minNodes: 0, maxNodes: 10 };
  const pricing = { pricePerHour: 0.096, billing: 'second' as const, minimumSeconds: 60 };
  const pod = { cpu: 0.5, memoryGiB: 1 };

  it('asks for enough nodes for the unschedulable pods, binds once they boot, and removes an empty one after the unneeded time', () => {
    const pool = new NodePool({ cpu: 2, memoryGiB: 8, pods: 110 }, settings, pricing);
    expect(pool.bind(pod, 0)).toBeUndefined();
    expect(pool.scan(0, 6, pod).added).toBe(2); // 4 pods of 0.5 CPU per 2-CPU node
    expect(pool.scan(10_000, 6, pod).added).toBe(0); // already booting
    expect(pool.bind(pod, 59_999)).toBeUndefined();
    const ids = Array.from({ length: 6 }, () => pool.bind(pod, 60_000));
    expect(ids).toEqual([0, 0, 0, 0, 1, 1]);
    for (let i = 0; i < 2; i += 1) pool.release(1, pod);
    expect(pool.scan(70_000, 0, pod).removed).toEqual([]);
    expect(pool.scan(670_000, 0, pod).removed).toEqual([1]);
    // Node 0 lived 670 s, node 1 as long: 2 × 670 s at $0.096/h.
    expect(pool.costAt(670_000)).toBeCloseTo((2 * 670 * 0.096) / 3600, 6);
  });

  it('keeps a busy node and one whose pods have nowhere to go', () => {
    const pool = new NodePool({ cpu: 2, memoryGiB: 8, pods: 110 }, { ...settings, minNodes: 1 }, pricing);
    pool.bind(pod, 0);
    expect(pool.scan(0, 0, pod).removed).toEqual([]);
    expect(pool.scan(700_000, 0, pod).removed).toEqual([]);
  });
});

describe('pricing', () => {
  it.each([
    [
      { vcpu: 0.25, memoryGiB: 0.5 },
      { vcpu: 0.25, memoryGiB: 1 },
    ],
    [
      { vcpu: 0.5, memoryGiB: 1 },
      { vcpu: 0.5, memoryGiB: 2 },
    ],
    [
      { vcpu: 2, memoryGiB: 8 },
      { vcpu: 2, memoryGiB: 9 },
    ],
    [
      { vcpu: 1, memoryGiB: 0.5 },
      { vcpu: 1, memoryGiB: 2 },
    ],
  ])('rounds %o up to the Fargate size %o (plus 256 MiB)', (requested, billed) => {
    expect(fargateBilledSize(requested)).toEqual(billed);
  });

  it('refuses a pod larger than any Fargate size', () => {
    expect(fargateBilledSize({ vcpu: 32, memoryGiB: 8 })).toBeUndefined();
  });

  it('bills a burst pod per second with a one-minute minimum, and a node per second or per started hour', () => {
    const size = { vcpu: 1, memoryGiB: 2 };
    const perSecond = (1 * 0.04048 + 2 * 0.004445) / 3600;
    expect(burstPodCost(size, 10_000, fargatePricing)).toBeCloseTo(60 * perSecond, 10);
    expect(burstPodCost(size, 90_500, fargatePricing)).toBeCloseTo(91 * perSecond, 10);
    expect(nodeCost(30_000, { pricePerHour: 0.096, billing: 'second', minimumSeconds: 60 })).toBeCloseTo(0.0016, 10);
    expect(nodeCost(3_601_000, { pricePerHour: 0.096, billing: 'hour', minimumSeconds: 60 })).toBeCloseTo(0.192, 10);
  });
});

describe('traces', () => {
  it('reads arrivals and metric CSVs, with or without a header', () => {
    const arrivals = parseTraceCsv('seconds,arrivals\n0,5\n10,0\n# a comment\n12,3\n');
    expect(arrivals.kind).toBe('arrivals');
    expect([...arrivals.times]).toEqual([0, 10, 12]);
    expect(arrivals.duration).toBe(13);
    const metric = parseTraceCsv('seconds,value\n0,1.5\n15,2\n');
    expect(metric.kind).toBe('metric');
    expect(metric.duration).toBe(30);
  });

  it('reads the source column: down from a row until a row says up, and writes it back', () => {
    const trace = parseTraceCsv('seconds,arrivals,source\n0,5,up\n10,0,down\n30,2,up\n');
    expect([...(trace.sourceDown ?? [])]).toEqual([0, 1, 0]);
    expect(formatTraceCsv(trace)).toBe('seconds,arrivals,source\n0,5,up\n10,0,down\n30,2,up\n');
    expect(parseTraceCsv('seconds,arrivals\n0,5\n').sourceDown).toBeUndefined();
    // Down from 10 s to 30 s, and again from 40 s to the end (41 s: one second past the last arrivals row).
    expect(sourceDownSeconds(parseTraceCsv('seconds,arrivals,source\n0,5,up\n10,0,down\n30,2,up\n40,1,down\n'))).toBe(21);
  });

  it.each([
    ['0,5\n-1,2', /line 2.*not a number of seconds/],
    ['0,5\n10,x', /line 2.*non-negative/],
    ['10,5\n5,2', /goes back/],
    ['seconds,items\n0,1', /arrivals or value/],
    ['seconds,arrivals,state\n0,1,up', /third column must be named source/],
    ['seconds,arrivals,source\n0,1,flaky', /line 2: source must be up or down, not "flaky"/],
    ['seconds,arrivals,source\n0,1', /line 2: expected 3 columns/],
    ['seconds,arrivals\n0,1,down', /line 2: expected 2 columns/],
    ['', /no rows/],
  ])('names the line of a bad row: %j', (text, message) => {
    expect(() => parseTraceCsv(text)).toThrow(TraceError);
    expect(() => parseTraceCsv(text)).toThrow(message);
  });

  it('generates the same trace for the same seed, a different one for another', () => {
    const a = generateTrace({ shape: 'bursts', duration: 86_400, step: 10, mean: 5, seed: 3 });
    const b = generateTrace({ shape: 'bursts', duration: 86_400, step: 10, mean: 5, seed: 3 });
    const c = generateTrace({ shape: 'bursts', duration: 86_400, step: 10, mean: 5, seed: 4 });
    expect([...a.values]).toEqual([...b.values]);
    expect([...a.values]).not.toEqual([...c.values]);
    const total = [...a.values].reduce((x, y) => x + y, 0);
    expect(total / 86_400).toBeGreaterThan(0.5);
  });

  it('puts the spike a third of the way in', () => {
    const spike = generateTrace({ shape: 'spike', duration: 3000, step: 1, mean: 2, seed: 1 });
    const at = (from: number, to: number) => [...spike.times].reduce((sum, t, i) => sum + (t >= from && t < to ? (spike.values[i] ?? 0) : 0), 0);
    expect(at(1000, 1900) / 900).toBeGreaterThan(30);
    expect(at(0, 900) / 900).toBeLessThan(3);
  });
});
