import { describe, expect, it } from 'vitest';
import { caBundlePatch } from './ca-bundle.js';

describe('caBundlePatch', () => {
  it.each([
    ['no webhooks', [], []],
    ['every entry up to date', [{ name: 'a', clientConfig: { caBundle: 'NEW' } }], []],
    [
      'an entry without a caBundle (as the chart renders it)',
      [{ name: 'vscaledobject.swell.dev', clientConfig: {} }],
      [
        { op: 'test', path: '/webhooks/0/name', value: 'vscaledobject.swell.dev' },
        { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'NEW' },
      ],
    ],
    [
      'only the entries that differ, at their own index',
      [{ name: 'a', clientConfig: { caBundle: 'NEW' } }, { name: 'b', clientConfig: { caBundle: 'OLD' } }, { name: 'c' }],
      [
        { op: 'test', path: '/webhooks/1/name', value: 'b' },
        { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: 'NEW' },
        { op: 'test', path: '/webhooks/2/name', value: 'c' },
        { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: 'NEW' },
      ],
    ],
  ])('%s', (_, webhooks, expected) => {
    expect(caBundlePatch(webhooks, 'NEW')).toEqual(expected);
  });
});
