import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadKubeConfig, resolveKubeConfigSource } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'swell-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, server: string, currentContext: string | null = name): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: ${name}, cluster: {server: "${server}"}}]`,
      `users: [{name: ${name}, user: {token: t-${name}}}]`,
      `contexts: [{name: ${name}, context: {cluster: ${name}, user: ${name}}}]`,
      currentContext ? `current-context: ${currentContext}` : '',
    ].join('\n'),
  );
  return path;
}

const flag = kubeconfig('flag', 'https://flag.example:6443');
const envFile = kubeconfig('env', 'https://env.example:6443');
const second = kubeconfig('second', 'https://second.example:6443');
const home = join(dir, 'home');
mkdirSync(join(home, '.kube'), { recursive: true });
writeFileSync(
  join(home, '.kube', 'config'),
  'apiVersion: v1\nclusters: [{name: h, cluster: {server: "https://home.example"}}]\nusers: [{name: h, user: {}}]\ncontexts: [{name: h, context: {cluster: h, user: h}}]\ncurrent-context: h\n',
);
const serviceAccount = join(dir, 'sa');
mkdirSync(serviceAccount);
writeFileSync(join(serviceAccount, 'token'), 'sa-token');
writeFileSync(join(serviceAccount, 'ca.crt'), '');
const noHome = join(dir, 'nohome');
const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };

describe('resolveKubeConfigSource', () => {
  it.each([
    ['--kubeconfig beats everything', { kubeconfig: flag, env: { KUBECONFIG: envFile, ...inCluster }, homeDir: home }, 'flag', [flag]],
    ['KUBECONFIG beats in-cluster and home', { env: { KUBECONFIG: envFile, ...inCluster }, homeDir: home }, 'KUBECONFIG', [envFile]],
    [
      'KUBECONFIG lists several files, skipping missing ones',
      { env: { KUBECONFIG: `${join(dir, 'missing')}:${envFile}:${second}` }, homeDir: home },
      'KUBECONFIG',
      [envFile, second],
    ],
    ['in-cluster beats home', { env: inCluster, homeDir: home }, 'in-cluster', undefined],
    ['home is the last resort', { env: {}, homeDir: home }, 'home', [join(home, '.kube', 'config')]],
  ])('%s', (_name, options, expected, paths) => {
    const source = resolveKubeConfigSource({ serviceAccountDir: serviceAccount, ...options });
    expect(source.kind === 'file' ? source.origin : source.kind).toBe(expected);
    if (source.kind === 'file') expect(source.paths).toEqual(paths);
  });

  it('builds the in-cluster server URL, bracketing IPv6 hosts', () => {
    const source = resolveKubeConfigSource({
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountDir: serviceAccount,
      homeDir: noHome,
    });
    expect(source).toEqual({
      kind: 'in-cluster',
      server: 'https://[fd00::1]:443',
      tokenFile: join(serviceAccount, 'token'),
      caFile: join(serviceAccount, 'ca.crt'),
    });
  });

  it.each([
    ['a missing --kubeconfig file', { kubeconfig: join(dir, 'nope.yaml') }, /nope\.yaml \(from --kubeconfig\) does not exist/],
    ['KUBECONFIG naming only missing files', { env: { KUBECONFIG: join(dir, 'gone.yaml') } }, /none of the files in KUBECONFIG exist/],
    ['nothing at all', { env: {} }, /no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG/],
    ['service host without a token', { env: inCluster, serviceAccountDir: join(dir, 'no-sa') }, /no Kubernetes configuration found/],
  ])('fails clearly for %s', (_name, options, message) => {
    expect(() => resolveKubeConfigSource({ homeDir: noHome, serviceAccountDir: serviceAccount, ...options })).toThrow(message);
  });
});

describe('loadKubeConfig', () => {
  it('merges KUBECONFIG files, keeping the first current-context', () => {
    const config = loadKubeConfig({ env: { KUBECONFIG: `${envFile}:${second}` }, homeDir: noHome });
    expect(config.getCurrentContext()).toBe('env');
    expect(config.getCurrentCluster()?.server).toBe('https://env.example:6443');
    expect(config.getContexts().map((c) => c.name)).toEqual(['env', 'second']);
  });

  it('takes current-context from a later file when earlier ones set none', () => {
    const bare = kubeconfig('bare', 'https://bare.example', null);
    const config = loadKubeConfig({ env: { KUBECONFIG: `${bare}:${second}` }, homeDir: noHome });
    expect(config.getCurrentContext()).toBe('second');
  });

  it('configures the service account token file in a pod', () => {
    const config = loadKubeConfig({ env: inCluster, serviceAccountDir: serviceAccount, homeDir: noHome });
    expect(config.getCurrentCluster()).toMatchObject({ server: 'https://10.0.0.1:443', caFile: join(serviceAccount, 'ca.crt') });
    expect(config.getCurrentUser()?.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: join(serviceAccount, 'token') } });
  });

  it.each([
    ['no current-context', 'apiVersion: v1\nclusters: []\ncontexts: []\nusers: []\n', /sets no current-context/],
    [
      'an undefined current-context',
      'apiVersion: v1\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: ghost\n',
      /current-context "ghost" is not defined/,
    ],
    [
      'a context naming an unknown cluster',
      'apiVersion: v1\nclusters: []\nusers: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: nowhere, user: u}}]\ncurrent-context: c\n',
      /context "c" refers to unknown cluster "nowhere"/,
    ],
    ['invalid YAML', 'clusters: [\n', /cannot read kubeconfig .*broken-\d\.yaml/],
  ])('rejects a kubeconfig with %s, naming the file', (_name, text, message) => {
    const path = join(dir, `broken-${text.length % 7}.yaml`);
    writeFileSync(path, text);
    expect(() => loadKubeConfig({ kubeconfig: path })).toThrow(message);
  });
});
