import { describe, expect, it } from 'vitest';
import { helmBinaryPath, helmLdflags } from '../../src/sandbox/helm.js';

describe('helmLdflags', () => {
  it.each([
    ['client-go v0.36.2', 'require (\n\tk8s.io/client-go v0.36.2 // indirect\n)\n', '36'],
    ['client-go v0.35.0 on a single require line', 'require k8s.io/client-go v0.35.0\n', '35'],
  ])('stamps Kubernetes 1.N from %s, for both the capabilities and the lint rules', (_name, goMod, minor) => {
    const flags = helmLdflags('v3.21.4', goMod);
    expect(flags).toContain('-X helm.sh/helm/v3/internal/version.version=v3.21.4');
    for (const pkg of ['chartutil', 'lint/rules']) {
      expect(flags).toContain(`-X helm.sh/helm/v3/pkg/${pkg}.k8sVersionMajor=1`);
      expect(flags).toContain(`-X helm.sh/helm/v3/pkg/${pkg}.k8sVersionMinor=${minor}`);
    }
  });

  it('refuses a go.mod without client-go rather than building a helm that assumes Kubernetes 1.20', () => {
    expect(() => helmLdflags('v3.21.4', 'module swell.local/helm\n\ngo 1.26.0\n')).toThrow(/k8s\.io\/client-go/);
  });

  it('keys the cached binary by version', () => {
    expect(helmBinaryPath('/cache', 'v3.22.0')).toBe('/cache/helm-v3.22.0/bin/helm');
  });
});
