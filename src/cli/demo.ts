import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { reportUsageError } from './usage.js';
import { runDemo } from '../demo/run.js';
import { createLogger } from '../log.js';
import { findRepoDir } from '../sandbox/paths.js';

const help = `usage: swell demo [options]

Shows swell end to end on the local sandbox (what is not running is started: kube, redis, the virtual node,
and as root the real node): runs swell operator, applies a consumer Deployment with a Redis-list ScaledObject
and a BurstPolicy (2 replicas on regular nodes, the rest on the virtual node), fills the queue, and prints queue
depth, replicas per tier and burst cost live while it scales 0 → N → 0. As root the regular replicas are real
pods of the consumer image on the real node and pop the list themselves; otherwise the regular nodes are
simulated and the demo pops items in their place (it says so). Ends by writing an SVG chart of the run to
.swell/demo/demo-<timestamp>.svg. Stops everything it started unless --keep.

options:
  --jobs N          items to queue (default 60)
  --timeout SEC     drain the queue ourselves if the consumers have not after this long (default 240)
  --out-dir DIR     where the chart and logs go (default .swell/demo in the checkout)
  --state-dir DIR   the sandbox to use or start (default .swell/dev, as swell dev)
  --keep            leave the sandbox, operator, virtual node and demo namespace running
  --log-level LEVEL log level of the demo itself (default warn)
`;

export interface DemoFlags {
  jobs: number;
  timeoutSec: number;
  outDir?: string;
  stateDir?: string;
  keep: boolean;
  logLevel: string;
}

export function parseDemoFlags(argv: string[]): DemoFlags | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: 'string' },
      timeout: { type: 'string' },
      'out-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      keep: { type: 'boolean' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  return {
    jobs: positiveInt('--jobs', values.jobs ?? '60'),
    timeoutSec: positiveInt('--timeout', values.timeout ?? '240'),
    ...(values['out-dir'] ? { outDir: values['out-dir'] } : {}),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    keep: values.keep ?? false,
    logLevel: values['log-level'] ?? 'warn',
  };
}

function positiveInt(flag: string, raw: string): number {
  if (!/^[1-9]\d*$/.test(raw)) throw new Error(`${flag}: "${raw}" is not a positive integer`);
  return Number(raw);
}

export async function demoCommand(argv: string[]): Promise<number> {
  let flags: DemoFlags | 'help';
  try {
    flags = parseDemoFlags(argv);
  } catch (err) {
    return reportUsageError('demo', err);
  }
  if (flags === 'help') {
    process.stdout.write(help);
    return 0;
  }
  const repoDir = findRepoDir();
  const started = Date.now();
  const print = (line: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  try {
    const result = await runDemo({
      jobs: flags.jobs,
      keep: flags.keep,
      timeoutMs: flags.timeoutSec * 1000,
      outDir: flags.outDir ?? join(repoDir, '.swell', 'demo'),
      ...(flags.stateDir ? { sandboxStateDir: flags.stateDir } : {}),
      repoDir,
      log: createLogger({ name: 'demo', level: flags.logLevel }),
      print,
    });
    print(result.drainedByConsumers ? 'done' : 'done (the queue had to be emptied by the demo)');
    return 0;
  } catch (err) {
    process.stderr.write(`swell demo: ${(err as Error).message}\n`);
    return 1;
  }
}
