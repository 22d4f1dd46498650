import { describe, expect, it } from 'vitest';
import { parseDemoFlags } from './demo.js';

describe('swell demo flags', () => {
  it('defaults', () => {
    expect(parseDemoFlags([])).toEqual({ jobs: 60, timeoutSec: 240, keep: false, logLevel: 'warn' });
  });

  it('reads every flag', () => {
    expect(parseDemoFlags(['--jobs', '20', '--timeout', '90', '--out-dir', '/tmp/d', '--state-dir', '/s', '--keep', '--log-level', 'info'])).toEqual({
      jobs: 20,
      timeoutSec: 90,
      outDir: '/tmp/d',
      stateDir: '/s',
      keep: true,
      logLevel: 'info',
    });
  });

  it.each([
    [['--jobs', '0'], '--jobs'],
    [['--timeout', 'soon'], '--timeout'],
    [['--bogus'], 'bogus'],
  ])('rejects %j naming the flag', (argv, error) => {
    expect(() => parseDemoFlags(argv)).toThrow(error);
  });
});
