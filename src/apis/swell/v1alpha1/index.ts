// The swell.dev/v1alpha1 API: BurstPolicy schema, types, CRD and validation.
export * from './burstpolicy.js';
export * from './crd.js';
export * from './validation.js';
