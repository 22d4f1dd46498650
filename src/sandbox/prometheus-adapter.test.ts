import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { prometheusAdapterArgs, prometheusAdapterBinary, prometheusAdapterRules } from './prometheus-adapter.js';

describe('sandbox prometheus-adapter', () => {
  it('serves every sandbox_* series as an external metric of the same name, summed', () => {
    const rules = parse(prometheusAdapterRules()) as {
      externalRules: { seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string; resources: { namespaced: boolean } }[];
    };
    expect(rules.externalRules).toEqual([
      {
        seriesQuery: '{__name__=~"^sandbox_.*"}',
        resources: { namespaced: false },
        name: { matches: '^(.*)$', as: '$1' },
        metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})',
      },
    ]);
  });

  it('listens on loopback and delegates authentication and authorization to the sandbox cluster', () => {
    const args = prometheusAdapterArgs({
      port: 41000,
      certFile: '/s/tls.crt',
      keyFile: '/s/tls.key',
      kubeconfig: '/k',
      prometheusUrl: 'http://127.0.0.1:9090',
      configFile: '/s/config.yaml',
    });
    const flags = new Map(args.map((a) => a.slice(2).split('=') as [string, string]));
    expect(Object.fromEntries(flags)).toMatchObject({
      'bind-address': '127.0.0.1',
      'secure-port': '41000',
      'authentication-kubeconfig': '/k',
      'authorization-kubeconfig': '/k',
      'lister-kubeconfig': '/k',
      'prometheus-url': 'http://127.0.0.1:9090',
      'metrics-relist-interval': '2s',
    });
  });

  it('keeps the binary in a version-keyed cache folder', () => {
    expect(prometheusAdapterBinary('/cache')).toBe('/cache/prometheus-adapter-v0.12.0/bin/adapter');
  });
});
