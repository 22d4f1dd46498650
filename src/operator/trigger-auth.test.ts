import { describe, expect, it } from 'vitest';
import type { TriggerAuthentication } from '../apis/keda/v1alpha1/triggerauthentication.js';
import { containerEnv, type Container, type KeyLookup } from './container-env.js';
import { resolveTriggerAuth, type AuthSources } from './trigger-auth.js';

const secrets: Record<string, Record<string, string>> = { 'app/creds': { password: 's3cret', user: 'bob' }, 'swell-system/shared': { token: 't0k' } };
const configMaps: Record<string, Record<string, string>> = { 'app/settings': { host: 'redis.local', user: 'from-cm' } };
const lookup: KeyLookup = {
  secret: (ns, name, key) => secrets[`${ns}/${name}`]?.[key],
  configMap: (ns, name, key) => configMaps[`${ns}/${name}`]?.[key],
  secretData: (ns, name) => secrets[`${ns}/${name}`],
  configMapData: (ns, name) => configMaps[`${ns}/${name}`],
};

function ta(name: string, spec: TriggerAuthentication['spec']): TriggerAuthentication {
  return { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { name, namespace: 'app' }, spec };
}

const auths: Record<string, TriggerAuthentication> = {
  'app/layered': ta('layered', {
    env: [{ parameter: 'user', name: 'USERNAME' }],
    configMapTargetRef: [
      { parameter: 'user', name: 'settings', key: 'user' },
      { parameter: 'host', name: 'settings', key: 'host' },
    ],
    secretTargetRef: [
      { parameter: 'user', name: 'creds', key: 'user' },
      { parameter: 'password', name: 'creds', key: 'password' },
    ],
  }),
  'app/missing-key': ta('missing-key', { secretTargetRef: [{ parameter: 'password', name: 'creds', key: 'nope' }] }),
  'app/aws': ta('aws', { podIdentity: { provider: 'aws' } }),
  'app/vault': ta('vault', { hashiCorpVault: { address: 'http://v', authentication: 'token', secrets: [{ parameter: 'p', path: 'x', key: 'k' }] } }),
};

const sources: AuthSources = {
  triggerAuthentication: (ns, name) => auths[`${ns}/${name}`],
  clusterTriggerAuthentication: (name) =>
    name === 'shared'
      ? {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ClusterTriggerAuthentication',
          metadata: { name },
          spec: { secretTargetRef: [{ parameter: 'token', name: 'shared', key: 'token' }] },
        }
      : undefined,
  lookup,
  clusterAuthNamespace: 'swell-system',
  containerEnv: () => ({ USERNAME: 'from-env' }),
};

describe('resolveTriggerAuth', () => {
  const cases = [
    { name: 'no authenticationRef', ref: undefined, params: {}, warnings: 0 },
    {
      name: 'env, then config map, then secret; later wins',
      ref: { name: 'layered' },
      params: { user: 'bob', host: 'redis.local', password: 's3cret' },
      warnings: 0,
    },
    {
      name: 'ClusterTriggerAuthentication reads the operator namespace',
      ref: { name: 'shared', kind: 'ClusterTriggerAuthentication' as const },
      params: { token: 't0k' },
      warnings: 0,
    },
    { name: 'missing TriggerAuthentication only warns', ref: { name: 'ghost' }, params: {}, warnings: 1 },
    { name: 'missing secret key warns', ref: { name: 'missing-key' }, params: {}, warnings: 1 },
    { name: 'unsupported source warns', ref: { name: 'vault' }, params: {}, warnings: 1 },
  ];
  it.each(cases)('$name', ({ ref, params, warnings }) => {
    const resolved = resolveTriggerAuth({ type: 'redis', metadata: {}, ...(ref ? { authenticationRef: ref } : {}) }, 'app', sources);
    expect(resolved.params).toEqual(params);
    expect(resolved.warnings).toHaveLength(warnings);
    for (const warning of resolved.warnings) expect(warning).not.toContain('s3cret');
  });

  it('passes pod identity through, except none', () => {
    expect(resolveTriggerAuth({ type: 'aws-sqs-queue', metadata: {}, authenticationRef: { name: 'aws' } }, 'app', sources).podIdentity).toEqual({
      provider: 'aws',
    });
  });
});

describe('containerEnv', () => {
  const containers: Container[] = [
    {
      name: 'main',
      envFrom: [{ configMapRef: { name: 'settings' } }, { secretRef: { name: 'creds' }, prefix: 'DB_' }],
      env: [
        { name: 'user', value: 'literal-wins' },
        { name: 'PASS', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        { name: 'GONE', valueFrom: { secretKeyRef: { name: 'nope', key: 'x' } } },
      ],
    },
    { name: 'sidecar', env: [{ name: 'ONLY_SIDECAR', value: '1' }] },
  ];

  it('builds the first container env like the kubelet: envFrom, then env on top', () => {
    expect(containerEnv(containers, undefined, 'app', lookup)).toEqual({
      host: 'redis.local',
      user: 'literal-wins',
      DB_password: 's3cret',
      DB_user: 'bob',
      PASS: 's3cret',
    });
  });

  it('selects a named container and yields nothing for an unknown one', () => {
    expect(containerEnv(containers, 'sidecar', 'app', lookup)).toEqual({ ONLY_SIDECAR: '1' });
    expect(containerEnv(containers, 'ghost', 'app', lookup)).toEqual({});
  });
});
