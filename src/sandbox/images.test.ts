import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contentKey, dockerfileNodeMajor, dockerignoreRoots, pruneOlderBuilds } from './images.js';

const repo = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFile(join(repo, path), 'utf8');

describe('dockerfileNodeMajor', () => {
  it.each([
    ['ARG NODE_IMAGE=node:22-bookworm-slim\nFROM ${NODE_IMAGE}', '22'],
    ['# c\nARG NODE_IMAGE=node:24.3-bookworm-slim\n', '24'],
    ['ARG NODE_IMAGE=node:26\n', '26'],
  ])('reads the major of %j', (dockerfile, major) => {
    expect(dockerfileNodeMajor(dockerfile)).toBe(major);
  });

  it.each(['FROM node:22-bookworm-slim', 'ARG NODE_IMAGE=debian:bookworm', 'ARG NODE_IMAGE=node:lts'])('refuses %j, saying what it looks for', (dockerfile) => {
    expect(() => dockerfileNodeMajor(dockerfile)).toThrow(/ARG NODE_IMAGE=node:<major>/);
  });
});

describe('dockerignoreRoots', () => {
  it('lists the allowed paths of an ignore-everything file, without trailing slashes', () => {
    expect(dockerignoreRoots('# c\n*\n!package.json\n!src/\n**/*.map\n')).toEqual(['package.json', 'src']);
  });

  it('refuses a file that does not start from ignoring everything, since its inputs are then unknown', () => {
    expect(() => dockerignoreRoots('node_modules\n!src\n')).toThrow(/must start from `\*`/);
  });
});

describe('contentKey', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swell-key-'));
    await mkdir(join(dir, 'src', 'a'), { recursive: true });
    await writeFile(join(dir, 'src', 'a', 'x.ts'), 'x');
    await writeFile(join(dir, 'src', 'y.ts'), 'y');
    await writeFile(join(dir, 'package.json'), '{}');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is the same for the same content whatever the order of the entries', async () => {
    expect(await contentKey(dir, ['src', 'package.json'])).toBe(await contentKey(dir, ['package.json', 'src']));
  });

  it('changes when a file changes, moves, or an extra input changes', async () => {
    const before = await contentKey(dir, ['src', 'package.json'], ['base:1']);
    expect(await contentKey(dir, ['src', 'package.json'], ['base:2'])).not.toBe(before);
    await writeFile(join(dir, 'src', 'a', 'x.ts'), 'x2');
    const edited = await contentKey(dir, ['src', 'package.json'], ['base:1']);
    expect(edited).not.toBe(before);
    await rm(join(dir, 'src', 'a', 'x.ts'));
    await writeFile(join(dir, 'src', 'x.ts'), 'x2');
    expect(await contentKey(dir, ['src', 'package.json'], ['base:1'])).not.toBe(edited);
  });

  it('fails on an entry that does not exist rather than hashing less than the build uses', async () => {
    await expect(contentKey(dir, ['missing'])).rejects.toThrow(/ENOENT/);
  });
});

describe('pruneOlderBuilds', () => {
  it('keeps the newest three archives of the image, removes the rest with their buildah tags, and touches nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swell-prune-'));
    try {
      const keys = ['aaaaaaaaaaa1', 'aaaaaaaaaaa2', 'aaaaaaaaaaa3', 'aaaaaaaaaaa4', 'aaaaaaaaaaa5'];
      for (const [age, key] of keys.entries()) {
        await writeFile(join(dir, `swell-0.1.0-${key}.tar`), key);
        const when = new Date(Date.UTC(2026, 0, 1, 0, age));
        await utimes(join(dir, `swell-0.1.0-${key}.tar`), when, when);
      }
      const others = [
        'rootfs-bookworm-be8ed122efa2.tar',
        'swell-consumer-dev-aaaaaaaaaaa1.tar',
        'swell-0.1.0-aaaaaaaaaaa0.tar.1234.partial',
        'swell-0.2.0-aaaaaaaaaaa0.tar',
      ];
      for (const file of others) await writeFile(join(dir, file), 'x');
      const removedTags: string[] = [];
      const run = (_command: string, args: readonly string[]) => {
        if (args.includes('rmi')) removedTags.push(args.at(-1) ?? '');
        return Promise.resolve('');
      };
      await pruneOlderBuilds(run, { command: 'buildah', args: [] }, dir, { repository: 'swell', tagPrefix: '0.1.0' });
      expect((await readdir(dir)).sort()).toEqual(
        [...others, 'swell-0.1.0-aaaaaaaaaaa3.tar', 'swell-0.1.0-aaaaaaaaaaa4.tar', 'swell-0.1.0-aaaaaaaaaaa5.tar'].sort(),
      );
      expect(removedTags.sort()).toEqual(['docker.io/local/swell:0.1.0-aaaaaaaaaaa1', 'docker.io/local/swell:0.1.0-aaaaaaaaaaa2']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('one supported Node.js major', () => {
  it('is the same in the Dockerfile, the consumer image, package.json engines and @types/node', async () => {
    const major = dockerfileNodeMajor(await read('Dockerfile'));
    const manifest = JSON.parse(await read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
    expect(dockerfileNodeMajor(await read('tools/consumer-image/Dockerfile'))).toBe(major);
    expect(manifest.engines.node).toBe(`>=${major}`);
    expect(manifest.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${major}\\.`));
  });
});

describe('tsconfig.image.json', () => {
  it('compiles product code only: no sandbox, demo, dev command, test fakes or tests', async () => {
    const tsc = join(repo, 'node_modules', '.bin', 'tsc');
    const { stdout } = await promisify(execFile)(tsc, ['-p', join(repo, 'tsconfig.image.json'), '--listFilesOnly'], { cwd: repo, maxBuffer: 16 * 1024 * 1024 });
    const own = stdout
      .split('\n')
      .filter((f) => f && !f.includes('node_modules'))
      .map((f) => relative(repo, f));
    expect(own.length).toBeGreaterThan(100);
    expect(own.filter((f) => /^src\/(sandbox|demo)\/|^src\/cli\/(dev|demo)\.ts$|fake-|\.test\.ts$/.test(f))).toEqual([]);
    expect(own).toEqual(expect.arrayContaining(['src/cli/main.ts', 'src/cli/operator.ts', 'src/cli/virtual-node.ts', 'src/cli/validate.ts']));
  }, 60_000);
});
