import { constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../../../log.js';
import type { PodRecord } from './restart-policy.js';

// Everything needed to carry on after the node program restarts: one folder per pod under <stateDir>/pods holding
// pod.json, one log file per container run and one exit-code file per run.

type PodName = Pick<PodRecord, 'namespace' | 'name'>;

export class PodStateStore {
  private readonly podsDir: string;

  constructor(stateDir: string) {
    // Absolute, because the wrapper writes exit files from inside each container's working directory.
    this.podsDir = join(resolve(stateDir), 'pods');
  }

  /** Creates the state directory and reads the pods recorded there; an unreadable record is skipped with a warning. */
  load(log: Logger): PodRecord[] {
    mkdirSync(this.podsDir, { recursive: true });
    const pods: PodRecord[] = [];
    for (const entry of readdirSync(this.podsDir)) {
      const file = join(this.podsDir, entry, 'pod.json');
      if (!existsSync(file)) continue;
      try {
        pods.push(JSON.parse(readFileSync(file, 'utf8')) as PodRecord);
      } catch (error) {
        log.warn({ file, err: error }, 'ignoring unreadable pod state');
      }
    }
    return pods;
  }

  create(pod: PodName): void {
    mkdirSync(this.podDir(pod), { recursive: true });
  }

  /** Replaces pod.json in one rename, so a crash never leaves half a record. */
  save(pod: PodRecord): void {
    const file = join(this.podDir(pod), 'pod.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(pod));
    renameSync(`${file}.tmp`, file);
  }

  async remove(pod: PodName): Promise<void> {
    await rm(this.podDir(pod), { recursive: true, force: true });
  }

  async checkWritable(): Promise<void> {
    await access(this.podsDir, constants.W_OK);
  }

  podDir(pod: PodName): string {
    return join(this.podsDir, `${pod.namespace}_${pod.name}`);
  }

  logFile(pod: PodName, container: string, attempt: number): string {
    return join(this.podDir(pod), `${container}.${attempt}.log`);
  }

  exitFile(pod: PodName, container: string, attempt: number): string {
    return join(this.podDir(pod), `${container}.${attempt}.exit`);
  }
}
