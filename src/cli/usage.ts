/**
 * The one line a usage error prints: what was wrong and where the full help is. The help itself is left out so
 * the problem stays on screen; `command` is the words after `swell` ("dev", "virtual-node cost"), or empty for
 * swell itself.
 */
export function usageErrorText(command: string, problem: unknown): string {
  const name = command ? `swell ${command}` : 'swell';
  const message = problem instanceof Error ? problem.message : String(problem);
  return `${name}: ${oneLine(message)}\nrun '${name} --help' for usage\n`;
}

/** Writes the usage error to stderr and returns the exit status every swell command uses for usage errors. */
export function reportUsageError(command: string, problem: unknown): number {
  process.stderr.write(usageErrorText(command, problem));
  return 2;
}

/** Node's argument parser explains some errors over two lines; both halves matter, so they are joined. */
function oneLine(message: string): string {
  return message.trim().replace(/\s*\n\s*/g, ' ');
}
