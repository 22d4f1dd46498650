import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from './net.js';
import { parse } from 'yaml';
import {
  addScrapeTarget,
  prometheusComponent,
  prometheusConfig,
  readTargets,
  removeScrapeTarget,
  withoutTarget,
  withTarget,
  type TargetGroup,
} from './prometheus.js';

describe('withTarget', () => {
  const cases: { name: string; groups: TargetGroup[]; target: string; labels?: Record<string, string>; expected: TargetGroup[] }[] = [
    { name: 'adds to an empty list', groups: [], target: '127.0.0.1:8080', expected: [{ targets: ['127.0.0.1:8080'] }] },
    {
      name: 'keeps other targets and gives the new one its own group',
      groups: [{ targets: ['127.0.0.1:1'], labels: { a: '1' } }],
      target: 'localhost:2',
      labels: { job_kind: 'x' },
      expected: [
        { targets: ['127.0.0.1:1'], labels: { a: '1' } },
        { targets: ['localhost:2'], labels: { job_kind: 'x' } },
      ],
    },
    {
      name: 'replaces the labels of a target already listed',
      groups: [{ targets: ['127.0.0.1:1', '127.0.0.1:2'], labels: { old: 'y' } }],
      target: '127.0.0.1:2',
      labels: { new: 'z' },
      expected: [
        { targets: ['127.0.0.1:1'], labels: { old: 'y' } },
        { targets: ['127.0.0.1:2'], labels: { new: 'z' } },
      ],
    },
    { name: 'accepts bracketed IPv6', groups: [], target: '[::1]:9090', expected: [{ targets: ['[::1]:9090'] }] },
    {
      name: 'allows Prometheus meta labels such as __metrics_path__',
      groups: [],
      target: 'h:1',
      labels: { __metrics_path__: '/m' },
      expected: [{ targets: ['h:1'], labels: { __metrics_path__: '/m' } }],
    },
  ];
  it.each(cases)('$name', ({ groups, target, labels, expected }) => {
    expect(withTarget(groups, target, labels)).toEqual(expected);
  });

  it.each(['127.0.0.1', 'http://127.0.0.1:80', '127.0.0.1:0', '127.0.0.1:65536', 'host:port', ' h:1', ''])('rejects target %j', (target) => {
    expect(() => withTarget([], target)).toThrow(/host:port/);
  });

  it.each(['1abc', 'with-dash', 'spa ce', ''])('rejects label name %j', (name) => {
    expect(() => withTarget([], 'h:1', { [name]: 'v' })).toThrow(/label name/);
  });
});

describe('withoutTarget', () => {
  it.each([
    { name: 'drops a group left empty', groups: [{ targets: ['a:1'] }, { targets: ['b:2'] }], target: 'a:1', expected: [{ targets: ['b:2'] }] },
    {
      name: 'keeps the rest of a shared group',
      groups: [{ targets: ['a:1', 'b:2'], labels: { l: 'v' } }],
      target: 'b:2',
      expected: [{ targets: ['a:1'], labels: { l: 'v' } }],
    },
    { name: 'ignores a target that is not listed', groups: [{ targets: ['a:1'] }], target: 'c:3', expected: [{ targets: ['a:1'] }] },
  ])('$name', ({ groups, target, expected }) => {
    expect(withoutTarget(groups, target)).toEqual(expected);
  });
});

describe('targets file', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swell-prom-'));
    file = join(dir, 'targets.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds and removes targets, leaving no staging files behind', async () => {
    await addScrapeTarget(file, '127.0.0.1:1', { test: 'a' });
    await addScrapeTarget(file, '127.0.0.1:2');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual([{ targets: ['127.0.0.1:1'], labels: { test: 'a' } }, { targets: ['127.0.0.1:2'] }]);
    await removeScrapeTarget(file, '127.0.0.1:1');
    expect(await readTargets(file)).toEqual([{ targets: ['127.0.0.1:2'] }]);
    expect(await readdir(dir)).toEqual(['targets.json']);
  });

  it('treats a missing file as an empty list', async () => {
    expect(await readTargets(file)).toEqual([]);
  });

  it.each([
    { content: '{not json', error: /not valid JSON/ },
    { content: '{"targets": []}', error: /expected a JSON array/ },
    { content: '[{"targets": [1]}]', error: /expected a JSON array/ },
    { content: '[{"targets": ["a:1"], "labels": {"x": 1}}]', error: /expected a JSON array/ },
  ])('names the file when its content is $content', async ({ content, error }) => {
    await writeFile(file, content);
    await expect(addScrapeTarget(file, 'h:1')).rejects.toThrow(error);
    await expect(readTargets(file)).rejects.toThrow(file);
  });
});

describe('prometheusConfig', () => {
  it('scrapes itself and the targets file every second', () => {
    const config = parse(prometheusConfig(43210, '/state/prometheus/targets.json')) as {
      global: Record<string, string>;
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; file_sd_configs?: { files: string[]; refresh_interval: string }[] }[];
    };
    expect(config.global).toEqual({ scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' });
    expect(config.scrape_configs.find((c) => c.job_name === 'prometheus')?.static_configs).toEqual([{ targets: ['127.0.0.1:43210'] }]);
    expect(config.scrape_configs.find((c) => c.job_name === 'sandbox')?.file_sd_configs).toEqual([
      { files: ['/state/prometheus/targets.json'], refresh_interval: '1s' },
    ]);
  });
});

describe('healthy', () => {
  // A probe that waited on a retry or a long connect time-out would run into the test's own time-out.
  it('is false, without waiting on a time-out, when nothing listens or the env is missing', { timeout: 5_000 }, async () => {
    const component = prometheusComponent();
    const port = await freePort();
    expect(await component.healthy({ env: { PROMETHEUS_URL: `http://127.0.0.1:${port}` }, endpoints: {} })).toBe(false);
    expect(await component.healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});
