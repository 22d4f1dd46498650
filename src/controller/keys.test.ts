import { describe, expect, it } from 'vitest';
import { objectKey, splitObjectKey } from './keys.js';

describe('object keys', () => {
  it.each([
    [{ metadata: { name: 'so', namespace: 'ns' } }, 'ns/so', { namespace: 'ns', name: 'so' }],
    [{ metadata: { name: 'cluster-auth' } }, 'cluster-auth', { name: 'cluster-auth' }],
  ])('keys %o as %s and splits it back', (object, key, parts) => {
    expect(objectKey(object)).toBe(key);
    expect(splitObjectKey(key)).toEqual(parts);
  });

  it('refuses an object without a name, naming its kind', () => {
    expect(() => objectKey({ kind: 'ScaledObject', metadata: { namespace: 'ns' } })).toThrow('ScaledObject has no metadata.name');
  });
});
