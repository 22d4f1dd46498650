// @compiled-cli
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';
import { usageErrorText } from './usage.js';

const repo = join(import.meta.dirname, '..', '..');
const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  return { out: () => out.join(''), err: () => err.join('') };
}

describe('usageErrorText', () => {
  it.each<[string, unknown, string]>([
    ['', 'unknown command "scael"', `swell: unknown command "scael"\nrun 'swell --help' for usage\n`],
    ['virtual-node cost', new Error('Invalid URL'), `swell virtual-node cost: Invalid URL\nrun 'swell virtual-node cost --help' for usage\n`],
    ['dev', new Error('first line\n  more detail\n'), `swell dev: first line more detail\nrun 'swell dev --help' for usage\n`],
  ])('%j: %s', (command, problem, text) => {
    expect(usageErrorText(command, problem)).toBe(text);
  });
});

describe('swell usage errors', () => {
  afterEach(() => vi.restoreAllMocks());

  // Each fails while reading the command line, before anything is started or any cluster is contacted.
  it.each<[string, string[], RegExp]>([
    ['unknown command', ['scael'], /^swell: unknown command "scael"$/],
    ['unknown top-level option', ['--verbose'], /^swell: unknown option "--verbose"$/],
    ['operator: unknown flag', ['operator', '--bogus'], /^swell operator: Unknown option '--bogus'/],
    ['operator: missing value', ['operator', '--metrics-port'], /^swell operator: Option '--metrics-port <value>' argument missing$/],
    ['operator: bad value', ['operator', '--metrics-port', 'eighty'], /^swell operator: --metrics-port: "eighty" is not a port number/],
    ['validate: no -f', ['validate'], /^swell validate: missing -f FILE/],
    ['validate: bad output', ['validate', '-f', 'x.yaml', '-o', 'xml'], /^swell validate: --output must be text or json, not "xml"$/],
    ['dev: unknown action', ['dev', 'sideways'], /^swell dev: unknown action "sideways"$/],
    ['dev: unknown flag', ['dev', 'up', '--fast'], /^swell dev: Unknown option '--fast'/],
    ['dev: bad value', ['dev', 'up', '--hpa-sync-period', 'x'], /^swell dev: --hpa-sync-period/],
    ['demo: bad value', ['demo', '--jobs', '0'], /^swell demo: --jobs: "0" is not a positive integer$/],
    ['simulate: missing trace', ['simulate', '-f', join(repo, 'examples', 'traces', 'worker.yaml')], /^swell simulate: missing --trace/],
    ['simulate: stray argument', ['simulate', 'extra'], /^swell simulate: unexpected argument "extra"$/],
    ['apiservice: no action', ['apiservice'], /^swell apiservice: expected hand-over or hand-back$/],
    ['apiservice: flag for the other action', ['apiservice', 'hand-back', '--helm-release', 'x'], /^swell apiservice: --helm-release is for hand-over only$/],
    ['virtual-node: bad value', ['virtual-node', '--cpu', '-1'], /^swell virtual-node: Option '--cpu' argument is ambiguous\. .*'--cpu=-XYZ'/],
    ['virtual-node cost: bad URL', ['virtual-node', 'cost', '--metrics-url', 'not a url'], /^swell virtual-node cost: Invalid URL$/],
  ])('%s: one line naming the problem, the way to help, exit 2', async (_name, argv, problem) => {
    const io = capture();
    expect(await main(argv)).toBe(2);
    const lines = io.err().split('\n');
    expect(lines[0]).toMatch(problem);
    const command = lines[0]?.slice(0, lines[0].indexOf(':'));
    expect(lines.slice(1)).toEqual([`run '${command} --help' for usage`, '']);
    expect(io.out()).toBe('');
  });

  it('keeps an input error (not a usage error) to its own message', async () => {
    const io = capture();
    expect(await main(['simulate', '-f', join(repo, 'no-such.yaml'), '--trace', 'x.csv'])).toBe(2);
    expect(io.err()).toMatch(/^swell simulate: ENOENT[^\n]*no-such\.yaml'\n$/);
  });

  it('still prints the whole help when asked, exit 0', async () => {
    const io = capture();
    expect(await main(['operator', '--help'])).toBe(0);
    expect(io.out()).toMatch(/^usage: swell operator/);
    expect(io.err()).toBe('');
  });
});

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
  it.each([['--version'], ['-V']])('%s prints the package version from dist/', async (flag) => {
    const { stdout } = await run(process.execPath, [join(repo, 'bin', 'swell.js'), flag], { cwd: '/' });
    expect(stdout).toBe(`${version}\n`);
  });

  it('exits 2 with one line after a usage error', async () => {
    const failed = await run(process.execPath, [join(repo, 'bin', 'swell.js'), 'validate', '--strict'], { cwd: '/' }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/^swell validate: Unknown option '--strict'[^\n]*\nrun 'swell validate --help' for usage\n$/);
  });
});
