import type { KubeWatchClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import { RequestAuthenticator } from './authenticator.js';
import { CachingAuthorizer } from './authorizer.js';
import { servingCertificateFrom, type CertificateSource, type ServingBundle } from '../certificates/index.js';
import { FrontProxyConfigWatcher } from './front-proxy-config.js';
import { createMetricsHandler } from './handler.js';
import { apiServiceCaBundlePublisher, authenticationConfigReader, subjectAccessReviewer, tokenReviewer } from './kube-access.js';
import { createSystemClock, type Clock } from '../controller/clock.js';
import { RegistrationKeeper } from '../kube/local-registration.js';
import { apiServiceRegistration, ensureNamespace } from './register.js';
import { MetricsApiServer } from './server.js';
import type { ExternalMetricsSource } from './source.js';
import { startUpstreamRouting, type UpstreamOptions } from './upstream-routing.js';

export type { CertificateSource } from '../certificates/index.js';

export interface MetricsApiOptions {
  readonly client: KubeWatchClient;
  readonly source: ExternalMetricsSource;
  readonly log: Logger;
  readonly certificates: CertificateSource;
  /** Default 0.0.0.0:6443. */
  readonly host?: string;
  readonly port?: number;
  /** Patch the APIService caBundle with the serving CA; default true (turn off when cert-manager injects it). */
  readonly publishCaBundle?: boolean;
  /** Local runs only: create the ExternalName Service and the APIService, and delete the APIService on stop. */
  readonly registerLocally?: { namespace: string; serviceName: string };
  /** Also accept bearer tokens (TokenReview) from clients that call the server directly; default false. */
  readonly acceptBearerTokens?: boolean;
  /** Another external metrics server that keeps serving every metric no ScaledObject of swell's names. */
  readonly upstream?: UpstreamOptions;
  readonly clock?: Clock;
}

export interface RunningMetricsApi {
  readonly port: number;
  /** The CA the serving certificate chains to (empty when files without a CA file are served). */
  caPem(): string;
  /** Deletes a local registration, stops the background loops, and closes the server; idempotent. */
  stop(): Promise<void>;
}

/** Wires the external metrics API together: authentication config, authorization, certificates, server. */
export async function startMetricsApi(options: MetricsApiOptions): Promise<RunningMetricsApi> {
  const clock = options.clock ?? createSystemClock();
  const log = options.log;
  let server: MetricsApiServer | undefined;
  const frontProxy = new FrontProxyConfigWatcher({
    read: authenticationConfigReader(options.client),
    log,
    clock,
    onTrust: (trust) => server?.setClientCa(trust.config.clientCaPem),
  });
  await frontProxy.start();
  const upstream = options.upstream ? await startUpstreamRouting(options.client, options.upstream, log) : undefined;
  const handler = createMetricsHandler({
    ...(upstream ? { upstream: upstream.routing } : {}),
    source: options.source,
    authenticator: new RequestAuthenticator({
      trust: frontProxy.trust,
      clock,
      ...(options.acceptBearerTokens ? { tokenReviewer: tokenReviewer(options.client) } : {}),
    }),
    authorizer: new CachingAuthorizer({ reviewer: subjectAccessReviewer(options.client), clock }),
    log,
    notReadyReason: () => frontProxy.notReadyReason(),
    clock,
  });

  let current: ServingBundle | undefined;
  const publisher = options.publishCaBundle === false ? undefined : apiServiceCaBundlePublisher(options.client, log);
  const publish = async (bundle: ServingBundle) => {
    if (publisher && bundle.caPem) await publisher(bundle.caPem);
  };
  const apply = (bundle: ServingBundle) => {
    current = bundle;
    server?.setServingCertificate(bundle);
  };
  const certificates = servingCertificateFrom(options.certificates, { client: options.client, apply, publish, log, clock });

  const registration = options.registerLocally;
  let keeper: RegistrationKeeper | undefined;
  try {
    if (registration) await ensureNamespace(options.client, registration.namespace);
    const bundle = await certificates.start();
    const clientCaPem = frontProxy.trust()?.config.clientCaPem;
    server = await MetricsApiServer.start({
      handler,
      servingCertificate: bundle,
      ...(clientCaPem ? { clientCaPem } : {}),
      log,
      ...(options.host ? { host: options.host } : {}),
      ...(options.port === undefined ? {} : { port: options.port }),
    });
    if (registration) {
      const local = apiServiceRegistration(options.client, { ...registration, port: server.port, caPem: bundle.caPem }, log);
      keeper = new RegistrationKeeper({ registration: local, ownPort: server.port, clock, log });
      await keeper.start();
    }
  } catch (error) {
    certificates.stop();
    frontProxy.stop();
    await upstream?.stop();
    await server?.close(0);
    throw error;
  }
  const running = server;
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    await keeper?.stop().catch((error: unknown) => log.warn({ err: error }, 'could not delete the APIService'));
    certificates.stop();
    frontProxy.stop();
    await running.close();
    await upstream?.stop();
  };
  return {
    port: running.port,
    caPem: () => current?.caPem ?? '',
    stop: () => (stopping ??= stop()),
  };
}
