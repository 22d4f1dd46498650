// A small certificate toolkit: certificate authorities, TLS server and client certificates, signing key pairs.
export { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from './certificates.js';
export type { AuthorityOptions, CertificateOptions, CertifiedKey, ClientCertificateOptions, ServerCertificateOptions } from './certificates.js';
export { defaultKeyAlgorithm, generateKeyPair, publicKeyPemOf } from './keys.js';
export type { KeyAlgorithm, PemKeyPair } from './keys.js';
