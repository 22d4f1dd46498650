import { resourcePath, type KubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import type { JsonPatchOperation } from '../kube/patch.js';
import type { Logger } from '../log.js';

/** The part of a webhook entry this file reads: the same for validating and mutating webhooks. */
export interface WebhookEntry {
  readonly name: string;
  readonly clientConfig?: { readonly caBundle?: string };
}

/**
 * A JSON Patch that sets `caBundle` (base64 PEM) on every entry that does not carry it yet, and nothing else.
 * Each write is preceded by a test of the entry's name, so a configuration reordered since it was read (a Helm
 * upgrade) is refused whole rather than patched at the wrong index. Empty when every entry is up to date.
 */
export function caBundlePatch(webhooks: readonly WebhookEntry[], caBundle: string): JsonPatchOperation[] {
  return webhooks.flatMap((webhook, index) =>
    webhook.clientConfig?.caBundle === caBundle
      ? []
      : [
          { op: 'test' as const, path: `/webhooks/${index}/name`, value: webhook.name },
          { op: 'add' as const, path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle },
        ],
  );
}

export type ConfigurationKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';

/** Path of the validating or mutating webhook configuration `name`. */
export function webhookConfigurationPath(kind: ConfigurationKind, name: string): string {
  const resource = kind === 'ValidatingWebhookConfiguration' ? 'validatingwebhookconfigurations' : 'mutatingwebhookconfigurations';
  return resourcePath({ group: 'admissionregistration.k8s.io', version: 'v1', resource, name });
}

/**
 * Publishes the serving CA in the webhook configurations named `name` (either may be absent) by patching each
 * webhook's clientConfig.caBundle: the configurations belong to whoever created them (the Helm chart), so
 * nothing else of theirs is changed, and Helm's next upgrade, which never renders a caBundle, keeps it.
 * Idempotent: reads both, writes only what differs. Needs get and patch on the two named objects.
 */
export function webhookCaBundlePublisher(client: KubeClient, name: string, log: Logger): (caPem: string) => Promise<void> {
  const configurations = (['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'] as const).map((kind) => {
    const path = webhookConfigurationPath(kind, name);
    return {
      kind,
      read: () => client.request<{ webhooks?: WebhookEntry[] }>('GET', path),
      patch: (body: JsonPatchOperation[]) => client.request('PATCH', path, { body, contentType: 'application/json-patch+json' }),
    };
  });
  return async (caPem) => {
    const caBundle = Buffer.from(caPem).toString('base64');
    for (const configuration of configurations) {
      let current: { webhooks?: WebhookEntry[] };
      try {
        current = await configuration.read();
      } catch (error) {
        // The chart leaves out a configuration whose webhooks are turned off.
        if (isNotFound(error)) continue;
        throw error;
      }
      const ops = caBundlePatch(current.webhooks ?? [], caBundle);
      if (ops.length === 0) continue;
      await configuration.patch(ops);
      log.info({ kind: configuration.kind, name, webhooks: ops.length / 2 }, 'published the serving CA as the webhooks caBundle');
    }
  };
}
