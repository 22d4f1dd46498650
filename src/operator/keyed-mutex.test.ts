import { describe, expect, it } from 'vitest';
import { DependencyIndex } from './dependencies.js';
import { KeyedMutex } from './keyed-mutex.js';

describe('KeyedMutex', () => {
  it('serialises tasks of one key, runs other keys alongside, and forgets idle keys', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = mutex.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
    });
    const second = mutex.run('a', () => Promise.resolve(log.push('a2')));
    await mutex.run('b', () => Promise.resolve(log.push('b')));
    expect(log).toEqual(['a1 start', 'b']);
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
    await new Promise((r) => setTimeout(r, 0));
    expect(mutex.size).toBe(0);
  });

  it('keeps going after a failed task', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(mutex.run('a', () => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe('DependencyIndex', () => {
  it('maps dependencies back to owners and forgets replaced ones', () => {
    const index = new DependencyIndex();
    index.set('app/a', ['Secret/app/s', 'TriggerAuthentication/app/t']);
    index.set('app/b', ['Secret/app/s']);
    expect(index.dependentsOf('Secret/app/s').sort()).toEqual(['app/a', 'app/b']);
    index.set('app/a', ['ConfigMap/app/c']);
    expect(index.dependentsOf('Secret/app/s')).toEqual(['app/b']);
    expect(index.dependentsOf('TriggerAuthentication/app/t')).toEqual([]);
    index.remove('app/b');
    expect(index.dependentsOf('Secret/app/s')).toEqual([]);
  });
});
