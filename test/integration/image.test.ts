// @sandbox redis
/*
 * swell's image and the consumer image, built the way users and the sandbox build them (`swell dev images`:
 * buildah on a local Debian + Node.js base, no registry, no Docker engine), imported into a containerd of this
 * test's own with `ctr images import`, and run there the way the chart runs swell: as the image's non-root
 * user with a read-only root filesystem. The first run builds the images (minutes); later runs reuse the
 * archives from the cache.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerfileNodeMajor } from '../../src/sandbox/images.js';

const repo = join(import.meta.dirname, '..', '..');
const namespace = 'swell-image-test';
let workDir: string;
let address: string;
let containerd: ChildProcess | undefined;
let swellImage: string;
let consumerImage: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repo, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

async function ctr(args: string[], timeoutMs?: number): Promise<Result> {
  return run('ctr', ['--address', address, '--namespace', namespace, ...args], timeoutMs);
}

/** Runs `command` in a fresh container of `image` with a read-only root filesystem, as the image's user. */
async function inImage(image: string, command: string[]): Promise<Result> {
  return ctr(['run', '--rm', '--read-only', image, `t-${randomBytes(4).toString('hex')}`, ...command]);
}

/** A containerd with its own root, state and socket in a temporary folder: nothing system-wide is touched. */
async function startContainerd(dir: string): Promise<void> {
  address = join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    // The kubelet's plugin is not needed to import and run images by hand.
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    `  address = "${address}.debug"`,
  ].join('\n');
  await writeFile(join(dir, 'config.toml'), `${config}\n`);
  containerd = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  containerd.stderr?.on('data', (chunk: Buffer) => (log = `${log}${chunk.toString()}`.slice(-4000)));
  for (let attempt = 0; attempt < 60; attempt += 1) {
    if ((await run('ctr', ['--address', address, 'version'], 5_000)).code === 0) return;
    if (containerd.exitCode !== null) break;
    await sleep(500);
  }
  throw new Error(`containerd did not come up:\n${log}`);
}

beforeAll(async () => {
  // What users run: the compiled CLI. Cold, this builds the base and both images (minutes); warm, it reads the cache.
  const built = await run(process.execPath, ['bin/swell.js', 'dev', 'images'], 60 * 60_000);
  if (built.code !== 0) throw new Error(`swell dev images failed:\n${built.stderr}`);
  const images = built.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const [swell, consumer] = images;
  if (!swell?.[0] || !swell[1] || !consumer?.[0] || !consumer[1]) throw new Error(`unexpected output of swell dev images:\n${built.stdout}`);
  swellImage = swell[0];
  consumerImage = consumer[0];
  workDir = await mkdtemp(join(tmpdir(), 'swell-containerd-'));
  await startContainerd(workDir);
  for (const archive of [swell[1], consumer[1]]) {
    const imported = await ctr(['images', 'import', archive], 10 * 60_000);
    if (imported.code !== 0) throw new Error(`ctr images import ${archive} failed:\n${imported.stderr}`);
  }
}, 70 * 60_000);

afterAll(async () => {
  if (containerd && containerd.exitCode === null) {
    const exited = new Promise((resolve) => containerd?.once('exit', resolve));
    containerd.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

describe('the images in containerd', () => {
  it('are imported under the names swell dev images printed', async () => {
    const listed = await ctr(['images', 'ls', '--quiet']);
    expect(listed.stdout.split('\n')).toEqual(expect.arrayContaining([swellImage, consumerImage]));
  });
});

describe("swell's image, run as the chart runs it (image user, read-only root filesystem)", () => {
  it('runs the CLI: the usage, the operator and virtual node help', async () => {
    const usage = await inImage(swellImage, ['node', 'dist/src/cli/main.js', '--help']);
    expect(usage.code, usage.stderr).toBe(0);
    expect(usage.stdout).toMatch(/operator\s+run the ScaledObject operator/);
    for (const command of ['operator', 'virtual-node']) {
      const help = await inImage(swellImage, ['node', 'dist/src/cli/main.js', command, '--help']);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toContain(`swell ${command}`);
    }
  }, 120_000);

  it('says that dev and demo are not in the image instead of failing with a stack trace', async () => {
    for (const command of ['dev', 'demo', 'simulate']) {
      const result = await inImage(swellImage, ['node', 'dist/src/cli/main.js', command, 'up']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`swell ${command}: not part of this installation`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);

  it('carries product code only, runs as uid 10001 on the Dockerfile Node.js major, and cannot write its root filesystem', async () => {
    const probe = `
      const fs = require('node:fs');
      let write = 'ok';
      try { fs.writeFileSync('/app/probe', 'x'); } catch (error) { write = error.code; }
      const files = fs.readdirSync('dist', { recursive: true }).map(String);
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), node: process.versions.node, write,
        sandbox: fs.existsSync('dist/src/sandbox'), demo: fs.existsSync('dist/src/demo'),
        fakes: files.filter((f) => /fake-|\\.test\\.|\\.map$/.test(f)), modules: files.filter((f) => f.endsWith('.js')).length }));`;
    const result = await inImage(swellImage, ['node', '-e', probe]);
    expect(result.code, result.stderr).toBe(0);
    const facts = JSON.parse(result.stdout) as {
      uid: number;
      gid: number;
      node: string;
      write: string;
      sandbox: boolean;
      demo: boolean;
      fakes: string[];
      modules: number;
    };
    const major = dockerfileNodeMajor(await readFile(join(repo, 'Dockerfile'), 'utf8'));
    expect(facts).toMatchObject({ uid: 10001, gid: 10001, write: 'EROFS', sandbox: false, demo: false, fakes: [] });
    expect(facts.node.split('.')[0]).toBe(major);
    expect(facts.modules).toBeGreaterThan(100);
  }, 120_000);
});

describe('the consumer image', () => {
  it('drains a Redis list as uid 10001 on a read-only root filesystem and stops cleanly on SIGTERM', async () => {
    const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const redis = new Redis(url.toString());
    const list = `swell-image-test-${randomBytes(3).toString('hex')}`;
    const id = `consumer-${randomBytes(4).toString('hex')}`;
    try {
      const user = await inImage(consumerImage, ['node', '-e', 'console.log(process.getuid())']);
      expect(user.stdout.trim()).toBe('10001');
      await redis.rpush(list, 'a', 'b', 'c', 'd', 'e');
      const env = [`REDIS_ADDRESS=${url.hostname}:${url.port || '6379'}`, `LIST_NAME=${list}`, 'WORK_MS=50'];
      if (url.password) env.push(`REDIS_PASSWORD=${decodeURIComponent(url.password)}`);
      const args = [
        '--address',
        address,
        '--namespace',
        namespace,
        'run',
        '--rm',
        '--read-only',
        '--net-host',
        ...env.flatMap((e) => ['--env', e]),
        consumerImage,
        id,
      ];
      const consumer = spawn('ctr', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      consumer.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => consumer.once('exit', (code) => resolve(code)));
      let length = await redis.llen(list);
      for (let i = 0; i < 120 && length > 0; i += 1) {
        await sleep(250);
        length = await redis.llen(list);
      }
      expect(length).toBe(0);
      for (let i = 0; i < 20 && !stdout.includes('"processed":5'); i += 1) await sleep(250);
      await ctr(['tasks', 'kill', '--signal', 'SIGTERM', id]);
      const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
      expect(code).toBe(0);
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; processed?: number });
      expect(lines.filter((l) => l.msg === 'processed').map((l) => l.processed)).toEqual([1, 2, 3, 4, 5]);
      expect(lines.at(-1)).toMatchObject({ msg: 'stopped', processed: 5 });
    } finally {
      await redis.del(list);
      redis.disconnect();
    }
  }, 120_000);
});
