import { describe, expect, it } from 'vitest';
import type { ScaledJob } from '../apis/keda/v1alpha1/scaledjob.js';
import type { ScaledObject } from '../apis/keda/v1alpha1/scaledobject.js';
import type { TriggerAuthenticationSpec } from '../apis/keda/v1alpha1/triggerauthentication.js';
import type { TriggerSpec } from '../apis/keda/v1alpha1/triggers.js';
import { FakeKubeClient } from '../kube/fake-client.js';
import type { Container, KeyLookup } from './container-env.js';
import { dependencyKey } from './dependencies.js';
import type { AuthObjectSources, ResolvedScalerInputs } from './scaler-inputs.js';
import { resolveScaledJobInputs } from './scaledjob/scaler-inputs.js';
import { ScaleTargets } from './scaledobject/scale-target.js';
import { resolveScalerInputs } from './scaledobject/scaler-inputs.js';

const secrets: Record<string, Record<string, string>> = {
  'app/redis': { password: 's3cret-app', url: 'redis://app' },
  'keda/shared': { token: 's3cret-cluster' },
};
const configMaps: Record<string, Record<string, string>> = {
  'app/settings': { host: 'redis.app', QUEUE: 'jobs' },
};
const secretValues = ['s3cret-app', 'redis://app', 's3cret-cluster'];

const lookup: KeyLookup = {
  secret: (ns, name, key) => secrets[`${ns}/${name}`]?.[key],
  configMap: (ns, name, key) => configMaps[`${ns}/${name}`]?.[key],
  secretData: (ns, name) => secrets[`${ns}/${name}`],
  configMapData: (ns, name) => configMaps[`${ns}/${name}`],
};

const triggerAuths: Record<string, TriggerAuthenticationSpec> = {
  'app/by-secret': { secretTargetRef: [{ parameter: 'password', name: 'redis', key: 'password' }] },
  'app/by-config': {
    configMapTargetRef: [{ parameter: 'host', name: 'settings', key: 'host' }],
    secretTargetRef: [{ parameter: 'password', name: 'redis', key: 'password' }],
  },
  'app/missing-key': {
    secretTargetRef: [
      { parameter: 'password', name: 'redis', key: 'nope' },
      { parameter: 'user', name: 'absent', key: 'user' },
    ],
  },
  'app/by-env': { env: [{ parameter: 'password', name: 'REDIS_PASSWORD' }] },
  'app/by-sidecar-env': { env: [{ parameter: 'queue', name: 'QUEUE', containerName: 'sidecar' }] },
};

const sources: AuthObjectSources = {
  triggerAuthentication: (ns, name) => {
    const spec = triggerAuths[`${ns}/${name}`];
    return spec && { apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication', metadata: { namespace: ns, name }, spec };
  },
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
  clusterAuthNamespace: 'keda',
};

/** The same containers serve as the Deployment's pod template and as the ScaledJob's Job template. */
const containers: Container[] = [
  {
    name: 'worker',
    env: [
      { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis', key: 'password' } } },
      { name: 'PLAIN', value: 'x' },
    ],
  },
  { name: 'sidecar', envFrom: [{ configMapRef: { name: 'settings' } }] },
];

interface Kind {
  name: string;
  /** `targetReads`: GETs of the scale target, where the kind has one. */
  resolve(triggers: TriggerSpec[], envSourceContainerName?: string): Promise<{ resolved: ResolvedScalerInputs; targetReads?: number }>;
}

const kinds: Kind[] = [
  {
    name: 'ScaledObject (containers from the scale target, read on demand)',
    resolve: async (triggers, envSourceContainerName) => {
      const client = new FakeKubeClient();
      client.put('/apis/apps/v1/namespaces/app/deployments/web', { metadata: { namespace: 'app', name: 'web' }, spec: { template: { spec: { containers } } } });
      const targets = new ScaleTargets(client, () => undefined);
      const so = {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { namespace: 'app', name: 'so' },
        spec: { scaleTargetRef: { name: 'web', ...(envSourceContainerName ? { envSourceContainerName } : {}) }, triggers },
      } as ScaledObject;
      const resolved = await resolveScalerInputs(so, { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' }, { ...sources, targets });
      return { resolved, targetReads: client.calls.filter((c) => c.method === 'GET').length };
    },
  },
  {
    name: 'ScaledJob (containers from the Job template)',
    resolve: async (triggers, envSourceContainerName) => {
      const sj = {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledJob',
        metadata: { namespace: 'app', name: 'sj' },
        spec: { jobTargetRef: { template: { spec: { containers } } }, triggers, ...(envSourceContainerName ? { envSourceContainerName } : {}) },
      } as ScaledJob;
      return { resolved: await resolveScaledJobInputs(sj, sources) };
    },
  },
];

const redis = (extra: Partial<TriggerSpec> = {}, metadata: Record<string, string> = {}): TriggerSpec => ({
  type: 'redis',
  metadata: { listName: 'q', ...metadata },
  ...extra,
});
const ta = (name: string) => dependencyKey('TriggerAuthentication', 'app', name);
const secret = (ns: string, name: string) => dependencyKey('Secret', ns, name);
const configMap = (ns: string, name: string) => dependencyKey('ConfigMap', ns, name);

interface Case {
  name: string;
  triggers: TriggerSpec[];
  envSourceContainerName?: string;
  params: Record<string, string>[];
  env: Record<string, string>;
  dependencies: string[];
  warnings: string[];
  /** Whether the containers had to be read: a GET of the scale target for ScaledObjects. */
  needsContainers: boolean;
}

const cases: Case[] = [
  { name: 'no authenticationRef and no env: nothing read', triggers: [redis()], params: [{}], env: {}, dependencies: [], warnings: [], needsContainers: false },
  {
    name: 'a TriggerAuthentication over a Secret',
    triggers: [redis({ authenticationRef: { name: 'by-secret' } })],
    params: [{ password: 's3cret-app' }],
    env: {},
    dependencies: [ta('by-secret'), secret('app', 'redis')],
    warnings: [],
    needsContainers: false,
  },
  {
    name: 'ConfigMap and Secret entries of one TriggerAuthentication',
    triggers: [redis({ authenticationRef: { name: 'by-config', kind: 'TriggerAuthentication' } })],
    params: [{ host: 'redis.app', password: 's3cret-app' }],
    env: {},
    dependencies: [ta('by-config'), configMap('app', 'settings'), secret('app', 'redis')],
    warnings: [],
    needsContainers: false,
  },
  {
    name: 'a ClusterTriggerAuthentication reads from the cluster auth namespace',
    triggers: [redis({ authenticationRef: { name: 'shared', kind: 'ClusterTriggerAuthentication' } })],
    params: [{ token: 's3cret-cluster' }],
    env: {},
    dependencies: [dependencyKey('ClusterTriggerAuthentication', undefined, 'shared'), secret('keda', 'shared')],
    warnings: [],
    needsContainers: false,
  },
  {
    name: 'a missing TriggerAuthentication: a warning, and a dependency so creating it takes effect',
    triggers: [redis({ authenticationRef: { name: 'later' } })],
    params: [{}],
    env: {},
    dependencies: [ta('later')],
    warnings: ['TriggerAuthentication "later" not found'],
    needsContainers: false,
  },
  {
    name: 'missing keys and Secrets are named with their keys, never a value',
    triggers: [redis({ authenticationRef: { name: 'missing-key' } })],
    params: [{}],
    env: {},
    dependencies: [ta('missing-key'), secret('app', 'redis'), secret('app', 'absent')],
    warnings: [
      'TriggerAuthentication "missing-key": key nope of Secret app/redis not found',
      'TriggerAuthentication "missing-key": key user of Secret app/absent not found',
    ],
    needsContainers: false,
  },
  {
    name: 'a TriggerAuthentication env entry reads the first container, through its secretKeyRef',
    triggers: [redis({ authenticationRef: { name: 'by-env' } })],
    params: [{ password: 's3cret-app' }],
    env: { REDIS_PASSWORD: 's3cret-app', PLAIN: 'x' },
    dependencies: [ta('by-env'), secret('app', 'redis')],
    warnings: [],
    needsContainers: true,
  },
  {
    name: 'an env entry naming its container, and a *FromEnv key on envSourceContainerName (envFrom a ConfigMap)',
    triggers: [redis({ authenticationRef: { name: 'by-sidecar-env' } }), redis({}, { listNameFromEnv: 'QUEUE' })],
    envSourceContainerName: 'sidecar',
    params: [{ queue: 'jobs' }, {}],
    env: { host: 'redis.app', QUEUE: 'jobs' },
    dependencies: [ta('by-sidecar-env'), configMap('app', 'settings')],
    warnings: [],
    needsContainers: true,
  },
  {
    name: 'an env entry whose variable the container lacks',
    triggers: [redis({ authenticationRef: { name: 'by-env' } })],
    envSourceContainerName: 'sidecar',
    params: [{}],
    env: { host: 'redis.app', QUEUE: 'jobs' },
    dependencies: [ta('by-env'), configMap('app', 'settings')],
    warnings: ['TriggerAuthentication "by-env": env REDIS_PASSWORD not found on the scale target'],
    needsContainers: true,
  },
];

describe.each(kinds)('one resolution of scaler inputs: $name', (kind) => {
  it.each(cases)('$name', async (c) => {
    const { resolved, targetReads } = await kind.resolve(c.triggers, c.envSourceContainerName);
    expect(resolved.inputs.namespace).toBe('app');
    expect(resolved.inputs.triggers).toEqual(c.triggers);
    expect(resolved.inputs.auth.map((a) => a.params)).toEqual(c.params);
    expect(resolved.inputs.env).toEqual(c.env);
    expect([...resolved.dependencies].sort()).toEqual([...c.dependencies].sort());
    expect(resolved.warnings).toEqual(c.warnings);
    for (const value of secretValues) expect(JSON.stringify(resolved.warnings)).not.toContain(value);
    if (targetReads !== undefined) expect(targetReads).toBe(c.needsContainers ? 1 : 0);
  });
});
