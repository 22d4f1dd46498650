import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../pki/index.js';
import { FrontProxyConfigWatcher } from './front-proxy-config.js';

const silent = pino({ level: 'silent' });
let caPem: string;
let nextCaPem: string;

beforeAll(async () => {
  caPem = (await createCertificateAuthority({ commonName: 'front-proxy-ca' })).certificatePem;
  nextCaPem = (await createCertificateAuthority({ commonName: 'front-proxy-ca-2' })).certificatePem;
});

const data = (ca: string, names = '["front-proxy-client"]') => ({
  'requestheader-client-ca-file': ca,
  'requestheader-allowed-names': names,
  'requestheader-username-headers': '["X-Remote-User"]',
});

describe('FrontProxyConfigWatcher', () => {
  it('is not ready until the ConfigMap has been read, and says why', async () => {
    let answer: Record<string, string> | undefined = undefined;
    const watcher = new FrontProxyConfigWatcher({ read: () => Promise.resolve(answer), log: silent });
    await watcher.refresh();
    expect(watcher.trust()).toBeUndefined();
    expect(watcher.notReadyReason()).toMatch(/requestheader-client-ca-file" is missing/);
    answer = data(caPem);
    await watcher.refresh();
    expect(watcher.notReadyReason()).toBeUndefined();
    expect(watcher.trust()?.config.allowedNames).toEqual(['front-proxy-client']);
  });

  it('replaces the trust object only when the content changes, so per-connection verdicts survive re-reads', async () => {
    let answer = data(caPem);
    const watcher = new FrontProxyConfigWatcher({ read: () => Promise.resolve(answer), log: silent });
    await watcher.refresh();
    const first = watcher.trust();
    await watcher.refresh();
    expect(watcher.trust()).toBe(first);
    answer = data(nextCaPem);
    await watcher.refresh();
    expect(watcher.trust()).not.toBe(first);
    expect(watcher.trust()?.authorities[0]?.subject).toBe('CN=front-proxy-ca-2');
  });

  it('keeps the last good trust when a read fails or returns garbage', async () => {
    let read: () => Promise<Record<string, string>> = () => Promise.resolve(data(caPem));
    const watcher = new FrontProxyConfigWatcher({ read: () => read(), log: silent });
    await watcher.refresh();
    const good = watcher.trust();
    read = () => Promise.reject(new Error('connection refused'));
    await watcher.refresh();
    read = () => Promise.resolve(data(caPem, 'not json'));
    await watcher.refresh();
    expect(watcher.trust()).toBe(good);
    expect(watcher.notReadyReason()).toBeUndefined();
  });
});
