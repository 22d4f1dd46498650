import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonSupervisor } from './daemons.js';

describe('DaemonSupervisor', () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'swell-daemons-test-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('stops a daemon that was SIGSTOPped without waiting out the grace period', { timeout: 10_000 }, async () => {
    const daemons = new DaemonSupervisor(stateDir);
    // A server that handles SIGTERM (as Redis and the JVMs do) cannot run its handler while stopped.
    const daemon = await daemons.spawn({ name: 'sleeper', command: 'sh', args: ['-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done'] });
    await new Promise((r) => setTimeout(r, 200));
    expect(await daemons.signal('sleeper', 'SIGSTOP')).toBe(true);
    // A grace period far beyond the test's time-out: waiting it out would fail the test.
    expect(await daemons.stop('sleeper', 600_000)).toBe(true);
    expect(daemon.alive()).toBe(false);
    expect(await daemons.signal('sleeper', 'SIGKILL')).toBe(false);
  });

  it('keeps the earlier log on a restart and starts it afresh otherwise', async () => {
    const daemons = new DaemonSupervisor(stateDir);
    const say = (word: string) => ({ name: 'talker', command: 'sh', args: ['-c', `echo ${word}; sleep 300`] });
    const logOf = async () => readFile(join(stateDir, 'logs', 'talker.log'), 'utf8');
    const waitForLog = async (text: string) => {
      for (let i = 0; i < 50 && !(await logOf()).includes(text); i += 1) await new Promise((r) => setTimeout(r, 100));
    };
    await daemons.spawn(say('first'));
    await waitForLog('first');
    await daemons.spawn(say('second'), { appendLog: true });
    await waitForLog('second');
    expect(await logOf()).toMatch(/first\n\n--- restarted .* ---\nsecond/);
    await daemons.spawn(say('third'));
    await waitForLog('third');
    expect(await logOf()).toBe('third\n');
    await daemons.stop('talker');
  });
});
