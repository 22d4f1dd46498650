import { offlineTriggerCheck } from '../../scalers/registry.js';
import { createKedaValidator, type KedaValidatorOptions } from '../apis/keda/v1alpha1/validator.js';
import { burstPodWebhookName, burstPodWebhookPath } from '../burst/webhook.js';
import {
  ManagedServingCertificate,
  memoryBundleStore,
  servingCertificateFrom,
  type CertificateSource,
  type ServingBundle,
  type ServingCertificate,
} from '../certificates/index.js';
import type { Logger } from '../log.js';
import type { KubeClient } from '../kube/client.js';
import type { AdmissionHandler } from './admission.js';
import { webhookCaBundlePublisher } from './ca-bundle.js';
import { createKedaAdmissionHandler, kedaWebhookPaths, kubeClusterReader, type KedaClusterReader } from './keda-validation.js';
import { createSystemClock, type Clock } from '../controller/clock.js';
import { RegistrationKeeper } from '../kube/local-registration.js';
import { webhookRegistration, type WebhookDefinition } from './register.js';
import { WebhookServer, type WebhookRoute } from './server.js';

export * from './admission.js';
export { cachedClusterReader, kedaWebhookPaths } from './keda-validation.js';

/**
 * Who owns the Validating/MutatingWebhookConfiguration:
 * - local: swell registers them with the loopback URL of its server and removes them on stop (local runs, tests);
 * - chart: the Helm chart created them; swell only patches each webhook's caBundle with the CA it serves by;
 * - injected: the chart created them and cert-manager's CA injector writes the caBundle; swell touches nothing.
 */
export type WebhookConfigurations = 'local' | 'chart' | 'injected';

export interface WebhooksDeps {
  client: KubeClient;
  log: Logger;
  /** Default 0.0.0.0; 127.0.0.1 for a local run. */
  host?: string;
  /** Default 9443; 0 picks a free port. */
  port?: number;
  /**
   * Default: a CA and certificate generated for this process alone. The operator passes the source it shares
   * with the metrics API, so that every server of every replica serves the one Secret-held CA.
   */
  certificate?: CertificateSource;
  /** Default local. */
  configurations?: WebhookConfigurations;
  /** Name of the Validating/MutatingWebhookConfiguration; default `swell-admission`. */
  configurationName?: string;
  /** Validate the KEDA kinds (default true). */
  validateKeda?: boolean;
  /** Where the ScaledObject checks read the cluster; the operator passes its informer caches. Default: the apiserver. */
  clusterReader?: KedaClusterReader;
  /** Per-scaler trigger metadata check; default the one `swell validate` runs, so both accept the same objects. */
  validateTrigger?: KedaValidatorOptions['validateTrigger'];
  /** The burst pod mutator (BurstPlacement.podMutator); without it no pod webhook is registered. */
  podMutator?: AdmissionHandler;
  /** Local configurations: delete them on stop (default true). */
  unregisterOnStop?: boolean;
  /** Default the system clock. */
  clock?: Clock;
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

/** Names the process-local certificate covers when no source is given. */
const processLocalIdentity = { serviceName: 'swell-webhooks', namespace: 'swell-system' };

/**
 * The admission webhooks: one HTTPS server with the KEDA validating webhooks and the burst pod mutator, its
 * certificate reloaded when renewed, and the configurations registered or their caBundle kept current, as
 * `configurations` says; all failing open.
 */
export async function startWebhooks(deps: WebhooksDeps): Promise<RunningWebhooks> {
  const log = deps.log.child({ component: 'webhooks' });
  const clock = deps.clock ?? createSystemClock();
  const { routes, validating, mutating } = webhookRoutes(deps);
  const name = deps.configurationName ?? 'swell-admission';
  const configurations = deps.configurations ?? 'local';
  let server: WebhookServer | undefined;
  let keeper: RegistrationKeeper | undefined;
  const publishCa = configurations === 'injected' ? undefined : webhookCaBundlePublisher(deps.client, name, log);
  const certificate = webhookCertificate(deps, clock, {
    apply: (bundle) => server?.setServingCertificate(bundle),
    ...(publishCa ? { publish: (bundle: ServingBundle) => publishCa(bundle.caPem) } : {}),
    log,
  });
  try {
    const bundle = await certificate.start();
    server = await WebhookServer.start({ routes, servingCertificate: bundle, log, clock, host: deps.host ?? '0.0.0.0', port: deps.port ?? 9443 });
    if (configurations === 'local') {
      const registration = webhookRegistration(
        deps.client,
        { name, url: `https://127.0.0.1:${server.port}`, caPem: bundle.caPem, validating, mutating },
        server.port,
        log,
      );
      keeper = new RegistrationKeeper({ registration, ownPort: server.port, clock, log });
      await keeper.start();
    }
  } catch (error) {
    certificate.stop();
    await server?.close(0);
    throw error;
  }
  const running = server;
  return {
    port: running.port,
    async stop() {
      certificate.stop();
      if (deps.unregisterOnStop ?? true)
        await keeper?.stop().catch((error: unknown) => log.warn({ err: error }, 'could not remove the webhook configurations'));
      else await keeper?.pause();
      await running.close();
    },
  };
}

function webhookCertificate(
  deps: WebhooksDeps,
  clock: Clock,
  hooks: { apply: (bundle: ServingBundle) => void; publish?: (bundle: ServingBundle) => Promise<void>; log: Logger },
): ServingCertificate {
  if (deps.certificate) return servingCertificateFrom(deps.certificate, { client: deps.client, clock, ...hooks });
  const { publish, ...rest } = hooks;
  return new ManagedServingCertificate({ store: memoryBundleStore(), identity: processLocalIdentity, clock, ...rest, ...(publish ? { sync: publish } : {}) });
}

/** The KEDA kinds' admission: the same validator as `swell validate` (schema, KEDA's rules, each scaler's metadata), then the namespace checks. */
export function kedaAdmissionHandler(deps: Pick<WebhooksDeps, 'client' | 'validateTrigger' | 'clusterReader'>): AdmissionHandler {
  return createKedaAdmissionHandler(
    createKedaValidator({ validateTrigger: deps.validateTrigger ?? offlineTriggerCheck }),
    deps.clusterReader ?? kubeClusterReader(deps.client),
  );
}

function webhookRoutes(deps: WebhooksDeps): { routes: WebhookRoute[]; validating: WebhookDefinition[]; mutating: WebhookDefinition[] } {
  const routes: WebhookRoute[] = [];
  const validating: WebhookDefinition[] = [];
  const mutating: WebhookDefinition[] = [];
  if (deps.validateKeda ?? true) {
    const handler = kedaAdmissionHandler(deps);
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
  return { routes, validating, mutating };
}
