import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoDir } from './readme-blocks.js';

/*
 * CONTRIBUTING.md names files and the project's own functions and types; renaming one without the guide fails here.
 */
const guide = readFileSync(join(repoDir, 'CONTRIBUTING.md'), 'utf8');
const quoted = [...guide.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');

/** Every TypeScript source of the project, outside node_modules and build output. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}
const exported = new Set(
  ['src', 'scalers']
    .flatMap((dir) => sources(join(repoDir, dir)))
    .flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^export (?:async )?(?:const|function|class|interface|type|abstract class) (\w+)/gm)].map((m) => m[1]),
    ),
);

/** Names the guide quotes that belong to libraries, not to this project. */
const libraryNames = new Set(['abortSignal']);

describe('CONTRIBUTING.md', () => {
  it('names files that exist', () => {
    const paths = quoted.filter((q) => /^[\w.-]+\/[\w./-]*$/.test(q) && !q.includes('<') && !q.startsWith('keda.sh'));
    expect(paths.length).toBeGreaterThan(10);
    for (const path of paths) expect(existsSync(join(repoDir, path)), path).toBe(true);
  });

  it('names functions and types the code exports', () => {
    const identifiers = quoted.filter((q) => /^[a-zA-Z]+[A-Z][a-zA-Z]*$/.test(q) && !libraryNames.has(q));
    expect(identifiers.length).toBeGreaterThan(10);
    for (const name of identifiers) expect(exported.has(name), name).toBe(true);
  });
});
