import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { full, resultsFile } from './support.js';

/** Starts each run of the fault suite with an empty figures file, so it never mixes in an earlier run's figures. */
export default async function setup(): Promise<void> {
  await mkdir(dirname(resultsFile), { recursive: true });
  await writeFile(resultsFile, `${JSON.stringify({ startedAt: new Date().toISOString(), full, scenarios: {} }, null, 2)}\n`);
}
