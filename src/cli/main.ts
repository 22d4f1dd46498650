import { fileURLToPath, pathToFileURL } from 'node:url';
import { reportUsageError } from './usage.js';
import { packageVersion } from './version.js';

/** A subcommand receives the arguments after its own name and returns the process exit code. */
export type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  dev: {
    summary: 'run a local sandbox cluster with event sources (up | status | down | images)',
    load: () => loadCheckoutCommand('dev', './dev.js', 'devCommand'),
  },
  validate: {
    summary: 'check KEDA manifests offline (schema, KEDA rules, trigger metadata)',
    load: async () => (await import('./validate.js')).validateCommand,
  },
  operator: { summary: 'run the ScaledObject operator (KEDA-compatible)', load: async () => (await import('./operator.js')).operatorCommand },
  demo: {
    summary: 'show swell scaling a Redis queue 0 → N → 0 with burst onto a virtual node, and chart it',
    load: () => loadCheckoutCommand('demo', './demo.js', 'demoCommand'),
  },
  simulate: {
    summary: "replay a load trace through swell's decisions and price nodes, serverless and base + burst",
    load: () => loadCheckoutCommand('simulate', './simulate.js', 'simulateCommand'),
  },
  apiservice: {
    summary: 'hand the external metrics APIService from another adapter to swell and back',
    load: async () => (await import('./apiservice.js')).apiserviceCommand,
  },
  'virtual-node': {
    summary: 'run a virtual node (virtual-kubelet) or print its cost (virtual-node cost)',
    load: async () => (await import('./virtual-node.js')).virtualNodeCommand,
  },
};

/**
 * `dev` and `demo` drive the sandbox from a checkout; the image leaves their modules out (tsconfig.image.json).
 * They load through a specifier the compiler does not follow, so the image build does not pull them back in,
 * and a missing module becomes a plain statement instead of a stack trace.
 */
async function loadCheckoutCommand(name: string, file: string, exportName: string): Promise<Command> {
  const url = new URL(file, import.meta.url);
  let module: Record<string, unknown>;
  try {
    module = (await import(url.href)) as Record<string, unknown>;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes(fileURLToPath(url));
    if (!missing) throw error;
    return () => {
      process.stderr.write(
        `swell ${name}: not part of this installation; the swell image carries \`swell operator\`, \`swell virtual-node\` and \`swell validate\` only.\nRun it from a checkout of the repository: npm ci && npx swell ${name}\n`,
      );
      return Promise.resolve(2);
    };
  }
  const command = module[exportName];
  if (typeof command !== 'function') throw new Error(`${file} does not export ${exportName}`);
  return command as Command;
}

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: swell <command> [options]\n       swell --version\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    return reportUsageError('', name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`);
  }
  return (await command.load())(rest);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
