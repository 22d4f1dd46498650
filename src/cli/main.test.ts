import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

const repo = join(import.meta.dirname, '..', '..');
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  return { out: () => out.join(''), err: () => err.join('') };
}

describe('swell --version', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([['--version'], ['-V']])('%s prints the package version from the sources', async (flag) => {
    const io = capture();
    expect(await main([flag])).toBe(0);
    expect(io.out()).toBe(`${version}\n`);
  });
});

describe('the compiled CLI', () => {
  const run = promisify(execFile);
  beforeAll(async () => {
    await run('npm', ['run', 'build'], { cwd: repo, timeout: 600_000 });
  }, 600_000);

  it.each([['--version'], ['-V']])('%s prints the package version from dist/', async (flag) => {
    const { stdout } = await run(process.execPath, [join(repo, 'bin', 'swell.js'), flag], { cwd: '/' });
    expect(stdout).toBe(`${version}\n`);
  });
});
