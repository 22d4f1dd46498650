// @sandbox
/*
 * The container image, assembled without a container engine: the Dockerfile's final stage is production
 * dependencies (`npm ci --omit=dev`), the compiled output, package.json and bin/. This builds that same layout
 * in a temporary folder and runs it, so a runtime import of a devDependency, or a file the image leaves out,
 * fails here rather than in a user's cluster.
 */
import { execFile } from 'node:child_process';
import { access, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
let app: string;

/** The final stage's COPY instructions, as `source -> destination`. */
function finalStageCopies(dockerfile: string): string[] {
  const stages = dockerfile.split(/^FROM .*$/m);
  const last = stages.at(-1) ?? '';
  return [...last.matchAll(/^COPY\s+(.+)$/gm)].map((m) => (m[1] ?? '').trim());
}

async function moduleFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), 'swell-image-'));
  await cp(join(repo, 'package.json'), join(app, 'package.json'));
  await cp(join(repo, 'package-lock.json'), join(app, 'package-lock.json'));
  await cp(join(repo, 'bin'), join(app, 'bin'), { recursive: true });
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, timeout: 600_000 });
  await run(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.image.json'), '--outDir', join(app, 'dist')], {
    cwd: repo,
    timeout: 600_000,
  });
}, 1_200_000);

afterAll(async () => {
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the image layout', () => {
  it('is what the Dockerfile copies into its final stage', async () => {
    const copies = finalStageCopies(await readFile(join(repo, 'Dockerfile'), 'utf8'));
    expect(copies).toEqual(['--from=dependencies /app/node_modules ./node_modules', '--from=build /src/dist ./dist', 'package.json ./', 'bin ./bin']);
    expect(await readFile(join(repo, 'Dockerfile'), 'utf8')).toMatch(/npm ci --omit=dev/);
    // The compiled output is what tsconfig.image.json compiles, as in this test.
    expect(await readFile(join(repo, 'Dockerfile'), 'utf8')).toMatch(/^RUN npm run build:image$/m);
  });

  it('loads every module of swell with production dependencies only', async () => {
    const files = (await moduleFiles(join(app, 'dist'))).map((f) => `./${relative(app, f)}`);
    expect(files.length).toBeGreaterThan(100);
    // One process importing them all: an import of a devDependency throws ERR_MODULE_NOT_FOUND naming it.
    const script = `for (const f of ${JSON.stringify(files)}) await import(f);`;
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, timeout: 120_000 });
    expect(stderr).not.toMatch(/ERR_MODULE_NOT_FOUND/);
  }, 180_000);

  it('runs the entrypoint: swell validate on a README example, and the operator and virtual node help', async () => {
    const example = join(repo, 'examples', 'cron.yaml');
    const validated = await run(process.execPath, ['dist/src/cli/main.js', 'validate', '-f', example], {
      cwd: app,
      env: { ...process.env, NODE_ENV: 'production' },
    });
    expect(validated.stdout).toMatch(/valid/i);
    for (const command of ['operator', 'virtual-node']) {
      const help = await run(process.execPath, ['bin/swell.js', command, '--help'], { cwd: app });
      expect(help.stdout).toContain(`swell ${command}`);
    }
  }, 60_000);

  it('leaves the workstation commands out, with the PNG renderer they alone use', async () => {
    await expect(access(join(app, 'dist', 'src', 'simulate'))).rejects.toThrow(/ENOENT/);
    await expect(access(join(app, 'node_modules', '@resvg', 'resvg-js'))).rejects.toThrow(/ENOENT/);
    const simulate = await run(process.execPath, ['bin/swell.js', 'simulate', '--chart', 'x.png'], { cwd: app }).catch(
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(simulate).toMatchObject({ code: 2, stderr: expect.stringMatching(/swell simulate: not part of this installation/) as unknown });
  }, 60_000);
});
