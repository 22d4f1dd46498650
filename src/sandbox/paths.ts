import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxPaths } from './component.js';

/** The swell checkout this code runs from: the nearest ancestor whose package.json is named "swell". */
export function findRepoDir(start = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'swell') return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the swell checkout above ${start}`);
  }
}

/** Builds and downloads are shared by every checkout: SWELL_CACHE, else $XDG_CACHE_HOME/swell, else ~/.cache/swell. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SWELL_CACHE) return resolve(env.SWELL_CACHE);
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'swell');
}

export function sandboxPaths(options: { stateDir?: string; cacheDir?: string } = {}): SandboxPaths {
  const repoDir = findRepoDir();
  return {
    repoDir,
    cacheDir: options.cacheDir ?? defaultCacheDir(),
    stateDir: resolve(options.stateDir ?? join(repoDir, '.swell', 'dev')),
  };
}
