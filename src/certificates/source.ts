import type { Clock } from '../controller/clock.js';
import type { KubeClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { RenewalPolicy, ServingBundle, ServingIdentity } from './bundle.js';
import { FileServingCertificate, type CertificateFiles } from './files.js';
import { ManagedServingCertificate, type ServingCertificate } from './managed.js';
import { secretBundleStore } from './secret-store.js';

export type CertificateSource =
  /** Generate a CA and serving certificate, keep them in a Secret in identity.namespace, renew before expiry. */
  | { kind: 'generated'; identity: ServingIdentity; secretName?: string; policy?: RenewalPolicy }
  /** Serve user-provided files (cert-manager), reloading them when they change. */
  | { kind: 'files'; files: CertificateFiles };

export interface ServingCertificateDeps {
  readonly client: KubeClient;
  /** Reload the server with a bundle that differs from the one it serves. */
  readonly apply: (bundle: ServingBundle) => Promise<void> | void;
  /**
   * Publish the bundle's CA where clients read it (an APIService or webhook caBundle); idempotent. Generated
   * bundles are published after every check, files whenever they change; failures are logged, never fatal.
   */
  readonly publish?: (bundle: ServingBundle) => Promise<void>;
  readonly log: Logger;
  readonly clock: Clock;
}

/** The Secret a generated bundle is kept in when the source names none. */
export function certificateSecretName(source: Extract<CertificateSource, { kind: 'generated' }>): string {
  return source.secretName ?? `${source.identity.serviceName}-certs`;
}

/** The certificate a server serves, from either source; call start() before serving. */
export function servingCertificateFrom(source: CertificateSource, deps: ServingCertificateDeps): ServingCertificate {
  const { log, publish } = deps;
  if (source.kind === 'generated') {
    return new ManagedServingCertificate({
      store: secretBundleStore(deps.client, source.identity.namespace, certificateSecretName(source)),
      identity: source.identity,
      ...(source.policy ? { policy: source.policy } : {}),
      clock: deps.clock,
      apply: deps.apply,
      ...(publish ? { sync: publish } : {}),
      log,
    });
  }
  return new FileServingCertificate({
    files: source.files,
    apply: async (bundle) => {
      await deps.apply(bundle);
      if (publish && bundle.caPem) await publish(bundle).catch((error: unknown) => log.error({ err: error }, 'could not publish the serving CA'));
    },
    log,
    clock: deps.clock,
  });
}
