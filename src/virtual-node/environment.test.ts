import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { expand, resolvePodEnvironment, type ConfigReader } from './environment.js';

const reader: ConfigReader = {
  secret: (_ns, name) => Promise.resolve(name === 'creds' ? { password: 's3cret', user: 'app' } : undefined),
  configMap: (_ns, name) => Promise.resolve(name === 'settings' ? { MODE: 'fast', LEVEL: '3' } : undefined),
};

function pod(container: Partial<V1Container>): V1Pod {
  return {
    metadata: { namespace: 'shop', name: 'web-1', uid: 'u-1', labels: { app: 'web' } },
    spec: { nodeName: 'vk', containers: [{ name: 'main', ...container }] },
  };
}

async function envOf(container: Partial<V1Container>): Promise<Record<string, string>> {
  const resolved = await resolvePodEnvironment(pod(container), reader, '127.0.0.1');
  return Object.fromEntries((resolved.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']));
}

describe('resolvePodEnvironment', () => {
  it('resolves Secret, ConfigMap, downward API and resource references to literal values', async () => {
    expect(
      await envOf({
        resources: { limits: { memory: '256Mi', cpu: '1500m' } },
        env: [
          { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'MODE' } } },
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          { name: 'CPUS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          { name: 'GREETING', value: 'hello $(POD) in $(MODE), $$(POD) $(UNKNOWN)' },
        ],
      }),
    ).toEqual({
      PASSWORD: 's3cret',
      MODE: 'fast',
      POD: 'web-1',
      NODE: 'vk',
      HOST: '127.0.0.1',
      APP: 'web',
      MEM_MI: '256',
      CPUS: '2',
      GREETING: 'hello web-1 in fast, $(POD) $(UNKNOWN)',
    });
  });

  it('expands envFrom with a prefix, and lets env override it', async () => {
    expect(await envOf({ envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }], env: [{ name: 'CFG_LEVEL', value: '9' }] })).toEqual({
      CFG_MODE: 'fast',
      CFG_LEVEL: '9',
    });
  });

  it('expands references in command and args', async () => {
    const resolved = await resolvePodEnvironment(
      pod({ command: ['echo', '$(X)'], args: ['$(X)-$(X)'], env: [{ name: 'X', value: 'y' }] }),
      reader,
      '127.0.0.1',
    );
    expect(resolved.spec?.containers[0]?.command).toEqual(['echo', 'y']);
    expect(resolved.spec?.containers[0]?.args).toEqual(['y-y']);
  });

  it.each([
    [
      { env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'missing', key: 'k' } } }] },
      'pod shop/web-1 container "main": env P: key "k" of Secret "missing" not found',
    ],
    [{ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'creds', key: 'nope' } } }] }, 'key "nope" of Secret "creds" not found'],
    [{ envFrom: [{ secretRef: { name: 'missing' } }] }, 'envFrom Secret "missing" not found'],
    [{ env: [{ name: 'F', valueFrom: { fieldRef: { fieldPath: 'spec.somethingElse' } } }] }, 'unsupported fieldRef spec.somethingElse'],
  ])('explains what is missing: %j', async (container, message) => {
    await expect(envOf(container)).rejects.toThrow(message);
  });

  it('skips optional references that are missing', async () => {
    expect(
      await envOf({
        env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'missing', key: 'k', optional: true } } }],
        envFrom: [{ secretRef: { name: 'gone', optional: true } }],
      }),
    ).toEqual({});
  });

  it('expand leaves text without references alone', () => {
    expect(expand('plain $HOME text', new Map())).toBe('plain $HOME text');
  });
});
