import { readFileSync } from 'node:fs';

/**
 * The version in swell's package.json, read at run time so the CLI reports what is installed. The file sits two
 * folders up from the sources (src/cli) and three from the compiled CLI (dist/src/cli); the name check keeps a
 * package.json of some enclosing project from answering.
 */
export function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'swell' && parsed.version) return parsed.version;
    } catch {
      // not in this layout; try the next
    }
  }
  return 'unknown';
}
