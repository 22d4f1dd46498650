import type { V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { readOrUndefined, type KubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import { webhookConfigurationPath, type ConfigurationKind } from './ca-bundle.js';
import type { Logger } from '../log.js';
import type { LocalRegistration, ObservedRegistration, RegisteredTarget } from '../kube/local-registration.js';

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: ('CREATE' | 'UPDATE' | 'DELETE')[];
  scope?: 'Namespaced' | 'Cluster' | '*';
}

export interface WebhookDefinition {
  /** Fully qualified, e.g. `vscaledobject.swell.dev`. */
  name: string;
  path: string;
  rules: WebhookRule[];
  objectSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  namespaceSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
}

/**
 * Configurations for a local run (the sandbox, the demo, tests): the apiserver on the same machine calls the
 * server at a loopback URL, as no Service can route to a process outside the cluster. In a cluster the Helm
 * chart owns the configurations instead (see ca-bundle.ts).
 */
export interface WebhookConfigurationSpec {
  /** Name of both configuration objects. */
  name: string;
  /** Where the server listens, e.g. https://127.0.0.1:9443; each webhook's path is appended. */
  url: string;
  caPem: string;
  validating: WebhookDefinition[];
  mutating: WebhookDefinition[];
  /** Short, so a slow webhook costs users little; default 5 s. */
  timeoutSeconds?: number;
}

const managedBy = { 'app.kubernetes.io/managed-by': 'swell' };

function clientConfig(url: string, path: string, caPem: string) {
  return { url: `${url.replace(/\/$/, '')}${path}`, caBundle: Buffer.from(caPem).toString('base64') };
}

function common(spec: WebhookConfigurationSpec, def: WebhookDefinition) {
  return {
    name: def.name,
    clientConfig: clientConfig(spec.url, def.path, spec.caPem),
    rules: def.rules.map((r) => ({ ...r, scope: r.scope ?? '*' })),
    // Fail open: with swell down, objects are admitted as they are and the controllers repair later.
    failurePolicy: 'Ignore',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: spec.timeoutSeconds ?? 5,
    matchPolicy: 'Equivalent',
    ...(def.objectSelector ? { objectSelector: def.objectSelector } : {}),
    ...(def.namespaceSelector ? { namespaceSelector: def.namespaceSelector } : {}),
  };
}

export function validatingConfiguration(spec: WebhookConfigurationSpec): V1ValidatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: spec.name, labels: managedBy },
    webhooks: spec.validating.map((def) => common(spec, def)),
  };
}

export function mutatingConfiguration(spec: WebhookConfigurationSpec): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: spec.name, labels: managedBy },
    // Pods mutated by a later webhook are not sent again; swell's changes do not depend on what others add.
    webhooks: spec.mutating.map((def) => ({ ...common(spec, def), reinvocationPolicy: 'Never' })),
  };
}

/** Creates or replaces both configurations (an empty list of webhooks removes that configuration). */
export async function registerWebhooks(client: KubeClient, spec: WebhookConfigurationSpec, log: Logger): Promise<void> {
  const validating = validatingConfiguration(spec);
  const mutating = mutatingConfiguration(spec);
  const validatingPath = webhookConfigurationPath('ValidatingWebhookConfiguration', spec.name);
  const mutatingPath = webhookConfigurationPath('MutatingWebhookConfiguration', spec.name);
  if (spec.validating.length > 0) await upsert(client, validatingPath, validating);
  else await ignoreMissing(() => client.request('DELETE', validatingPath));
  if (spec.mutating.length > 0) await upsert(client, mutatingPath, mutating);
  else await ignoreMissing(() => client.request('DELETE', mutatingPath));
  log.info({ name: spec.name, validating: spec.validating.map((w) => w.name), mutating: spec.mutating.map((w) => w.name) }, 'webhooks registered');
}

/**
 * Deletes both configurations; with `onlyIfUrl`, each only while its webhooks still call that server, so a
 * replica that stops never removes what another replica registered since.
 */
export async function unregisterWebhooks(client: KubeClient, name: string, log: Logger, onlyIfUrl?: string): Promise<void> {
  const ours = (config: { webhooks?: { clientConfig: { url?: string } }[]; metadata?: { uid?: string } } | undefined): boolean =>
    onlyIfUrl === undefined || (config?.webhooks ?? []).some((w) => w.clientConfig.url?.startsWith(`${onlyIfUrl}/`) ?? false);
  const removeIfOurs = async (kind: ConfigurationKind): Promise<boolean> => {
    const path = webhookConfigurationPath(kind, name);
    const current = await readOrUndefined<V1ValidatingWebhookConfiguration | V1MutatingWebhookConfiguration>(client, path);
    if (!current || !ours(current)) return false;
    await ignoreMissing(() => client.request('DELETE', path, { body: { preconditions: { uid: current.metadata?.uid } } }));
    return true;
  };
  const validating = await removeIfOurs('ValidatingWebhookConfiguration');
  const mutating = await removeIfOurs('MutatingWebhookConfiguration');
  log.info({ name, removed: [validating ? 'validating' : '', mutating ? 'mutating' : ''].filter(Boolean) }, 'webhooks unregistered');
}

/**
 * The webhook configurations of a local run as the registration keeper sees them: the loopback port their
 * webhooks call (when they call several, one that is not this replica's, so a dead one is noticed), or foreign.
 */
export function webhookRegistration(client: KubeClient, spec: WebhookConfigurationSpec, ownPort: number, log: Logger): LocalRegistration {
  const read = (kind: ConfigurationKind) =>
    readOrUndefined<V1ValidatingWebhookConfiguration | V1MutatingWebhookConfiguration>(client, webhookConfigurationPath(kind, spec.name));
  return {
    description: `webhook configurations ${spec.name}`,
    async read(): Promise<ObservedRegistration | undefined> {
      const validating = spec.validating.length > 0 ? await read('ValidatingWebhookConfiguration') : undefined;
      const mutating = spec.mutating.length > 0 ? await read('MutatingWebhookConfiguration') : undefined;
      if (!validating && !mutating) return undefined;
      const urls = [...(validating?.webhooks ?? []), ...(mutating?.webhooks ?? [])].map((w) => w.clientConfig.url ?? '');
      return { target: targetOf(urls, ownPort) };
    },
    claim: () => registerWebhooks(client, spec, log),
    release: () => unregisterWebhooks(client, spec.name, log, spec.url.replace(/\/$/, '')),
  };
}

function targetOf(urls: readonly string[], ownPort: number): RegisteredTarget {
  const ports = urls.map((url) => /^https:\/\/127\.0\.0\.1:(\d+)\//.exec(url)?.[1]).map((p) => (p === undefined ? undefined : Number(p)));
  if (ports.length === 0 || ports.includes(undefined))
    return { kind: 'foreign', description: urls.find((u) => !u.startsWith('https://127.0.0.1:')) ?? 'a configuration without webhooks' };
  const port = ports.find((p) => p !== ownPort) ?? ownPort;
  return { kind: 'local', port };
}

/** Replaces the configuration at `path` if it exists (with its resourceVersion), creates it otherwise. */
async function upsert(client: KubeClient, path: string, desired: { metadata?: object }): Promise<void> {
  const resourceVersion = (await readOrUndefined<{ metadata?: { resourceVersion?: string } }>(client, path))?.metadata?.resourceVersion;
  if (resourceVersion === undefined) await client.request('POST', path.slice(0, path.lastIndexOf('/')), { body: desired });
  else await client.request('PUT', path, { body: { ...desired, metadata: { ...desired.metadata, resourceVersion } } });
}

async function ignoreMissing(remove: () => Promise<unknown>): Promise<void> {
  try {
    await remove();
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
