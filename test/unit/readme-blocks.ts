import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * README.md read as the tests need it: its fenced blocks, the shell commands in them, the sections by heading,
 * and, for every command, how a test exercises it. Shared by test/unit/readme.test.ts (the offline checks) and
 * test/integration/readme.test.ts (the examples applied and the cheap commands run on the sandbox).
 */

export const repoDir = join(import.meta.dirname, '..', '..');
export const readmePath = join(repoDir, 'README.md');

export function readReadme(): string {
  return readFileSync(readmePath, 'utf8');
}

export interface FencedBlock {
  lang: string;
  text: string;
  /** 1-based line of the opening fence, for failure messages. */
  line: number;
}

/** Every ``` fenced block with its info string; an unclosed fence is an error naming its line. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  const lines = markdown.split('\n');
  let open: { lang: string; line: number; body: string[] } | undefined;
  lines.forEach((line, index) => {
    const fence = /^```(\S*)\s*$/.exec(line);
    if (!open && fence) open = { lang: fence[1] ?? '', line: index + 1, body: [] };
    else if (open && /^```\s*$/.test(line)) {
      blocks.push({ lang: open.lang, text: `${open.body.join('\n')}\n`, line: open.line });
      open = undefined;
    } else open?.body.push(line);
  });
  if (open) throw new Error(`README.md: the fence opened on line ${open.line} is never closed`);
  return blocks;
}

export interface ShellCommand {
  /** The command as a user types it: continuation lines joined, the trailing comment dropped, spaces collapsed. */
  command: string;
  line: number;
}

/** The commands of one sh block; `a && b` counts as two commands. */
export function shellCommands(block: FencedBlock): ShellCommand[] {
  const commands: ShellCommand[] = [];
  const lines = block.text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = block.line + 1 + i;
    let text = lines[i] ?? '';
    while (text.trimEnd().endsWith('\\') && i + 1 < lines.length) {
      text = `${text.trimEnd().slice(0, -1)} ${lines[i + 1] ?? ''}`;
      i += 1;
    }
    const withoutComment = text.replace(/(^|\s)#.*$/, '');
    for (const part of withoutComment.split('&&')) {
      const command = part.trim().replace(/\s+/g, ' ');
      if (command) commands.push({ command, line });
    }
  }
  return commands;
}

/** The text under a heading (exactly as written after the #s), up to the next heading of the same or a higher level. */
export function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  // `# comment` lines inside fenced blocks are not headings.
  let fenced = false;
  const levels = lines.map((line) => {
    if (/^```/.test(line)) fenced = !fenced;
    return !fenced && /^#+ /.test(line) ? (/^#+/.exec(line)?.[0].length ?? 0) : 0;
  });
  const start = lines.findIndex((l, i) => (levels[i] ?? 0) > 0 && l.replace(/^#+ /, '') === heading);
  if (start < 0) throw new Error(`README.md has no heading "${heading}"`);
  const level = levels[start] ?? 1;
  const end = levels.findIndex((l, i) => i > start && l > 0 && l <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The first cell of every row of the markdown tables in `text` (header and separator rows left out). */
export function firstCells(text: string): string[] {
  const rows = text.split('\n').filter((l) => l.startsWith('|'));
  return rows.filter((row, i) => !/^\|[\s|:-]+\|?$/.test(row) && !/^\|[\s|:-]+\|?$/.test(rows[i + 1] ?? '')).map((row) => row.split('|')[1]?.trim() ?? '');
}

/** The `code` spans of a piece of markdown. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
}

/** An example block starts with `# examples/<file>.yaml`; the rest of the block is that file's content. */
export function exampleOf(block: FencedBlock): { file: string; content: string } | undefined {
  const [first, ...rest] = block.text.split('\n');
  const match = /^# (examples\/[\w.-]+\.yaml)$/.exec(first ?? '');
  return match?.[1] ? { file: match[1], content: rest.join('\n') } : undefined;
}

/**
 * How a README command is exercised. `run`: test/integration/readme.test.ts runs it (as `argv`, with `npx swell`
 * standing for the checkout's CLI and `helm install` rendered with `helm template`). `elsewhere`: the test file
 * named runs what the command runs; `evidence` must occur in that file. `notRun`: nothing here can run it, and
 * `reason` says why.
 */
export type Coverage =
  | { kind: 'run'; program: 'swell' | 'helm'; argv: string[] }
  | { kind: 'elsewhere'; file: string; evidence: string; how: string }
  | { kind: 'notRun'; reason: string };

/** Commands exercised by other tests or CI, by their exact text in the README. */
export const exercisedElsewhere: Record<string, { file: string; evidence: string; how: string }> = {
  'npm ci': { file: '.ci/run', evidence: 'npm ci', how: 'CI installs the dependencies with it before every run' },
  'npm test': { file: '.ci/run', evidence: 'npm test', how: 'CI runs it' },
  'npx swell demo': {
    file: 'test/e2e/demo.test.ts',
    evidence: "'demo'",
    how: 'runs the compiled `swell demo` on the sandbox with its real node and checks its output, chart and the items its pods popped',
  },
  'npx swell dev up': {
    file: 'src/sandbox/sandbox.test.ts',
    evidence: 'sandbox.up',
    how: 'Sandbox.up, which the command calls, starting, reusing and writing the env file; every integration run starts its servers with it',
  },
  'source .swell/dev/env': {
    file: 'src/sandbox/sandbox.test.ts',
    evidence: 'parseEnvFile',
    how: 'the env file `up` writes is read back as a shell would source it',
  },
  'npx swell dev down': { file: 'src/sandbox/sandbox.test.ts', evidence: 'sandbox.down', how: 'Sandbox.down, which the command calls' },
  'npx swell operator --install-crds': {
    file: 'test/integration/operator-process.test.ts',
    evidence: "['--install-crds'",
    how: 'runs the compiled CLI (bin/swell.js, rebuilt first) with --install-crds against the sandbox; every end-to-end story starts `swell operator --install-crds` from the sources',
  },
  'helm install swell charts/swell -n swell-system --create-namespace --set image.repository=registry.example.com/swell': {
    file: 'test/integration/helm.test.ts',
    evidence: "'install', release, chartDir",
    how: 'installs the chart into the sandbox (watching one namespace) and runs the operator with its ServiceAccount; the readme test renders this exact command with helm template',
  },
  'helm install swell charts/swell -n swell-system --create-namespace --set image.repository=registry.example.com/swell --set certificates.certManager.enabled=true':
    {
      file: 'test/integration/helm.test.ts',
      evidence: 'cert-manager-values.yaml',
      how: 'renders the chart with cert-manager on and checks the Certificate and CA injection (the sandbox has no cert-manager to install against); the readme test renders this exact command',
    },
  'helm install swell charts/swell -n swell-system --create-namespace --take-ownership --set image.repository=registry.example.com/swell --set metricsApi.apiService.handOver=true --set metricsApi.upstream.service=monitoring/prometheus-adapter':
    {
      file: 'test/e2e/shared-metrics.test.ts',
      evidence: "'apiservice', 'hand-over'",
      how: 'runs what the pre-install hook runs (`swell apiservice hand-over`) against a sandbox where prometheus-adapter owns the APIService, then swell with the upstream flags the chart sets; both HPAs scale through the one APIService. The readme test renders this exact command with helm template (the hook Jobs need the image, which the kwok nodes do not run)',
    },
  'helm uninstall swell -n swell-system': {
    file: 'test/e2e/shared-metrics.test.ts',
    evidence: "'apiservice', 'hand-back'",
    how: "runs what the post-delete hook runs (`swell apiservice hand-back`) after swell stopped, and checks the adapter's APIService is back",
  },
  'npx swell virtual-node --provider process --name burst-1': {
    file: 'test/integration/virtual-node.test.ts',
    evidence: "'--provider', 'process'",
    how: 'runs a process-provider virtual node against the sandbox',
  },
  'npx swell dev images': {
    file: 'test/integration/image.test.ts',
    evidence: "'dev', 'images'",
    how: 'runs the compiled `swell dev images`, imports both archives into a containerd of its own and runs them as non-root on a read-only root filesystem',
  },
  'npx swell virtual-node --provider fargate --region eu-west-1 --cluster burst --subnets subnet-0a1b2c,subnet-3d4e5f --security-groups sg-0a1b2c --execution-role-arn arn:aws:iam::123456789012:role/swell-task-execution':
    {
      file: 'test/integration/fargate.test.ts',
      evidence: "'--provider', 'fargate'",
      how: 'runs a fargate virtual node with these flags against the sandbox AWS API emulator, with a BurstPolicy bursting onto it',
    },
  'npx swell virtual-node cost': {
    file: 'test/integration/virtual-node.test.ts',
    evidence: "'virtual-node', 'cost'",
    how: 'prints the cost table of a running node and checks its figures',
  },
  'npx swell simulate -f examples/traces/worker.yaml --trace examples/traces/bursts.csv --slo-wait 2m --bases 2,4,8,16 --chart docs/simulate-bursts.svg': {
    file: 'src/cli/simulate.test.ts',
    evidence: "'--bases', '2,4,8,16'",
    how: 'runs this command with the compiled CLI and checks the chart it draws is the committed docs/simulate-bursts.svg',
  },
  'npx swell simulate generate --shape bursts --duration 24h --step 10s --mean 5 --seed 7 --out examples/traces/bursts.csv': {
    file: 'src/cli/simulate.test.ts',
    evidence: 'regenerates examples/traces/%s.csv byte for byte',
    how: "runs the generator command written in each example trace's first line and compares its output with the file",
  },
  "npx swell simulate -f examples/prometheus.yaml --from-prometheus http://127.0.0.1:9090 --query 'sum(rate(http_requests_total[1m]))' --range 6h --step 15s": {
    file: 'test/integration/simulate-prometheus.test.ts',
    evidence: "'--from-prometheus', url",
    how: "runs `swell simulate --from-prometheus` against the sandbox's Prometheus (its own `up` series, as no service there serves http_requests_total)",
  },
  'npx swell operator --virtual-node-metrics-url http://127.0.0.1:10255/metrics': {
    file: 'test/e2e/burst.test.ts',
    evidence: "'--virtual-node-metrics-url'",
    how: 'runs the operator with the virtual node metrics URL and reads the cost in the BurstPolicy status',
  },
};

/** Commands nothing on this machine can run, with the reason; keep this list short and honest. */
export const notRunHere: Record<string, string> = {
  'docker build -t registry.example.com/swell:0.1.0 .':
    'no Docker engine on the test machines; `npx swell dev images` builds the same Dockerfile with buildah, run by test/integration/image.test.ts',
  'docker push registry.example.com/swell:0.1.0': 'no container runtime or registry on the test machines',
};

/** Flags of `helm install` that `helm template` does not take (and does not need). */
const installOnlyFlags = new Set(['--create-namespace', '--wait', '--atomic', '--take-ownership']);

/** How `command` is exercised, or undefined when nothing does (the README then has an untested command). */
export function coverageOf(command: string): Coverage | undefined {
  if (command in notRunHere) return { kind: 'notRun', reason: notRunHere[command] ?? '' };
  const runnable = /^[\w./=:,-]+( [\w./=:,-]+)*$/.test(command); // no quotes, pipes, variables or redirections
  const words = command.split(' ');
  if (runnable && words[0] === 'npx' && words[1] === 'swell') {
    const args = words.slice(2);
    if (args[0] === 'validate' || args.includes('--help') || (args[0] === 'dev' && args[1] === 'status' && args.length === 2))
      return { kind: 'run', program: 'swell', argv: args };
  }
  if (runnable && words[0] === 'helm' && words[1] === 'template') return { kind: 'run', program: 'helm', argv: words.slice(1) };
  const elsewhere = exercisedElsewhere[command];
  if (elsewhere) return { kind: 'elsewhere', ...elsewhere };
  return undefined;
}

/** `helm install` commands are also rendered, with the same release, chart and values. */
export function helmTemplateArgsOf(command: string): string[] | undefined {
  const words = command.split(' ');
  if (words[0] !== 'helm' || words[1] !== 'install') return undefined;
  return ['template', ...words.slice(2).filter((w) => !installOnlyFlags.has(w))];
}

/** Every shell command in the README, in order. */
export function readmeCommands(markdown: string): ShellCommand[] {
  return fencedBlocks(markdown)
    .filter((b) => b.lang === 'sh')
    .flatMap(shellCommands);
}
