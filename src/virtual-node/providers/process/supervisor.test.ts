import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findExecutable, isAlive, launch, recordedExitCode } from './supervisor.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('findExecutable', () => {
  it('finds executables the way execvp does', () => {
    expect(findExecutable('sh', '/usr/bin:/bin')).toMatch(/\/sh$/);
    expect(findExecutable('/bin/sh', undefined)).toBe('/bin/sh');
    expect(findExecutable('sh', 'relative/dir')).toBeUndefined();
    expect(findExecutable('no-such-thing-xyz', '/usr/bin:/bin')).toBeUndefined();
    expect(findExecutable('', '/usr/bin:/bin')).toBeUndefined();
  });
});

describe('launch', () => {
  it('runs the command detached, appends its output to the log file and records its exit code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swell-supervisor-'));
    dirs.push(dir);
    const exitFile = join(dir, 'main.0.exit');
    const exited = new Promise<void>((resolve, reject) => {
      const handle = launch({
        executable: '/bin/sh',
        args: ['-c', 'echo "out $GREETING"; exit 7'],
        cwd: dir,
        env: { GREETING: 'hi' },
        logFile: join(dir, 'main.0.log'),
        exitFile,
        onExit: resolve,
        onError: reject,
      });
      expect(handle?.pid).toBeGreaterThan(0);
    });
    await exited;
    expect(readFileSync(join(dir, 'main.0.log'), 'utf8')).toBe('out hi\n');
    expect(recordedExitCode(exitFile)).toBe(7);
  });

  it.runIf(existsSync('/proc/self/stat'))('does not take a recycled pid for the process it started', () => {
    expect(isAlive({ pid: process.pid })).toBe(true);
    expect(isAlive({ pid: process.pid, pidStart: 'not-the-start-time' })).toBe(false);
  });
});
