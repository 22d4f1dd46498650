// The external.metrics.k8s.io server: what the operator wires in, and the pieces for tests and benchmarks.
export type { ExternalMetricRequest, ExternalMetricResult, ExternalMetricsSource } from './source.js';
export { startMetricsApi } from './metrics-api.js';
export type { CertificateSource, MetricsApiOptions, RunningMetricsApi } from './metrics-api.js';
export { MetricsApiServer } from './server.js';
export type { MetricsApiServerOptions, ServingKeyPair } from './server.js';
export { createMetricsHandler } from './handler.js';
export type { MetricsHandler, MetricsHandlerOptions, MetricsRequest, MetricsResponse } from './handler.js';
export { RequestAuthenticator } from './authenticator.js';
export type { TokenReviewer } from './authenticator.js';
export { CachingAuthorizer } from './authorizer.js';
export type { AccessDecision, AccessReviewer, ResourceAttributes } from './authorizer.js';
export { FrontProxyConfigWatcher } from './front-proxy-config.js';
export { frontProxyTrust, parseRequestHeaderConfig } from './front-proxy.js';
export type { FrontProxyTrust, RequestHeaderConfig } from './front-proxy.js';
export { apiServiceRegistration, unregisterApiService } from './register.js';
export type { LocalRegistration } from './register.js';
export type { UserInfo } from './user.js';
