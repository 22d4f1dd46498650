import { describe, expect, it } from 'vitest';
import { countPods } from './kubernetes-workload.js';
import type { NamespacePods, PodSource, PodSummary } from './pod-source.js';
import { matchesLabels, parseLabelSelector } from './label-selector.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { FakeClock } from '../src/controller/fake-clock.js';
import { contextFor, testDeps, testEpochMs } from './testing.js';

describe('label selectors', () => {
  const labels = { app: 'backend', tier: 'web', deploy: 'canary' };
  it.each<[string, boolean]>([
    ['app=backend', true],
    ['app==backend', true],
    ['app=frontend', false],
    ['app!=frontend', true],
    ['app=backend, deploy notin (critical, monolith)', true],
    ['deploy in (canary,stable)', true],
    ['deploy notin (canary)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['missing!=x', true],
    ['example.com/team in (a)', false],
    ['', true],
  ])('%j → %s', (selector, expected) => expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected));

  it.each(['app=', 'app in (a', 'bad key=x', 'app=not valid', '=x', 'a,,b'])('%j', (selector) => {
    if (selector === 'app=') expect(matchesLabels(parseLabelSelector(selector), { app: '' })).toBe(true);
    else expect(() => parseLabelSelector(selector)).toThrow();
  });
});

describe('kubernetes-workload metadata', () => {
  const trigger = (metadata: Record<string, string>) => ({ type: 'kubernetes-workload', metadata });
  const prefix = 'error parsing kubernetes workload metadata: ';
  it.each<[string, Record<string, string>, string[]]>([
    ['a selector and a value', { podSelector: 'app=backend', value: '0.5' }, []],
    ['set-based requirements', { podSelector: 'app=backend, deploy notin (critical, monolith)', value: '3', activationValue: '3.1' }, []],
    ['no selector', { value: '1' }, [`${prefix}missing required parameter "podSelector" in [triggerMetadata]`]],
    ['no value', { podSelector: 'app=a' }, [`${prefix}missing required parameter "value" in [triggerMetadata]`]],
    ['a broken selector', { podSelector: 'app in (a', value: '1' }, [`${prefix}invalid pod selector app in (a: unbalanced "("`]],
  ])('%s', (_name, metadata, errors) => expect(validateTriggerMetadata(trigger(metadata))).toEqual(errors));
});

describe('countPods', () => {
  const pod = (labels: Record<string, string>, phase?: string): PodSummary => ({ metadata: { labels }, status: phase ? { phase } : {} });
  it('counts matching pods that have not finished', () => {
    const pods = [
      pod({ app: 'a' }, 'Running'),
      pod({ app: 'a' }, 'Pending'),
      pod({ app: 'a' }),
      pod({ app: 'a' }, 'Succeeded'),
      pod({ app: 'a' }, 'Failed'),
      pod({ app: 'b' }, 'Running'),
    ];
    expect(countPods(pods, parseLabelSelector('app=a'))).toBe(3);
  });
});

/** An in-memory pod source that counts how often it was asked to watch and list. */
class FakePods implements PodSource {
  watches = 0;
  lists = 0;
  open = 0;
  constructor(readonly pods: PodSummary[]) {}
  watch(): NamespacePods {
    this.watches++;
    this.open++;
    return {
      synced: () => Promise.resolve(true),
      list: () => {
        this.lists++;
        return this.pods;
      },
      release: () => {
        this.open--;
        return Promise.resolve();
      },
    };
  }
}

describe('kubernetes-workload scaler', () => {
  it('names the metric after the namespace and shares one count between triggers with the same selector', async () => {
    const clock = new FakeClock(testEpochMs);
    const source = new FakePods([{ metadata: { labels: { app: 'a' } }, status: { phase: 'Running' } }]);
    const deps = testDeps(clock, { pods: source });
    const scalers = Array.from({ length: 10 }, () =>
      createScaler(contextFor({ type: 'kubernetes-workload', metadata: { podSelector: 'app=a', value: '2' } }, { namespace: 'shop' }), deps),
    );
    expect(scalers[0]?.metricSpecs).toEqual([{ kind: 'External', metricName: 's0-workload-shop', targetType: 'AverageValue', target: 2 }]);
    const readings = await Promise.all(scalers.map((s) => s.read('s0-workload-shop', { maxAgeMs: 1000 })));
    expect(readings.every((r) => r.value === 1 && r.active)).toBe(true);
    expect(source.lists).toBe(1);
    await Promise.all(scalers.map((s) => s.close()));
    expect(source.open).toBe(0);
  });

  it('fails in plain words where no pod informer runs', async () => {
    const scaler = createScaler(contextFor({ type: 'kubernetes-workload', metadata: { podSelector: 'app=a', value: '2' } }), testDeps());
    await expect(scaler.read('s0-workload-default')).rejects.toThrow("kubernetes-workload needs the operator's pod informer");
  });
});
