import { describe, expect, it } from 'vitest';
import type { ParseInput } from './definition.js';
import { field } from './metadata.js';
import type { MetricReading } from './scaler.js';
import { schemaParser, singleMetricScaler, type MetricSource, type SingleMetricScaler } from './single-metric.js';
import { contextFor, testDeps, testEpochMs } from './testing.js';
import { FakeClock } from '../src/controller/fake-clock.js';

const schema = {
  queue: field.string(),
  depth: field.int({ default: 5 }),
  activationDepth: field.int({ default: 0 }),
  timeout: field.duration({ optional: true }),
};
const parse = schemaParser({
  schema,
  errorPrefix: 'error parsing demo metadata',
  rules: () => [{ fields: ['depth'], check: (m) => (m.depth <= 0 ? 'depth must be positive' : undefined) }],
});
type DemoConfig = ReturnType<typeof parse>['config'];

/** A source whose reads the test answers, remembering the timeout and signal each was given. */
function demoSource(
  values: number[],
  log: { timeoutMs: number; signal: AbortSignal }[],
  closes: { count: number },
): (config: DemoConfig) => MetricSource<number> {
  return (config) => ({
    key: `demo|${config.queue}`,
    read: (timeoutMs, signal) => {
      log.push({ timeoutMs, signal });
      return Promise.resolve(values.shift() ?? 0);
    },
    close: () => {
      closes.count++;
      return Promise.resolve();
    },
  });
}

function demo(extra: Partial<SingleMetricScaler<DemoConfig, number>> = {}) {
  const log: { timeoutMs: number; signal: AbortSignal }[] = [];
  const closes = { count: 0 };
  const values = [3, 7];
  const declaration = {
    types: ['demo'],
    schema,
    parse,
    example: { metadata: { queue: 'q' } },
    metricName: (c: DemoConfig) => `demo-${c.queue}`,
    target: (c: DemoConfig) => c.depth,
    timeoutMs: (c: DemoConfig) => c.timeout,
    source: demoSource(values, log, closes),
    value: (n: number) => n,
    activation: (c: DemoConfig) => c.activationDepth,
    ...extra,
  } as SingleMetricScaler<DemoConfig, number>;
  return { definition: singleMetricScaler(declaration), log, closes };
}

const input = (metadata: Record<string, string>): ParseInput => ({
  trigger: { type: 'demo', metadata },
  triggerIndex: 2,
  authParams: {},
  resolvedEnv: {},
  offline: false,
});

describe('singleMetricScaler', () => {
  it('publishes one External metric named and targeted from the config, and refuses other names', async () => {
    const { definition } = demo();
    const { config } = definition.parse(input({ queue: 'jobs.high', depth: '10' }));
    const scaler = definition.create(config, contextFor({ type: 'demo' }, { triggerIndex: 2 }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's2-demo-jobs-high', targetType: 'AverageValue', target: 10 }]);
    await expect(scaler.read('s2-other')).rejects.toThrow('no metric named "s2-other" in this trigger');
  });

  it.each([
    { name: 'the trigger timeout first', metadata: { timeout: '250ms' }, deps: { requestTimeoutMs: 900 }, defaultTimeoutMs: 5000, expected: 250 },
    { name: 'then the operator', metadata: {} as Record<string, string>, deps: { requestTimeoutMs: 900 }, defaultTimeoutMs: 5000, expected: 900 },
    { name: 'then the scaler default', metadata: {}, deps: {}, defaultTimeoutMs: 5000, expected: 5000 },
    { name: 'then 3 s', metadata: {}, deps: {}, defaultTimeoutMs: undefined, expected: 3000 },
  ])('gives the source $name as request timeout', async ({ metadata, deps, defaultTimeoutMs, expected }) => {
    const { definition, log } = demo(defaultTimeoutMs !== undefined ? { defaultTimeoutMs } : {});
    const { config } = definition.parse(input({ queue: 'q', ...metadata }));
    const scaler = definition.create(config, contextFor({ type: 'demo' }), testDeps(undefined, deps));
    await scaler.read('s0-demo-q');
    expect(log[0]?.timeoutMs).toBe(expected);
  });

  it('is active only above the activation threshold, and shares reads of one source across scalers', async () => {
    const { definition, log } = demo();
    const { config } = definition.parse(input({ queue: 'q', activationDepth: '3' }));
    const clock = new FakeClock(testEpochMs);
    const deps = testDeps(clock);
    const [a, b] = [0, 1].map((i) => definition.create(config, contextFor({ type: 'demo' }, { triggerIndex: i }), deps));
    const readings = await Promise.all([a?.read('s0-demo-q', { maxAgeMs: 1000 }), b?.read('s1-demo-q', { maxAgeMs: 1000 })]);
    expect(readings).toEqual([
      { value: 3, active: false },
      { value: 3, active: false },
    ]);
    expect(log).toHaveLength(1);
    await clock.advance(1);
    await expect(a?.read('s0-demo-q')).resolves.toEqual({ value: 7, active: true });
  });

  it("hands the caller's abort to the source", async () => {
    let sourceSignal: AbortSignal | undefined;
    const hanging = (): MetricSource<number> => ({
      key: 'demo|hanging',
      read: (_timeoutMs, signal) => {
        sourceSignal = signal;
        return new Promise<never>(() => undefined);
      },
      close: () => Promise.resolve(),
    });
    const { definition } = demo({ source: hanging });
    const { config } = definition.parse(input({ queue: 'q' }));
    const scaler = definition.create(config, contextFor({ type: 'demo' }), testDeps());
    const caller = new AbortController();
    const reading = scaler.read('s0-demo-q', { signal: caller.signal });
    caller.abort(new Error('deadline'));
    await expect(reading).rejects.toThrow('deadline');
    expect(sourceSignal?.aborted).toBe(true);
  });

  it('lets a scaler interpret readings with state of its own', async () => {
    const interpreter = () => {
      let previous = 0;
      return (raw: number): MetricReading => {
        const reading = { value: raw - previous, active: raw > previous };
        previous = raw;
        return reading;
      };
    };
    const { definition } = demo({ interpreter });
    const { config } = definition.parse(input({ queue: 'q' }));
    const clock = new FakeClock(testEpochMs);
    const scaler = definition.create(config, contextFor({ type: 'demo' }), testDeps(clock));
    await expect(scaler.read('s0-demo-q')).resolves.toEqual({ value: 3, active: true });
    await clock.advance(1);
    await expect(scaler.read('s0-demo-q')).resolves.toEqual({ value: 4, active: true });
  });

  it('closes the source once however often it is closed', async () => {
    const { definition, closes } = demo();
    const { config } = definition.parse(input({ queue: 'q' }));
    const scaler = definition.create(config, contextFor({ type: 'demo' }), testDeps());
    await Promise.all([scaler.close(), scaler.close()]);
    await scaler.close();
    expect(closes.count).toBe(1);
  });
});

describe('schemaParser', () => {
  it('prefixes every problem, from fields and rules alike', () => {
    expect(parse(input({ depth: '0' })).errors).toEqual([
      'error parsing demo metadata: missing required parameter "queue" in [triggerMetadata]',
      'error parsing demo metadata: depth must be positive',
    ]);
  });
});
