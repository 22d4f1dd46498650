import type { AdmissionregistrationV1Api, V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { isNotFound } from '../kube/errors.js';
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
export async function registerWebhooks(api: AdmissionregistrationV1Api, spec: WebhookConfigurationSpec, log: Logger): Promise<void> {
  const validating = validatingConfiguration(spec);
  const mutating = mutatingConfiguration(spec);
  if (spec.validating.length > 0) {
    await upsert(
      () => api.readValidatingWebhookConfiguration({ name: spec.name }),
      (resourceVersion) => api.replaceValidatingWebhookConfiguration({ name: spec.name, body: { ...validating, metadata: { ...validating.metadata, resourceVersion } } }),
      () => api.createValidatingWebhookConfiguration({ body: validating }),
    );
  } else await ignoreMissing(() => api.deleteValidatingWebhookConfiguration({ name: spec.name }));
  if (spec.mutating.length > 0) {
    await upsert(
      () => api.readMutatingWebhookConfiguration({ name: spec.name }),
      (resourceVersion) => api.replaceMutatingWebhookConfiguration({ name: spec.name, body: { ...mutating, metadata: { ...mutating.metadata, resourceVersion } } }),
      () => api.createMutatingWebhookConfiguration({ body: mutating }),
    );
  } else await ignoreMissing(() => api.deleteMutatingWebhookConfiguration({ name: spec.name }));
  log.info({ name: spec.name, validating: spec.validating.map((w) => w.name), mutating: spec.mutating.map((w) => w.name) }, 'webhooks registered');
}

/**
 * Deletes both configurations; with `onlyIfUrl`, each only while its webhooks still call that server, so a
 * replica that stops never removes what another replica registered since.
 */
export async function unregisterWebhooks(api: AdmissionregistrationV1Api, name: string, log: Logger, onlyIfUrl?: string): Promise<void> {
  const ours = (config: { webhooks?: { clientConfig: { url?: string } }[]; metadata?: { uid?: string } } | undefined): boolean =>
    onlyIfUrl === undefined || (config?.webhooks ?? []).some((w) => w.clientConfig.url?.startsWith(`${onlyIfUrl}/`) ?? false);
  const validating = await readOrMissing(() => api.readValidatingWebhookConfiguration({ name }));
  if (validating && ours(validating)) await ignoreMissing(() => api.deleteValidatingWebhookConfiguration({ name, body: { preconditions: { uid: validating.metadata?.uid } } }));
  const mutating = await readOrMissing(() => api.readMutatingWebhookConfiguration({ name }));
  if (mutating && ours(mutating)) await ignoreMissing(() => api.deleteMutatingWebhookConfiguration({ name, body: { preconditions: { uid: mutating.metadata?.uid } } }));
  log.info({ name, removed: [validating && ours(validating) ? 'validating' : '', mutating && ours(mutating) ? 'mutating' : ''].filter(Boolean) }, 'webhooks unregistered');
}

/**
 * The webhook configurations of a local run as the registration keeper sees them: the loopback port their
 * webhooks call (when they call several, one that is not this replica's, so a dead one is noticed), or foreign.
 */
export function webhookRegistration(api: AdmissionregistrationV1Api, spec: WebhookConfigurationSpec, ownPort: number, log: Logger): LocalRegistration {
  return {
    description: `webhook configurations ${spec.name}`,
    async read(): Promise<ObservedRegistration | undefined> {
      const validating = spec.validating.length > 0 ? await readOrMissing(() => api.readValidatingWebhookConfiguration({ name: spec.name })) : undefined;
      const mutating = spec.mutating.length > 0 ? await readOrMissing(() => api.readMutatingWebhookConfiguration({ name: spec.name })) : undefined;
      if (!validating && !mutating) return undefined;
      const urls = [...(validating?.webhooks ?? []), ...(mutating?.webhooks ?? [])].map((w) => w.clientConfig.url ?? '');
      return { target: targetOf(urls, ownPort) };
    },
    claim: () => registerWebhooks(api, spec, log),
    release: () => unregisterWebhooks(api, spec.name, log, spec.url.replace(/\/$/, '')),
  };
}

function targetOf(urls: readonly string[], ownPort: number): RegisteredTarget {
  const ports = urls.map((url) => /^https:\/\/127\.0\.0\.1:(\d+)\//.exec(url)?.[1]).map((p) => (p === undefined ? undefined : Number(p)));
  if (ports.length === 0 || ports.includes(undefined)) return { kind: 'foreign', description: urls.find((u) => !u.startsWith('https://127.0.0.1:')) ?? 'a configuration without webhooks' };
  const port = ports.find((p) => p !== ownPort) ?? ownPort;
  return { kind: 'local', port };
}

async function readOrMissing<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function upsert(read: () => Promise<{ metadata?: { resourceVersion?: string } }>, replace: (rv: string) => Promise<unknown>, create: () => Promise<unknown>): Promise<void> {
  let resourceVersion: string | undefined;
  try {
    resourceVersion = (await read()).metadata?.resourceVersion;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  await (resourceVersion === undefined ? create() : replace(resourceVersion));
}

async function ignoreMissing(remove: () => Promise<unknown>): Promise<void> {
  try {
    await remove();
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
