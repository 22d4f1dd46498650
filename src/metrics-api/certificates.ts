// The metrics API serves the certificate the operator shares with the webhooks; the machinery lives in
// src/certificates. These names stay importable from here for the rest of this folder.
export { FileServingCertificate, ManagedServingCertificate, assessServingBundle, generateServingBundle, reissueServingCertificate, servingDnsNames } from '../certificates/index.js';
export type { BundleStore, CertificateFiles, RenewalPolicy, ServingBundle, ServingIdentity } from '../certificates/index.js';
