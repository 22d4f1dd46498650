import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { awsComponent, MOTO_VERSION } from './aws.js';
import type { ComponentContext } from './component.js';
import type { ToolRunner } from './maven.js';
import { freePort } from './net.js';

describe('aws component install', () => {
  let cacheDir: string;
  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'swell-aws-test-'));
  });
  afterEach(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  const ctx = (): ComponentContext => ({
    paths: { cacheDir, stateDir: join(cacheDir, 'state'), repoDir: cacheDir },
    log: createLogger({ level: 'silent' }),
    progress: () => {},
    spawn: () => Promise.reject(new Error('not in this test')),
    env: {},
  });

  it('makes a venv beside the cache folder, pip-installs the pinned moto into it, renames it into place, and only once', async () => {
    const calls: string[][] = [];
    const run: ToolRunner = async (command, args) => {
      calls.push([command, ...args]);
      if (args[1] === 'venv') await mkdir(args[2] ?? '', { recursive: true });
      return '';
    };
    await awsComponent(run).install(ctx());
    await awsComponent(run).install(ctx());
    expect(calls).toHaveLength(2);
    expect(calls[0]?.slice(1, 3)).toEqual(['-m', 'venv']);
    expect(calls[1]?.slice(1)).toEqual(['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `moto[server]==${MOTO_VERSION}`]);
    expect(calls[1]?.[0]).toBe(join(calls[0]?.[3] ?? '', 'bin', 'python'));
    expect(await readdir(cacheDir)).toEqual([`moto-${MOTO_VERSION}`]);
    expect(await readFile(join(cacheDir, `moto-${MOTO_VERSION}`, '.installed'), 'utf8')).toContain(MOTO_VERSION);
  });

  it('names the Debian package when no venv can be made, and leaves nothing half-installed', async () => {
    const run: ToolRunner = (_command, args) => (args[1] === 'venv' ? Promise.reject(new Error('ensurepip is not available')) : Promise.resolve(''));
    await expect(awsComponent(run).install(ctx())).rejects.toThrow(/apt-get install -y python3-venv/);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('leaves no partial venv when pip fails', async () => {
    const run: ToolRunner = async (_command, args) => {
      if (args[1] === 'venv') {
        await mkdir(args[2] ?? '', { recursive: true });
        return '';
      }
      throw new Error('no network');
    };
    await expect(awsComponent(run).install(ctx())).rejects.toThrow('no network');
    expect(await readdir(cacheDir)).toEqual([]);
  });
});

describe('aws component healthy', () => {
  it('is false when nothing listens or the env is missing', async () => {
    const component = awsComponent();
    expect(await component.healthy({ env: { SWELL_AWS_ENDPOINT: `http://127.0.0.1:${await freePort()}` }, endpoints: {} })).toBe(false);
    expect(await component.healthy({ env: {}, endpoints: {} })).toBe(false);
  });
});
