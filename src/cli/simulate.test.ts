// @compiled-cli
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriesFromChart } from '../demo/chart.js';

/* `swell simulate` as users run it: the compiled CLI (npm run build, then node bin/swell.js) on the example traces. */

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
let dir: string;

async function swell(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(repo, 'bin', 'swell.js'), ...args], {
      cwd: repo,
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swell-simulate-'));
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface JsonReport {
  results: {
    name: string;
    kind: string;
    baseReplicas?: number;
    cost: { total: number; nodes: number; burst: number };
    wait: { p99: number };
    peakReplicas: { regular: number; burst: number };
  }[];
  recommendation?: { result: { name: string; cost: { total: number } }; burstPolicyYaml: string };
}

describe('swell simulate (compiled)', () => {
  it('compares the strategies on the spike trace, recommends a base and draws the chart', async () => {
    const chart = join(dir, 'spike.svg');
    const { code, stdout, stderr } = await swell([
      'simulate',
      '-f',
      'examples/traces/worker.yaml',
      '--trace',
      'examples/traces/spike.csv',
      '--slo-wait',
      '2m',
      '--bases',
      '2,4,8',
      '--output',
      'json',
      '--chart',
      chart,
    ]);
    expect(stderr).toContain(`chart written to ${chart}`);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as JsonReport;
    expect(report.results.map((r) => r.name)).toEqual([
      'nodes only',
      'serverless only',
      'as given (BurstPolicy worker)',
      'base 2 + burst',
      'base 4 + burst',
      'base 8 + burst',
    ]);
    const byName = new Map(report.results.map((r) => [r.name, r]));
    expect(byName.get('nodes only')?.cost.burst).toBe(0);
    expect(byName.get('serverless only')?.cost.nodes).toBe(0);
    expect(byName.get('base 4 + burst')?.peakReplicas.regular).toBe(4);
    // The as-given policy has baseReplicas 4: the same run as the sweep's base 4.
    expect(byName.get('as given (BurstPolicy worker)')?.cost.total).toBe(byName.get('base 4 + burst')?.cost.total);
    const recommended = report.recommendation;
    expect(recommended).toBeDefined();
    const meeting = report.results.filter((r) => (r.kind === 'base' || r.kind === 'serverless') && r.wait.p99 <= 120);
    expect(recommended?.result.cost.total).toBe(Math.min(...meeting.map((r) => r.cost.total)));
    expect(recommended?.burstPolicyYaml).toMatch(/kind: BurstPolicy[\s\S]*baseReplicas: \d+/);
    const series = seriesFromChart(await readFile(chart, 'utf8'));
    expect([...series.keys()]).toEqual(expect.arrayContaining(['nodes only', 'serverless only', 'nodes only: regular', 'serverless only: burst']));
    expect(Math.max(...(series.get('serverless only: burst') ?? []))).toBe(byName.get('serverless only')?.peakReplicas.burst);
  }, 180_000);

  it('draws the README chart: the committed docs/simulate-bursts.svg is what the README command writes today', async () => {
    const chart = join(dir, 'bursts.svg');
    const readmeCommand = [
      'simulate',
      '-f',
      'examples/traces/worker.yaml',
      '--trace',
      'examples/traces/bursts.csv',
      '--slo-wait',
      '2m',
      '--bases',
      '2,4,8,16',
      '--chart',
      chart,
    ];
    const { code, stdout } = await swell(readmeCommand);
    expect(code).toBe(0);
    expect(await readFile(chart, 'utf8')).toBe(await readFile(join(repo, 'docs', 'simulate-bursts.svg'), 'utf8'));
    // The README shows this table verbatim.
    const readme = await readFile(join(repo, 'README.md'), 'utf8');
    const table = stdout.split('\n\n').slice(0, 2).join('\n\n');
    expect(readme).toContain(table);
  }, 180_000);

  it('draws the same chart as a PNG: the cost lines end where the SVG puts them, in their colours', async () => {
    const png = join(dir, 'bursts.png');
    const { code, stderr } = await swell([
      'simulate',
      '-f',
      'examples/traces/worker.yaml',
      '--trace',
      'examples/traces/bursts.csv',
      '--slo-wait',
      '2m',
      '--bases',
      '2,4,8,16',
      '--chart',
      png,
    ]);
    expect(stderr).toContain(`chart written to ${png}`);
    expect(code).toBe(0);
    const image = PNG.sync.read(await readFile(png));
    const svg = await readFile(join(repo, 'docs', 'simulate-bursts.svg'), 'utf8');
    const [width = 0, height = 0] = /viewBox="0 0 (\d+) (\d+)"/.exec(svg)?.slice(1).map(Number) ?? [];
    expect([image.width, image.height]).toEqual([width * 2, height * 2]);
    const pixel = (x: number, y: number): [number, number, number] => {
      const at = (Math.round(y) * image.width + Math.round(x)) * 4;
      return [image.data[at] ?? 0, image.data[at + 1] ?? 0, image.data[at + 2] ?? 0];
    };
    const near = (x: number, y: number, colour: string) => {
      const want = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
      for (let dy = -3; dy <= 3; dy += 1) if (pixel(x, y + dy).every((c, i) => Math.abs(c - (want[i] ?? 0)) < 40)) return true;
      return false;
    };
    expect(pixel(1, 1)).toEqual([255, 255, 255]);
    // The cost panel is the last polyline of each strategy; its points are in SVG units, the PNG is 2x.
    const costLines = new Map<string, { colour: string; points: [number, number][] }>();
    for (const m of svg.matchAll(/<polyline class="series" data-label="([^"]*)"[^>]*stroke="(#[0-9a-f]{6})"[^>]*points="([^"]*)"/g)) {
      costLines.set(m[1] ?? '', { colour: m[2] ?? '', points: (m[3] ?? '').split(' ').map((p) => p.split(',').map(Number) as [number, number]) });
    }
    const ends = ['nodes only', 'serverless only', 'as given (BurstPolicy worker)'].map((label) => {
      const line = costLines.get(label);
      const [x = 0, y = 0] = line?.points[line.points.length - 6] ?? [];
      return { colour: line?.colour ?? '', x: x * 2, y: y * 2 };
    });
    expect(new Set(ends.map((e) => Math.round(e.y))).size).toBe(3);
    for (const end of ends) {
      expect(near(end.x, end.y, end.colour)).toBe(true);
      // Each colour is drawn where its own line is, not where the others are.
      for (const other of ends.filter((o) => o !== end)) expect(near(end.x, other.y, end.colour)).toBe(false);
    }
  }, 180_000);

  it('replays a source outage from the trace: fallback with it, held replicas without', async () => {
    const trace = join(dir, 'outage.csv');
    await writeFile(trace, 'seconds,arrivals,source\n0,200,up\n60,0,down\n360,400,down\n660,0,up\n900,0,up\n');
    const worker = await readFile(join(repo, 'examples', 'traces', 'worker.yaml'), 'utf8');
    const withFallback = join(dir, 'worker-fallback.yaml');
    await writeFile(withFallback, worker.replace('  maxReplicaCount: 50\n', '  maxReplicaCount: 50\n  fallback:\n    failureThreshold: 3\n    replicas: 6\n'));
    const args = ['--trace', trace, '--slo-wait', '10m', '--bases', '2,4'];
    const fellBack = await swell(['simulate', '-f', withFallback, ...args, '--output', 'json']);
    const report = JSON.parse(fellBack.stdout) as JsonReport & { results: { fallbackPolls: number }[]; trace: { sourceDownSeconds: number } };
    expect(report.trace.sourceDownSeconds).toBe(600);
    // 600 s down at a 15 s polling interval: 40 polls, the first three counted as failures before fallback serves.
    for (const r of report.results) expect(r.fallbackPolls).toBe(37);
    expect((await swell(['simulate', '-f', withFallback, ...args])).stdout).toContain(
      'source down for 10m of the trace; fallback served on 37 polls per strategy',
    );
    const held = await swell(['simulate', '-f', 'examples/traces/worker.yaml', ...args]);
    expect(held.stdout).toContain('source down for 10m of the trace; no fallback, so swell and the HPA held the replica count meanwhile');
  }, 180_000);

  it('prints the table with the BurstPolicy to apply', async () => {
    const { code, stdout } = await swell(['simulate', '-f', 'examples/traces/worker.yaml', '--trace', 'examples/traces/diurnal.csv', '--bases', '2,4']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^strategy +cost \$/m);
    expect(stdout).toMatch(/cheapest that meets p99 wait ≤ 1m: .* at \d+\.\d+/);
    expect(stdout).toContain('apiVersion: swell.dev/v1alpha1');
  }, 180_000);

  it.each(['diurnal', 'bursts', 'spike'])(
    'regenerates examples/traces/%s.csv byte for byte from its seed',
    async (shape) => {
      const committed = await readFile(join(repo, 'examples', 'traces', `${shape}.csv`), 'utf8');
      const command =
        committed
          .split('\n')[0]
          ?.replace(/^# swell /, '')
          .split(' ') ?? [];
      const { code, stdout } = await swell(command);
      expect(code).toBe(0);
      expect(stdout).toBe(committed);
    },
    60_000,
  );

  it.each([
    [['simulate', '-f', 'examples/traces/worker.yaml'], /missing --trace/],
    [['simulate', '-f', 'examples/traces/worker.yaml', '--trace', 'examples/traces/spike.csv', '--slo-wait', 'soon'], /--slo-wait: "soon" is not a duration/],
    [['simulate', '-f', 'examples/cron.yaml', '--trace', 'examples/traces/spike.csv'], /type "cron", which the simulator cannot feed/],
    [['simulate', 'generate', '--shape', 'square'], /--shape must be one of diurnal, bursts, spike/],
    [
      ['simulate', '-f', 'examples/traces/worker.yaml', '--trace', 'examples/traces/spike.csv', '--chart', 'chart.jpg'],
      /--chart: "chart.jpg" must end in .svg or .png/,
    ],
  ])('refuses bad input with a clear message and exit 2: %j', async (args, message) => {
    const { code, stderr } = await swell(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('names the line of a broken trace', async () => {
    const trace = join(dir, 'broken.csv');
    await writeFile(trace, 'seconds,arrivals\n0,1\n5,-3\n');
    const { code, stderr } = await swell(['simulate', '-f', 'examples/traces/worker.yaml', '--trace', trace]);
    expect(code).toBe(2);
    expect(stderr).toContain(`${trace} line 3`);
  });
});
