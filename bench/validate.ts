/*
 * Time (wall and CPU; on a shared machine CPU is the steadier figure) and peak memory of `swell validate` on large inputs, run as users run it: the compiled CLI (dist/, from
 * `npm run build`) in its own process. Three inputs of about --megabytes each: many small ScaledObjects, one
 * document holding a huge annotation (refused by the document size limit), and a ConfigMap-only file.
 *
 *   npm run build && npx tsx bench/validate.ts [--megabytes 20]
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const repo = join(import.meta.dirname, '..');

function scaledObject(i: number): string {
  return `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders-${i}
  namespace: shop
spec:
  scaleTargetRef: {name: worker-${i}}
  triggers:
    - type: redis
      metadata: {address: "redis:6379", listName: jobs-${i}, listLength: "5"}
---
`;
}

function inputs(bytes: number): Record<string, string> {
  const many: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i += 1) {
    const doc = scaledObject(i);
    many.push(doc);
    size += doc.length;
  }
  const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n---\n';
  return {
    'many-scaledobjects': many.join(''),
    'one-huge-annotation': `apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: big\n  annotations:\n    a: "${'x'.repeat(bytes)}"\nspec:\n  scaleTargetRef: {name: w}\n  triggers: [{type: cron, metadata: {timezone: UTC, start: "0 8 * * *", end: "0 9 * * *", desiredReplicas: "2"}}]\n`,
    'configmaps-only': configMap.repeat(Math.ceil(bytes / configMap.length)),
  };
}

/** Runs the compiled CLI under a wrapper that reports its own peak RSS when it exits. */
function measure(file: string): Promise<{ exitCode: number; seconds: number; cpuSeconds: number; peakRssMiB: number; summary: unknown }> {
  const wrapper = `process.on('exit', () => { const u = process.resourceUsage(); process.stderr.write('\\nmaxrss=' + u.maxRSS + ' cpu=' + (u.userCPUTime + u.systemCPUTime) + '\\n'); });
process.argv = [process.argv[0], 'swell', 'validate', '-f', ${JSON.stringify(file)}, '-o', 'json'];
const { main } = await import(${JSON.stringify(join(repo, 'dist', 'src', 'cli', 'main.js'))});
process.exitCode = await main(process.argv.slice(2));`;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', wrapper], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const kib = Number(/maxrss=(\d+)/.exec(err)?.[1] ?? Number.NaN);
      const cpuMicros = Number(/cpu=(\d+)/.exec(err)?.[1] ?? Number.NaN);
      const report = JSON.parse(Buffer.concat(out).toString('utf8')) as { summary: unknown };
      resolve({
        exitCode: code ?? -1,
        seconds: Math.round(seconds * 100) / 100,
        cpuSeconds: Math.round(cpuMicros / 1e4) / 100,
        peakRssMiB: Math.round(kib / 1024),
        summary: report.summary,
      });
    });
  });
}

async function run(): Promise<void> {
  const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '20' } } });
  const megabytes = Number(values.megabytes);
  if (!(megabytes > 0)) throw new Error(`--megabytes: "${values.megabytes}" is not a positive number`);
  const scratch = await mkdtemp(join(tmpdir(), 'swell-bench-validate-'));
  const results: Record<string, unknown> = {};
  try {
    for (const [name, text] of Object.entries(inputs(megabytes * 1e6))) {
      const file = join(scratch, `${name}.yaml`);
      await writeFile(file, text);
      const figures = { bytes: Buffer.byteLength(text), ...(await measure(file)) };
      results[name] = figures;
      process.stdout.write(
        `${name.padEnd(22)} ${(figures.bytes / 1e6).toFixed(1)} MB  ${figures.seconds} s (CPU ${figures.cpuSeconds} s)  peak RSS ${figures.peakRssMiB} MiB  exit ${figures.exitCode}  ${JSON.stringify(figures.summary)}\n`,
      );
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await mkdir(join(repo, 'bench', 'results'), { recursive: true });
  const out = join(repo, 'bench', 'results', `validate-${megabytes}mb.json`);
  await writeFile(out, `${JSON.stringify({ megabytes, node: process.version, results, recordedAt: new Date().toISOString() }, null, 2)}\n`);
  process.stdout.write(`written to ${out}\n`);
}

await run();
