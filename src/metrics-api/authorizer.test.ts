import { describe, expect, it } from 'vitest';
import { FakeClock } from '../controller/fake-clock.js';
import { CachingAuthorizer, type AccessReviewer, type ResourceAttributes } from './authorizer.js';
import type { UserInfo } from './user.js';

const hpa: UserInfo = { username: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler', groups: ['system:serviceaccounts'], extra: {} };
const mallory: UserInfo = { username: 'mallory', groups: [], extra: {} };
const metric = (resource: string, namespace = 'default'): ResourceAttributes => ({
  namespace,
  verb: 'get',
  group: 'external.metrics.k8s.io',
  version: 'v1beta1',
  resource,
});

function setup(options: { allowedTtlMs?: number; deniedTtlMs?: number; maxEntries?: number } = {}) {
  const clock = new FakeClock(0);
  const calls: string[] = [];
  let failNext = false;
  const reviewer: AccessReviewer = (user, attributes) => {
    calls.push(`${user.username}:${attributes.namespace}/${attributes.resource}`);
    if (failNext) {
      failNext = false;
      return Promise.reject(new Error('apiserver unavailable'));
    }
    return Promise.resolve(user.username === 'mallory' ? { allowed: false, reason: 'no RBAC' } : { allowed: true, reason: '' });
  };
  const authorizer = new CachingAuthorizer({ reviewer, clock, ...options });
  return { authorizer, calls, advance: (ms: number) => clock.advance(ms), failOnce: () => (failNext = true) };
}

describe('CachingAuthorizer', () => {
  it('asks once per distinct question within the cache lifetime', async () => {
    const { authorizer, calls, advance } = setup({ allowedTtlMs: 10_000 });
    for (let i = 0; i < 3; i += 1) await expect(authorizer.authorize(hpa, metric('s0-redis'))).resolves.toEqual({ allowed: true, reason: '' });
    await authorizer.authorize(hpa, metric('s0-redis', 'other'));
    await authorizer.authorize(hpa, metric('s1-kafka'));
    expect(calls).toHaveLength(3);
    await advance(10_000);
    await authorizer.authorize(hpa, metric('s0-redis'));
    expect(calls).toHaveLength(4);
  });

  it('caches denials for their own lifetime', async () => {
    const { authorizer, calls, advance } = setup({ allowedTtlMs: 10_000, deniedTtlMs: 1_000 });
    await expect(authorizer.authorize(mallory, metric('s0-redis'))).resolves.toEqual({ allowed: false, reason: 'no RBAC' });
    await authorizer.authorize(mallory, metric('s0-redis'));
    await advance(1_000);
    await authorizer.authorize(mallory, metric('s0-redis'));
    expect(calls).toEqual(['mallory:default/s0-redis', 'mallory:default/s0-redis']);
  });

  it('keys on the whole identity, so group changes are not served a stale answer', async () => {
    const { authorizer, calls } = setup();
    await authorizer.authorize(hpa, metric('m'));
    await authorizer.authorize({ ...hpa, groups: ['system:masters'] }, metric('m'));
    await authorizer.authorize({ ...hpa, groups: [...hpa.groups].reverse() }, metric('m'));
    expect(calls).toHaveLength(2);
  });

  it.each<[string, UserInfo, UserInfo, boolean]>([
    ['groups in another order', { ...hpa, groups: ['b', 'a'] }, { ...hpa, groups: ['a', 'b'] }, true],
    ['extras in another key order', { ...hpa, extra: { x: ['1'], y: ['2'] } }, { ...hpa, extra: { y: ['2'], x: ['1'] } }, true],
    ['another uid', { ...hpa, uid: '1' }, { ...hpa, uid: '2' }, false],
    ['an extra value more', { ...hpa, extra: { x: ['1'] } }, { ...hpa, extra: { x: ['1', '2'] } }, false],
    ['a group split differently', { ...hpa, groups: ['a,b'] }, { ...hpa, groups: ['a', 'b'] }, false],
    ['a username that looks like a group list', { username: 'a","b', groups: [], extra: {} }, { username: 'a', groups: ['b'], extra: {} }, false],
  ])('decides identities differing by %s as one question: %s', async (_, first, second, same) => {
    const { authorizer, calls } = setup();
    await authorizer.authorize(first, metric('m'));
    await authorizer.authorize(second, metric('m'));
    expect(calls).toHaveLength(same ? 1 : 2);
  });

  it('shares one review among concurrent identical questions', async () => {
    const { authorizer, calls } = setup();
    await Promise.all(Array.from({ length: 20 }, () => authorizer.authorize(hpa, metric('m'))));
    expect(calls).toHaveLength(1);
  });

  it('does not cache failed reviews', async () => {
    const { authorizer, calls, failOnce } = setup();
    failOnce();
    await expect(authorizer.authorize(hpa, metric('m'))).rejects.toThrow('apiserver unavailable');
    await expect(authorizer.authorize(hpa, metric('m'))).resolves.toMatchObject({ allowed: true });
    expect(calls).toHaveLength(2);
  });

  it('stays within its size bound', async () => {
    const { authorizer, calls } = setup({ maxEntries: 2 });
    for (const name of ['a', 'b', 'c', 'a']) await authorizer.authorize(hpa, metric(name));
    expect(calls).toHaveLength(4);
  });
});
