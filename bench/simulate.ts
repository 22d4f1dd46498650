/*
 * Speed of `swell simulate`: a 30-day trace at one-second resolution (a seeded diurnal load, one row a second),
 * replayed once per strategy through the real engine. Reports wall time, events and events per second for each,
 * and writes them to bench/results/simulate-<days>d.json.
 *
 *   npx tsx bench/simulate.ts [--days 30] [--mean 5]
 */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { simulateStrategy } from '../src/simulate/engine.js';
import { defaultParameters, engineSettings, runSimulation } from '../src/simulate/simulation.js';
import { buildStrategies } from '../src/simulate/strategies.js';
import { generateTrace } from '../src/simulate/trace.js';
import { loadWorkload } from '../src/simulate/workload.js';

const repo = join(import.meta.dirname, '..');

function options(): { days: number; mean: number } {
  const { values } = parseArgs({ options: { days: { type: 'string', default: '30' }, mean: { type: 'string', default: '5' } } });
  const days = Number(values.days);
  const mean = Number(values.mean);
  if (!(days > 0) || !(mean > 0)) throw new Error('--days and --mean must be positive numbers');
  return { days, mean };
}

async function main(): Promise<void> {
  const opts = options();
  const workload = loadWorkload(await readFile(join(repo, 'examples', 'traces', 'worker.yaml'), 'utf8'));
  let started = performance.now();
  const trace = generateTrace({ shape: 'diurnal', duration: opts.days * 86_400, step: 1, mean: opts.mean, seed: 1 });
  const generateMs = performance.now() - started;
  console.log(`trace: ${opts.days} days, ${trace.times.length} rows, generated in ${(generateMs / 1000).toFixed(2)} s`);
  // One small run first, so the timings below are not the JIT warming up.
  runSimulation(generateTrace({ shape: 'diurnal', duration: 86_400, step: 1, mean: opts.mean, seed: 2 }), workload, { ...defaultParameters, bases: [4] });
  const strategies = buildStrategies(workload, [2, 8]);
  const settings = engineSettings(trace, workload, defaultParameters);
  const runs = strategies.map((strategy) => {
    started = performance.now();
    const result = simulateStrategy(trace, workload, strategy, settings);
    const seconds = (performance.now() - started) / 1000;
    const row = {
      strategy: strategy.name,
      seconds: Number(seconds.toFixed(3)),
      events: result.events,
      eventsPerSecond: Math.round(result.events / seconds),
      costUsd: Number(result.cost.total.toFixed(2)),
      p99WaitSeconds: result.wait.p99,
    };
    console.log(
      `${strategy.name.padEnd(32)} ${row.seconds.toFixed(2).padStart(7)} s  ${String(row.events).padStart(9)} events  ${String(row.eventsPerSecond).padStart(9)} events/s  $${row.costUsd}`,
    );
    return row;
  });
  const total = runs.reduce((sum, r) => sum + r.seconds, 0);
  const heapMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
  // The machine's load says how far the wall times above are from an idle core.
  const load = Number((loadavg()[0] ?? 0).toFixed(1));
  console.log(
    `total: ${total.toFixed(2)} s for ${runs.length} strategies (${(total / runs.length).toFixed(2)} s each on average); heap ${heapMiB} MiB; load average ${load}`,
  );
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const out = join(repo, 'bench', 'results', `simulate-${opts.days}d.json`);
  await writeFile(
    out,
    `${JSON.stringify({ days: opts.days, rows: trace.times.length, generateSeconds: Number((generateMs / 1000).toFixed(3)), runs, totalSeconds: Number(total.toFixed(3)), heapMiB, loadAverage: load }, null, 2)}\n`,
  );
  console.log(`written to ${out}`);
}

await main();
