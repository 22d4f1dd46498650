import { AdmissionregistrationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createKedaValidator, type KedaValidatorOptions } from '../apis/keda/v1alpha1/validator.js';
import { burstPodWebhookName, burstPodWebhookPath } from '../burst/webhook.js';
import type { Logger } from '../log.js';
import type { KubeClient } from '../operator/kube-client.js';
import type { AdmissionHandler } from './admission.js';
import { loadWebhookCertificate, type CertificateSource } from './certificates.js';
import { createKedaAdmissionHandler, kedaWebhookPaths, kubeClusterReader } from './keda-validation.js';
import { registerWebhooks, unregisterWebhooks, type WebhookDefinition, type WebhookEndpoint } from './register.js';
import { WebhookServer, type WebhookRoute } from './server.js';

export * from './admission.js';
export { kedaWebhookPaths } from './keda-validation.js';
export type { CertificateSource, WebhookEndpoint };

export interface WebhooksDeps {
  kubeConfig: KubeConfig;
  client: KubeClient;
  log: Logger;
  /** Default 0.0.0.0; 127.0.0.1 for a local run. */
  host?: string;
  /** Default 9443; 0 picks a free port. */
  port?: number;
  /** Default: generate a CA and certificate for service `swell-webhooks` in `swell-system` plus 127.0.0.1. */
  certificate?: CertificateSource;
  /** How the apiserver reaches us; default `https://127.0.0.1:<port>` (local runs: no Service routing). */
  endpoint?: WebhookEndpoint;
  /** Name of the Validating/MutatingWebhookConfiguration; default `swell-admission`. */
  configurationName?: string;
  /** Validate the KEDA kinds (default true). */
  validateKeda?: boolean;
  /** Per-scaler trigger metadata check, as `swell validate` uses. */
  validateTrigger?: KedaValidatorOptions['validateTrigger'];
  /** The burst pod mutator (BurstPlacement.podMutator); without it no pod webhook is registered. */
  podMutator?: AdmissionHandler;
  /** Create the webhook configurations (default true); false when they are installed by a chart. */
  register?: boolean;
  /** Delete the configurations on stop (default true when registered here). */
  unregisterOnStop?: boolean;
}

export interface RunningWebhooks {
  readonly port: number;
  stop(): Promise<void>;
}

const kedaResources = [
  ['scaledobjects', kedaWebhookPaths.scaledObject, 'vscaledobject.swell.dev'],
  ['scaledjobs', kedaWebhookPaths.scaledJob, 'vscaledjob.swell.dev'],
  ['triggerauthentications', kedaWebhookPaths.triggerAuthentication, 'vstriggerauthentication.swell.dev'],
  ['clustertriggerauthentications', kedaWebhookPaths.clusterTriggerAuthentication, 'vsclustertriggerauthentication.swell.dev'],
] as const;

/** Namespaces whose pods swell never touches. */
const systemNamespaces = ['kube-system', 'kube-node-lease', 'kube-public'];

/**
 * The admission webhooks: one HTTPS server with the KEDA validating webhooks and the burst pod mutator, and
 * (by default) their configurations registered with the apiserver, all failing open.
 */
export async function startWebhooks(deps: WebhooksDeps): Promise<RunningWebhooks> {
  const log = deps.log.child({ component: 'webhooks' });
  const certificate = await loadWebhookCertificate(deps.certificate ?? { generate: { serviceName: 'swell-webhooks', namespace: 'swell-system' } });
  const routes: WebhookRoute[] = [];
  const validating: WebhookDefinition[] = [];
  const mutating: WebhookDefinition[] = [];
  if (deps.validateKeda ?? true) {
    const handler = createKedaAdmissionHandler(createKedaValidator(deps.validateTrigger ? { validateTrigger: deps.validateTrigger } : {}), kubeClusterReader(deps.client));
    for (const [resource, path, name] of kedaResources) {
      routes.push({ path, kind: 'validating', handler });
      validating.push({ name, path, rules: [{ apiGroups: ['keda.sh'], apiVersions: ['v1alpha1'], resources: [resource], operations: ['CREATE', 'UPDATE'] }] });
    }
  }
  if (deps.podMutator) {
    routes.push({ path: burstPodWebhookPath, kind: 'mutating', handler: deps.podMutator });
    mutating.push({
      name: burstPodWebhookName,
      path: burstPodWebhookPath,
      rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }],
      // Pods that already have a tier (swell's own bridge pods) are not sent.
      objectSelector: { matchExpressions: [{ key: 'swell.dev/tier', operator: 'DoesNotExist' }] },
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: systemNamespaces }] },
    });
  }
  const server = await WebhookServer.start({ routes, servingCertificate: certificate, log, host: deps.host ?? '0.0.0.0', port: deps.port ?? 9443 });
  const name = deps.configurationName ?? 'swell-admission';
  const api = deps.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const register = deps.register ?? true;
  if (register) {
    try {
      await registerWebhooks(api, { name, endpoint: deps.endpoint ?? { url: `https://127.0.0.1:${server.port}` }, caPem: certificate.caPem, validating, mutating }, log);
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  return {
    port: server.port,
    async stop() {
      if (register && (deps.unregisterOnStop ?? true)) await unregisterWebhooks(api, name, log).catch((error: unknown) => log.warn({ err: error }, 'could not remove the webhook configurations'));
      await server.close();
    },
  };
}
