import { pathToFileURL } from 'node:url';

/** A subcommand receives the arguments after its own name and returns the process exit code. */
export type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  dev: { summary: 'run a local sandbox cluster with event sources (up | status | down)', load: async () => (await import('./dev.js')).devCommand },
  validate: { summary: 'check KEDA manifests offline (schema, KEDA rules, trigger metadata)', load: async () => (await import('./validate.js')).validateCommand },
  operator: { summary: 'run the ScaledObject operator (KEDA-compatible)', load: async () => (await import('./operator.js')).operatorCommand },
  demo: { summary: 'show swell scaling a Redis queue 0 → N → 0 with burst onto a virtual node, and chart it', load: async () => (await import('./demo.js')).demoCommand },
  simulate: { summary: 'replay a load trace through swell\'s decisions and price nodes, serverless and base + burst', load: async () => (await import('./simulate.js')).simulateCommand },
  'virtual-node': { summary: 'run a virtual node (virtual-kubelet) or print its cost (virtual-node cost)', load: async () => (await import('./virtual-node.js')).virtualNodeCommand },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: swell <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`swell: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
