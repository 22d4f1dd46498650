import { describe, expect, it } from 'vitest';
import { bundleOfSecret, secretOfBundle } from './secret-store.js';

const bundle = { caPem: 'CA', certificatePem: 'CERT', privateKeyPem: 'KEY', caPrivateKeyPem: 'CAKEY' };

describe('the certificate Secret', () => {
  it('is a kubernetes.io/tls Secret with ca.crt and ca.key beside tls.crt and tls.key, read back as written', () => {
    const secret = secretOfBundle(bundle, 'swell-system', 'swell-certs', '42');
    expect(secret).toMatchObject({ type: 'kubernetes.io/tls', metadata: { name: 'swell-certs', namespace: 'swell-system', resourceVersion: '42' } });
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(bundleOfSecret(secret)).toEqual(bundle);
  });

  it('leaves out a CA key it does not have', () => {
    const { caPrivateKeyPem: _, ...withoutCaKey } = bundle;
    const secret = secretOfBundle(withoutCaKey, 'ns', 'certs');
    expect(secret.metadata?.resourceVersion).toBeUndefined();
    expect(bundleOfSecret(secret)).toEqual(withoutCaKey);
  });

  it.each(['ca.crt', 'tls.crt', 'tls.key'])('holds no bundle without %s, so that a new one is written', (key) => {
    const secret = secretOfBundle(bundle, 'ns', 'certs');
    delete secret.data?.[key];
    expect(bundleOfSecret(secret)).toBeUndefined();
  });
});
