// Serving certificates shared by every TLS server of the operator (the external metrics API and the admission
// webhooks) and by every replica: one CA kept in one Secret, renewed before expiry, or user files (cert-manager).
export { assessServingBundle, generateServingBundle, reissueServingCertificate, servingDnsNames } from './bundle.js';
export type { BundleAssessment, RenewalPolicy, ServingBundle, ServingIdentity } from './bundle.js';
export { ManagedServingCertificate } from './managed.js';
export type { BundleStore, ManagedCertificateOptions, ServingCertificate } from './managed.js';
export { FileServingCertificate } from './files.js';
export type { CertificateFiles, FileCertificateOptions } from './files.js';
export { secretBundleStore } from './secret-store.js';
export { memoryBundleStore } from './memory-store.js';
export { certificateSecretName, servingCertificateFrom } from './source.js';
export type { CertificateSource, ServingCertificateDeps } from './source.js';
