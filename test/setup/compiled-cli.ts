import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { cliFileFilters } from './sandbox.js';

/**
 * Vitest global setup for the unit project: builds dist/ once before any file marked `// @compiled-cli` runs.
 * Unit files run in parallel workers, so a file that built for itself could rewrite dist/ while another file's
 * compiled CLI was loading it.
 */
export default async function setup(project: TestProject): Promise<void> {
  const { testFiles } = await project.globTestFiles(cliFileFilters());
  const marked = await Promise.all(testFiles.map(async (file) => /^\/\/ @compiled-cli$/m.test(await readFile(file, 'utf8'))));
  if (!marked.some(Boolean)) return;
  const repo = join(import.meta.dirname, '..', '..');
  await promisify(execFile)('npm', ['run', 'build'], { cwd: repo, timeout: 600_000 });
}
