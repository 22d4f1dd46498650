import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
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
    const watcher = new FrontProxyConfigWatcher({ read: () => Promise.resolve(answer), log: silent, clock: new FakeClock() });
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
    const told: string[] = [];
    const watcher = new FrontProxyConfigWatcher({
      read: () => Promise.resolve(answer),
      log: silent,
      clock: new FakeClock(),
      onTrust: (trust) => void told.push(trust.config.clientCaPem),
    });
    await watcher.refresh();
    const first = watcher.trust();
    await watcher.refresh();
    expect(watcher.trust()).toBe(first);
    answer = data(nextCaPem);
    await watcher.refresh();
    expect(watcher.trust()).not.toBe(first);
    expect(watcher.trust()?.authorities[0]?.subject).toBe('CN=front-proxy-ca-2');
    // Each new trust is passed on (the server gives its CA to TLS), an unchanged one is not.
    expect(told).toEqual([caPem, nextCaPem]);
  });

  it('keeps the last good trust when a read fails or returns garbage', async () => {
    let read: () => Promise<Record<string, string>> = () => Promise.resolve(data(caPem));
    const watcher = new FrontProxyConfigWatcher({ read: () => read(), log: silent, clock: new FakeClock() });
    await watcher.refresh();
    const good = watcher.trust();
    read = () => Promise.reject(new Error('connection refused'));
    await watcher.refresh();
    read = () => Promise.resolve(data(caPem, 'not json'));
    await watcher.refresh();
    expect(watcher.trust()).toBe(good);
    expect(watcher.notReadyReason()).toBeUndefined();
  });

  it('re-reads on its interval of the clock, not before, and stops re-reading once stopped', async () => {
    const clock = new FakeClock();
    let reads = 0;
    const watcher = new FrontProxyConfigWatcher({
      read: () => Promise.resolve(((reads += 1), data(reads === 1 ? caPem : nextCaPem))),
      log: silent,
      clock,
      intervalMs: 30_000,
    });
    await watcher.start();
    expect(reads).toBe(1);
    await clock.advance(29_999);
    expect(reads).toBe(1);
    await clock.advance(1);
    expect(reads).toBe(2);
    expect(watcher.trust()?.authorities[0]?.subject).toBe('CN=front-proxy-ca-2');
    await clock.advance(30_000);
    expect(reads).toBe(3);
    watcher.stop();
    await clock.advance(60_000);
    expect(reads).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });
});
